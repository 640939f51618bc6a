"""SQL for the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.models.audit import AuditEntry

GENESIS = "0" * 64


async def lock_chain(session: AsyncSession) -> None:
    """Serialise appends until commit, so the chain order is the commit order."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('datamesh.audit_chain'))"))


async def last_hash(session: AsyncSession) -> str:
    row = await session.scalar(select(AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))
    return row or GENESIS


async def add(session: AsyncSession, entry: AuditEntry) -> None:
    session.add(entry)
    await session.flush()


async def stream_in_order(
    session: AsyncSession, since_seq: int | None = None, batch: int = 1000
) -> AsyncIterator[AuditEntry]:
    """Every entry in chain order, fetched in batches (no full load in memory)."""
    last = since_seq or 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq > last)
                .order_by(AuditEntry.seq)
                .limit(batch)
                .execution_options(populate_existing=True)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq
        for row in rows:
            session.expunge(row)


async def hash_before(session: AsyncSession, seq: int) -> str:
    row = await session.scalar(
        select(AuditEntry.hash).where(AuditEntry.seq < seq).order_by(AuditEntry.seq.desc()).limit(1)
    )
    return row or GENESIS
