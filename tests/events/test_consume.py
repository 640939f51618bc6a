"""``consume`` against the database: the position and the snapshot's bounds read together, a
gap stored and read back, and a wake that finds nothing writes nothing (issue 21)."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.events import consumer
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.refs import Ref
from datamesh.models.events import Event

BOB = Actor(kind="user", name="bob@example.com")
SUBJECT = Ref("dataset", "00000000-0000-0000-0000-000000000001", "orders")


async def test_consume_reads_gaps_back_and_an_idle_wake_writes_nothing(
    app: FastAPI, raw_conn: asyncpg.Connection
) -> None:
    seen: list[int] = []

    async def handle(session: AsyncSession, batch: list[Event]) -> None:
        seen.extend(e.seq for e in batch)

    async def consume() -> int:
        async with app.state.sessionmaker() as s:
            read = await consumer.consume(s, "test", handle)
            await s.commit()
            return read

    async def emit() -> None:
        async with app.state.sessionmaker() as s:
            await events.emit(s, "dataset.updated", BOB, SUBJECT)
            await s.commit()

    await emit()
    assert await consume() == 0 and seen == [], "a new consumer starts at the head"
    version = await raw_conn.fetchval("SELECT xmin::text FROM outbox_positions")
    assert await consume() == 0
    assert await raw_conn.fetchval("SELECT xmin::text FROM outbox_positions") == version, (
        "an idle wake does not write its position"
    )

    async with app.state.sessionmaker() as open_tx:
        await events.emit(open_tx, "dataset.updated", BOB, SUBJECT)  # a number, not committed
        await emit()
        assert await consume() == 1
        stored = await raw_conn.fetchrow("SELECT last_seq, gaps FROM outbox_positions")
        assert len(seen) == 1 and stored["last_seq"] == seen[0]
        assert f"[[{seen[0] - 1}," in stored["gaps"].replace(" ", ""), "the gap is kept"
        await open_tx.commit()
    assert await consume() == 1, "the gap, read back from the stored position, is read"
    assert seen == [seen[0], seen[0] - 1]
    assert await raw_conn.fetchval("SELECT gaps FROM outbox_positions") == "[]"
