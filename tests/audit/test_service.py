"""The audit write path: one transaction with the change, append-only, hash-chained."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.kit.context import Actor, RequestContext, request_context
from datamesh.kit.refs import Ref
from datamesh.models.audit import AuditEntry

ENTRY_COLUMNS = [c.key for c in AuditEntry.__table__.columns if c.key != "seq"]

ALICE = Actor(kind="user", name="alice@example.com")


async def _record_three(session: AsyncSession) -> list[AuditEntry]:
    entries = []
    for i in range(3):
        entries.append(
            await audit.record(
                session,
                ALICE,
                "dataset.update",
                Ref("dataset", f"d{i}", f"orders_{i}"),
                audit.diff({"title": "a"}, {"title": f"b{i}"}),
            )
        )
    await session.commit()
    return entries


async def test_chain_verifies_when_intact(session: AsyncSession) -> None:
    entries = await _record_three(session)
    assert entries[1].prev_hash == entries[0].hash
    result = await audit.verify(session)
    assert result.ok and result.checked == 3


async def test_diff_hides_secret_values() -> None:
    changes = audit.diff(
        {"host": "a", "password": "env:OLD"},
        {"host": "b", "password": "env:NEW"},
        secret_fields={"password"},
    )
    assert changes["host"] == {"before": "a", "after": "b"}
    assert "OLD" not in str(changes["password"]) and "NEW" not in str(changes["password"])


async def test_app_cannot_update_or_delete(session: AsyncSession) -> None:
    await _record_three(session)
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(AuditEntry.__table__.update().values(action="x"))
    await session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(AuditEntry.__table__.delete())
    await session.rollback()


async def _superuser_tamper(conn: asyncpg.Connection, sql: str) -> None:
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(sql)


async def test_tampered_row_is_named(session: AsyncSession, raw_conn: asyncpg.Connection) -> None:
    entries = await _record_three(session)
    await _superuser_tamper(
        raw_conn, f"UPDATE audit_log SET actor_name = 'mallory' WHERE id = '{entries[1].id}'"
    )
    result = await audit.verify(session)
    assert not result.ok
    assert result.first_bad_id == str(entries[1].id)
    assert "content" in (result.reason or "")


async def test_deleted_row_is_detected(session: AsyncSession, raw_conn: asyncpg.Connection) -> None:
    entries = await _record_three(session)
    await _superuser_tamper(raw_conn, f"DELETE FROM audit_log WHERE id = '{entries[1].id}'")
    result = await audit.verify(session)
    assert not result.ok
    assert result.first_bad_id == str(entries[2].id)
    assert "removed" in (result.reason or "")


async def test_rollback_leaves_no_audit_row(session: AsyncSession) -> None:
    await audit.record(session, ALICE, "dataset.publish", Ref("dataset", "x", "orders"))
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 0


async def test_concurrent_writers_keep_one_chain_in_commit_order(app: FastAPI) -> None:
    """Entries join the chain at commit: writers that interleave still make one valid chain,
    and a transaction that rolls back leaves nothing in it."""

    async def writer(i: int) -> None:
        async with app.state.sessionmaker() as s:
            await audit.record(s, ALICE, "dataset.update", Ref("dataset", f"w{i}"))
            await asyncio.sleep(0.001 * (i % 5))  # the rest of the request, outside the lock
            await audit.record(s, ALICE, "dataset.follow", Ref("dataset", f"w{i}"))
            if i % 7 == 0:
                await s.rollback()
            else:
                await s.commit()

    await asyncio.gather(*(writer(i) for i in range(40)))
    async with app.state.sessionmaker() as s:
        result = await audit.verify(s)
        rows = (await s.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars().all()
    assert result.ok and result.checked == 2 * (40 - 6)
    assert {r.target_id for r in rows} == {f"w{i}" for i in range(40) if i % 7}
    # a transaction's two entries are adjacent: nothing else was chained between them
    assert all(rows[k].target_id == rows[k + 1].target_id for k in range(0, len(rows), 2))


async def test_record_many_chains_with_single_records_in_order(session: AsyncSession) -> None:
    """The bulk path (a first crawl) writes the entries ``record`` writes, in the order given,
    on the same chain: one pass at commit, and ``audit verify`` still checks every link."""
    first = await audit.record(session, ALICE, "dataset.publish", Ref("dataset", "d0", "a"))
    many = await audit.record_many(
        session,
        ALICE,
        [
            ("dataset.publish", Ref("dataset", f"d{i}", f"t{i}"), {"x": {"after": i}}, {"o": 1})
            for i in range(1, 4)
        ],
    )
    await session.commit()
    rows = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [r.id for r in rows] == [first.id, *(e.id for e in many)]
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert rows[2].changes == {"x": {"after": 2}} and rows[2].details == {"o": 1}
    assert rows[2].actor_name == ALICE.name and rows[2].target_name == "t2"
    result = await audit.verify(session)
    assert result.ok and result.checked == 4


async def test_a_large_batch_is_stored_as_recorded_in_chain_order(session: AsyncSession) -> None:
    """The entries of a transaction go in as one JSON document: each stored row is the entry
    as recorded and hashed (time to the microsecond, client address, text with quotes,
    backslashes and unicode, nested and empty values, missing ids), ``seq`` follows the chain."""
    actor = Actor(kind="user", id=uuid.uuid4(), name='o\'brien "\\" ünï', org_id=uuid.uuid4())
    token = request_context.set(
        RequestContext(request_id="req-1", client="2001:db8::1", user_agent="agent/1.0 ✓")
    )
    try:
        many = await audit.record_many(
            session,
            actor,
            [
                (
                    "dataset.publish",
                    Ref("dataset", f"d{i}", f'db."Odd Schema".t{i} ✓' if i % 2 else None),
                    {"fields": {"before": None, "after": [{"name": "a", "n": i, "x": [1.5]}]}},
                    {} if i % 3 else {"at": datetime(2026, 1, 1, tzinfo=UTC), "null": None},
                )
                for i in range(1500)
            ],
        )
    finally:
        request_context.reset(token)
    await audit.record(session, ALICE, "dataset.update", Ref("dataset", "last"))
    await session.commit()
    rows = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [r.id for r in rows[:-1]] == [e.id for e in many] and rows[-1].target_id == "last"
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    for row, entry in zip(rows, many, strict=False):
        stored = {c: getattr(row, c) for c in ENTRY_COLUMNS}
        assert stored | {"client": str(row.client)} == {c: getattr(entry, c) for c in ENTRY_COLUMNS}
        assert audit.compute_hash(row.prev_hash, row) == row.hash
    assert rows[-1].actor_id is None and rows[-1].client is None and rows[-1].org_id is None
    result = await audit.verify(session)
    assert result.ok and result.checked == 1501
