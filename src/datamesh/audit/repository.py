"""SQL for the audit log."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.kit.text import escape_like
from datamesh.models.audit import AuditEntry

GENESIS = "0" * 64


# Used at commit by the service's before_commit hook (synchronous there).
LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(hashtext('datamesh.audit_chain'))")
LAST_HASH = select(AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)


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


@dataclass(slots=True)
class AuditQuery:
    org_id: uuid.UUID | None = None  # None: every org (platform administrators)
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None


def _conditions(q: AuditQuery) -> list[Any]:
    conds: list[Any] = []
    if q.org_id is not None:
        conds.append(AuditEntry.org_id == q.org_id)
    if q.actor:
        try:
            conds.append(AuditEntry.actor_id == uuid.UUID(q.actor))
        except ValueError:
            conds.append(func.lower(AuditEntry.actor_name) == q.actor.lower())
    if q.action:
        if q.action.endswith((".", "*")):
            prefix = q.action.rstrip("*")
            conds.append(AuditEntry.action.startswith(prefix, autoescape=True))
        else:
            conds.append(AuditEntry.action == q.action)
    if q.target:
        kind, sep, ident = q.target.partition(":")
        if sep:
            conds += [AuditEntry.target_kind == kind, AuditEntry.target_id == ident]
        else:
            conds.append(AuditEntry.target_id == q.target)
    if q.since is not None:
        conds.append(AuditEntry.at >= q.since)
    if q.until is not None:
        conds.append(AuditEntry.at < q.until)
    if q.text:
        like = f"%{escape_like(q.text)}%"
        conds.append(
            or_(
                AuditEntry.action.ilike(like, escape="\\"),
                AuditEntry.target_name.ilike(like, escape="\\"),
                AuditEntry.actor_name.ilike(like, escape="\\"),
            )
        )
    return conds


async def page(
    session: AsyncSession, q: AuditQuery, limit: int, before_seq: int | None
) -> list[AuditEntry]:
    """Newest first, keyset on the chain's sequence number."""
    stmt = select(AuditEntry).where(*_conditions(q))
    if before_seq is not None:
        stmt = stmt.where(AuditEntry.seq < before_seq)
    return list(await session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit)))
