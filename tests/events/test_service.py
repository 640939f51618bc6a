"""The outbox: events written with the change, NOTIFY at commit only, idempotent replays."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.db import NOTIFY_CHANNEL
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.refs import Ref
from datamesh.models.events import Event

BOB = Actor(kind="user", name="bob@example.com")
SUBJECT = Ref("dataset", "00000000-0000-0000-0000-000000000001", "orders")


async def _listen(conn: asyncpg.Connection) -> asyncio.Queue[str]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(NOTIFY_CHANNEL, lambda *args: queue.put_nowait(args[3]))
    return queue


async def test_commit_notifies_event_ids_once(session: AsyncSession, pg, db_name: str) -> None:
    listener = await asyncpg.connect(pg.url(db_name, driver="postgresql"))
    try:
        queue = await _listen(listener)
        first = await events.emit(session, "dataset.published", BOB, SUBJECT, {"a": 1})
        second = await events.emit(session, "dataset.updated", BOB, SUBJECT, {"fields": ["a"]})
        await asyncio.sleep(0.05)
        assert queue.empty(), "nothing is announced before commit"
        await session.commit()
        payload = await asyncio.wait_for(queue.get(), 5)
        assert payload.split(",") == [str(first), str(second)]
        await asyncio.sleep(0.05)
        assert queue.empty(), "one NOTIFY per transaction"
    finally:
        await listener.close()


async def test_rollback_emits_nothing(session: AsyncSession, pg, db_name: str) -> None:
    listener = await asyncpg.connect(pg.url(db_name, driver="postgresql"))
    try:
        queue = await _listen(listener)
        await events.emit(session, "dataset.published", BOB, SUBJECT)
        await session.rollback()
        await session.commit()  # an empty commit after the rollback announces nothing either
        await asyncio.sleep(0.2)
        assert queue.empty()
        assert await session.scalar(select(func.count()).select_from(Event)) == 0
    finally:
        await listener.close()


async def test_replayed_idempotency_key_writes_nothing(session: AsyncSession) -> None:
    first = await events.emit(session, "lineage.changed", BOB, SUBJECT, idempotency_key="run-1")
    await session.commit()
    again = await events.emit(session, "lineage.changed", BOB, SUBJECT, idempotency_key="run-1")
    await session.commit()
    assert first is not None and again is None
    assert await session.scalar(select(func.count()).select_from(Event)) == 1
    assert await events.seen(session, "run-1")
