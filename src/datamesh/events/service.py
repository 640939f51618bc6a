"""``emit``: write an event in the caller's transaction; announced by NOTIFY at commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.db import remember_event
from datamesh.kit.context import Actor, current_trace_id
from datamesh.kit.ids import uuid7
from datamesh.kit.refs import Ref
from datamesh.models.events import Event


async def emit(
    session: AsyncSession,
    type: str,
    actor: Actor,
    subject: Ref,
    payload: Mapping[str, Any] | None = None,
    *,
    org_id: UUID | None = None,
    related: Iterable[Ref | str] = (),
    idempotency_key: str | None = None,
) -> UUID | None:
    """Write one event; returns its id, or None when the idempotency key was seen before."""
    values = _row(
        type, actor, subject, payload, org_id, [str(r) for r in related], current_trace_id()
    )
    values["idempotency_key"] = idempotency_key
    # SQLAlchemy never caches the PostgreSQL dialect's INSERT (ON CONFLICT is not part of a
    # cache key), so it was compiled again for every event: the plain INSERT when no key.
    stmt = (
        pg_insert(Event)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[Event.idempotency_key])
        if idempotency_key is not None
        else insert(Event).values(**values)
    )
    inserted: UUID | None = await session.scalar(stmt.returning(Event.id))
    if inserted is None:
        return None
    remember_event(session, str(inserted))
    return inserted


async def seen(session: AsyncSession, idempotency_key: str) -> bool:
    found = await session.scalar(
        select(Event.id).where(Event.idempotency_key == idempotency_key).limit(1)
    )
    return found is not None


def window_lock_key(type: str, actor: Actor, subject: Ref) -> str:
    """The advisory lock :func:`recently_emitted` takes, as ``hashtextextended(key, 0)``."""
    return f"{type}|{actor.kind}:{actor.id}|{subject.kind}:{subject.id}"


async def recently_emitted(
    session: AsyncSession,
    type: str,
    actor: Actor,
    subject: Ref,
    within_seconds: int,
    *,
    locked: bool = False,
) -> bool:
    """Did this actor cause an event of this type on this subject in the last seconds?

    Takes a transaction-scoped advisory lock on (type, actor, subject) first, so two requests
    of one person at once (a double click) do not both find none. ``locked``: the caller took
    that lock already in this transaction, in an earlier statement (:func:`window_lock_key`;
    not in this one: the check must see what committed while it waited)."""
    if not locked:
        key = window_lock_key(type, actor, subject)
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
    found = await session.scalar(
        select(Event.id)
        .where(
            Event.subject_kind == subject.kind,
            Event.subject_id == subject.id,
            Event.occurred_at > func.now() - timedelta(seconds=within_seconds),
            Event.type == type,
            Event.actor_kind == actor.kind,
            Event.actor_id == actor.id if actor.id is not None else Event.actor_id.is_(None),
        )
        .limit(1)
    )
    return found is not None


async def emit_many(
    session: AsyncSession,
    actor: Actor,
    items: Iterable[tuple[str, Ref, Mapping[str, Any] | None]],
    *,
    org_id: UUID | None = None,
) -> list[UUID]:
    """Write many events of one actor in a few statements (bulk ingestion), in order; each is
    announced at commit like :func:`emit`'s. No idempotency keys here."""
    trace_id = current_trace_id()
    rows = [
        _row(type, actor, subject, payload, org_id, [], trace_id)
        for type, subject, payload in items
    ]
    if not rows:
        return []
    await session.execute(insert(Event), rows)
    for row in rows:
        remember_event(session, str(row["id"]))
    return [row["id"] for row in rows]


def _row(
    type: str,
    actor: Actor,
    subject: Ref,
    payload: Mapping[str, Any] | None,
    org_id: UUID | None,
    related: list[str],
    trace_id: str | None,
) -> dict[str, Any]:
    """An event row as :func:`emit` and :func:`emit_many` both write it."""
    return {
        "id": uuid7(),
        "type": type,
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "actor_name": actor.name,
        "org_id": org_id if org_id is not None else actor.org_id,
        "subject_kind": subject.kind,
        "subject_id": subject.id,
        "subject_name": subject.name,
        "related": related,
        "payload": orjson.loads(orjson.dumps(dict(payload or {}), default=str)),
        "trace_id": trace_id,
        "idempotency_key": None,
    }
