"""``emit``: write an event in the caller's transaction; announced by NOTIFY at commit."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import ClauseElement, Interval, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.db import Compiled, compiled, remember_event
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
    once_within: int | None = None,
    window_locked: bool = False,
) -> UUID | None:
    """Write one event; returns its id, or None when the idempotency key was seen before.

    ``once_within`` (seconds): write nothing (and return None) when this actor caused an
    event of this type on this subject in that time (a feed's once-per-window rule); the check
    and the insert are one statement (:func:`_emit_once`)."""
    values = _row(
        type, actor, subject, payload, org_id, [str(r) for r in related], current_trace_id()
    )
    values["idempotency_key"] = idempotency_key
    if once_within is not None:
        return await _emit_once(session, values, actor, subject, once_within, window_locked)
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


_ONCE_SQL: dict[Hashable, Compiled] = {}


async def _emit_once(
    session: AsyncSession,
    values: dict[str, Any],
    actor: Actor,
    subject: Ref,
    within_seconds: int,
    window_locked: bool,
) -> UUID | None:
    """``INSERT ... SELECT ... WHERE NOT EXISTS`` (an event in the window): one round trip
    where :func:`recently_emitted` and the insert were two. Serialised by the window's advisory
    lock (:func:`window_lock_key`), taken here unless ``window_locked`` (the caller took it in
    an earlier statement of this transaction): never in the same statement, whose snapshot is
    taken before it waits on the lock and so would miss the event that the holder committed.
    Compiled once per shape (actor with an id or not, idempotency key or not) and sent as SQL."""
    if not window_locked:
        key = window_lock_key(values["type"], actor, subject)
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
    conn = await session.connection()
    shape = (actor.id is not None, values["idempotency_key"] is not None)
    statement = compiled(_ONCE_SQL, shape, lambda: _once_statement(*shape), conn)
    args = dict(values)
    args["payload"] = orjson.dumps(values["payload"]).decode()
    args["within"] = timedelta(seconds=within_seconds)
    row = await statement.first(conn, args)
    if row is None:
        return None
    inserted: UUID = row[0]
    remember_event(session, str(inserted))
    return inserted


def _once_statement(has_actor_id: bool, has_key: bool) -> ClauseElement:
    """The statement of :func:`_emit_once` for one shape; every value a bound parameter."""
    columns = [c for c in _ROW_COLUMNS if has_key or c != "idempotency_key"]
    table = Event.__table__
    recent = select(Event.id).where(
        Event.subject_kind == bindparam("subject_kind", type_=table.c.subject_kind.type),
        Event.subject_id == bindparam("subject_id", type_=table.c.subject_id.type),
        Event.occurred_at > func.now() - bindparam("within", type_=Interval()),
        Event.type == bindparam("type", type_=table.c.type.type),
        Event.actor_kind == bindparam("actor_kind", type_=table.c.actor_kind.type),
        Event.actor_id == bindparam("actor_id", type_=table.c.actor_id.type)
        if has_actor_id
        else Event.actor_id.is_(None),
    )
    source = select(*(bindparam(c, type_=table.c[c].type) for c in columns)).where(~recent.exists())
    stmt = insert(Event).from_select(columns, source)
    if has_key:
        stmt = (
            pg_insert(Event)
            .from_select(columns, source)
            .on_conflict_do_nothing(index_elements=[Event.idempotency_key])
        )
    return stmt.returning(Event.id)


async def seen(session: AsyncSession, idempotency_key: str) -> bool:
    found = await session.scalar(
        select(Event.id).where(Event.idempotency_key == idempotency_key).limit(1)
    )
    return found is not None


def window_lock_key(type: str, actor: Actor, subject: Ref) -> str:
    """The advisory lock of ``emit(..., once_within=...)``, as ``hashtextextended(key, 0)``."""
    return f"{type}|{actor.kind}:{actor.id}|{subject.kind}:{subject.id}"


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


_ROW_COLUMNS = (
    "id",
    "type",
    "actor_kind",
    "actor_id",
    "actor_name",
    "org_id",
    "subject_kind",
    "subject_id",
    "subject_name",
    "related",
    "payload",
    "trace_id",
    "idempotency_key",
)


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
