"""The outbox: events written with the change, NOTIFY at commit only, idempotent replays."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from fastapi import FastAPI
from sqlalchemy import func, select, update
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


ALICE = Actor(kind="user", id=uuid.UUID("00000000-0000-0000-0000-0000000000a1"), name="alice")
OTHER = Ref("dataset", "00000000-0000-0000-0000-000000000002", "customers")


async def test_once_within_writes_one_event_per_actor_type_subject_and_window(
    session: AsyncSession,
) -> None:
    def once(actor: Actor, subject: Ref, type: str = "dataset.connected") -> Any:
        return events.emit(
            session, type, actor, subject, {"kinds": ["python"]}, related=["x:1"], once_within=60
        )

    first = await once(ALICE, SUBJECT)
    assert first is not None
    assert await once(ALICE, SUBJECT) is None, "its own transaction's event counts"
    await session.commit()
    assert await once(ALICE, SUBJECT) is None, "a committed one too"
    # Anyone else, any other subject or type, and an actor without an id are their own.
    others = [
        await once(BOB, SUBJECT),
        await once(Actor(kind="user", id=uuid.uuid4(), name="carol"), SUBJECT),
        await once(ALICE, OTHER),
        await once(ALICE, SUBJECT, "dataset.followed"),
    ]
    assert None not in others
    assert await once(BOB, SUBJECT) is None, "an actor without an id is matched as such"
    await session.commit()
    row = (await session.execute(select(Event).where(Event.id == first))).scalar_one()
    assert (row.payload, row.related, row.actor_id) == ({"kinds": ["python"]}, ["x:1"], ALICE.id)

    # Once the window has passed, the next one is written.
    await session.execute(
        update(Event)
        .where(Event.id == first)
        .values(occurred_at=func.now() - timedelta(seconds=61))
    )
    await session.commit()
    assert await once(ALICE, SUBJECT) is not None
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Event)) == 6


async def test_once_within_at_once_in_many_transactions_is_one_event(app: FastAPI) -> None:
    """Each transaction takes the window's lock before its insert, whose snapshot then sees
    the event the lock's holder committed: one event however many try at once."""

    async def attempt() -> uuid.UUID | None:
        async with app.state.sessionmaker() as s:
            written = await events.emit(
                s, "dataset.connected", ALICE, SUBJECT, {"n": 1}, once_within=3600
            )
            await asyncio.sleep(0.05)  # hold the lock a while, so others queue behind it
            await s.commit()
            return written

    results = await asyncio.gather(*(attempt() for _ in range(6)))
    assert len([r for r in results if r is not None]) == 1
    async with app.state.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Event)) == 1
