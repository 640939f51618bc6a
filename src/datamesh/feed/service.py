"""Feed rules: what a caller sees, follows with their audit and event, feed item shape."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.errors import Forbidden
from datamesh.events import service as events
from datamesh.feed import repository as repo
from datamesh.kit.pagination import decode_cursor, encode_cursor
from datamesh.models.events import Event

FOR_YOU_WINDOW = timedelta(days=14)


# Lineage events carry the ids of every node they touch (the graph projection needs them); the
# feed shows each caller only the ids they may see, the others as this placeholder.
RESTRICTED = "restricted"
_NODE_LISTS = ("edges_added", "edges_removed", "nodes_added", "nodes_removed")


def _node_ids(payload: dict[str, Any]) -> set[uuid.UUID]:
    raw: list[Any] = list((payload.get("kinds") or {}).keys())
    for key in _NODE_LISTS:
        for entry in payload.get(key) or []:
            raw += entry if isinstance(entry, list) else [entry]
    ids = set()
    for value in raw:
        try:
            ids.add(uuid.UUID(str(value)))
        except ValueError:
            continue
    return ids


def _redacted(payload: dict[str, Any], visible: set[uuid.UUID]) -> dict[str, Any]:
    def shown(value: Any) -> Any:
        try:
            return value if uuid.UUID(str(value)) in visible else RESTRICTED
        except ValueError:
            return RESTRICTED

    out = dict(payload)
    for key in _NODE_LISTS:
        if key in out and isinstance(out[key], list):
            out[key] = [
                [shown(v) for v in entry] if isinstance(entry, list) else shown(entry)
                for entry in out[key]
            ]
    if isinstance(out.get("kinds"), dict):
        out["kinds"] = {k: v for k, v in out["kinds"].items() if shown(k) != RESTRICTED}
    return out


async def payloads_for(
    session: AsyncSession, p: Principal, events_: Sequence[Event]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Lineage events' payloads as this caller may see them (hidden node ids replaced)."""
    lineage = [e for e in events_ if e.type == "lineage.changed" and e.payload]
    if not lineage:
        return {}
    visible = await repo.visible_nodes(
        session, p, set().union(*(_node_ids(e.payload) for e in lineage))
    )
    return {e.id: _redacted(e.payload, visible) for e in lineage}


async def readable_events(
    session: AsyncSession, p: Principal, event_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these events the caller may see now, by the feed's own rule (``visible``):
    alerts check it at delivery, so an alert never tells what the feed would hide."""
    return await repo.readable_ids(session, p, event_ids)


def fully_redacted(e: Event) -> dict[str, Any] | None:
    """A lineage event's payload with every node id hidden: what a stream sends when it cannot
    check visibility right now (the database is away), rather than dropping the stream."""
    return _redacted(e.payload, set()) if e.type == "lineage.changed" and e.payload else None


def item(e: Event, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """One feed item: the same JSON in GET /api/feed and in the live stream."""
    return {
        "id": e.id,
        "type": e.type,
        "occurred_at": e.occurred_at,
        "actor": {"id": e.actor_id, "name": e.actor_name, "kind": e.actor_kind},
        "org_id": e.org_id,
        "subject": {"kind": e.subject_kind, "id": e.subject_id, "name": e.subject_name},
        "payload": payload if payload is not None else (e.payload or {}),
    }


async def feed_page(
    session: AsyncSession,
    p: Principal,
    *,
    mode: str,
    types: Sequence[str],
    dataset_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Event], str | None]:
    arity = 3 if mode == "for_you" else 2
    after = decode_cursor(cursor, arity)
    since = datetime.now(UTC) - FOR_YOU_WINDOW if mode == "for_you" else None
    rows = await repo.page(
        session,
        p,
        mode=mode,
        types=types,
        dataset_id=dataset_id,
        limit=limit,
        after=after,
        since=since,
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last, rank = rows[-1]
        key: list[Any] = [last.occurred_at.isoformat(), str(last.id)]
        next_cursor = encode_cursor([rank, *key] if mode == "for_you" else key)
    return [e for e, _ in rows], next_cursor


async def set_follow(
    session: AsyncSession, p: Principal, dataset_id: uuid.UUID, follow: bool | None
) -> tuple[bool, int]:
    """Follow (True) or unfollow (False) a dataset, idempotently: asking for the state it is in
    already changes, audits and announces nothing. None toggles (the seed's POST /follows)."""
    if p.kind != "user" or p.user_id is None:
        raise Forbidden("Only people can follow datasets.")
    ds = await catalog.get(session, p, dataset_id)  # 404 if hidden
    ref = catalog.ref(ds)
    if follow is None:
        follow = not await repo.is_following(session, p.user_id, ds.id)
    if follow:
        if await repo.follow(session, p.user_id, ds.id):
            await audit.record(session, p.actor(), "dataset.follow", ref, org_id=ds.org_id)
            await events.emit(session, "dataset.followed", p.actor(), ref, {}, org_id=ds.org_id)
    elif await repo.unfollow(session, p.user_id, ds.id):
        await audit.record(session, p.actor(), "dataset.unfollow", ref, org_id=ds.org_id)
        await events.emit(session, "dataset.unfollowed", p.actor(), ref, {}, org_id=ds.org_id)
    return follow, await repo.count_followers(session, ds.id)


async def followed(session: AsyncSession, p: Principal) -> list[dict[str, Any]]:
    return [
        {
            "dataset_id": ds.id,
            "name": ds.name,
            "display_name": ds.display_name,
            "platform": ds.platform,
            "followed_at": at,
        }
        for ds, at in await repo.followed(session, p)
    ]
