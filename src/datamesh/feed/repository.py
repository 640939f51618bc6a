"""SQL for the feed (events the caller may see) and follows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    UUID,
    ColumnElement,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.dashboards import service as dashboards
from datamesh.kit.pagination import after as keyset_after
from datamesh.models.catalog import Dataset, Follow
from datamesh.models.dashboards import Dashboard
from datamesh.models.events import Event
from datamesh.models.lineage import Process

# Events about these kinds are visible to members of the event's org; dataset and dashboard
# events follow that object's own visibility; everything else (users, keys, orgs, sign-ins) stays
# in the audit log.
ORG_SCOPED_KINDS = ("node", "process", "run")
OWN_VISIBILITY_KINDS = ("dataset", "dashboard")
FEED_KINDS = (*OWN_VISIBILITY_KINDS, *ORG_SCOPED_KINDS)


def subject_uuid(kind: str) -> ColumnElement[Any]:
    """The event's subject id, cast only for events about ``kind`` (CASE fixes the evaluation
    order, so other kinds' ids are never cast)."""
    return case(
        (Event.subject_kind == kind, cast(Event.subject_id, UUID(as_uuid=True))), else_=None
    )


def visible(p: Principal) -> ColumnElement[bool]:
    readable_dataset = exists().where(
        Dataset.id == subject_uuid("dataset"), catalog.readable_clause(p, Dataset)
    )
    readable_dashboard = exists().where(
        Dashboard.id == subject_uuid("dashboard"), dashboards.readable_clause(p)
    )
    return or_(
        and_(Event.subject_kind == "dataset", readable_dataset),
        and_(Event.subject_kind == "dashboard", readable_dashboard),
        and_(Event.subject_kind.in_(ORG_SCOPED_KINDS), Event.org_id == p.org_id),
    )


def followed_by(user_id: uuid.UUID | None) -> ColumnElement[bool]:
    if user_id is None:
        return literal(False)
    return exists().where(Follow.user_id == user_id, Follow.dataset_id == subject_uuid("dataset"))


async def page(
    session: AsyncSession,
    p: Principal,
    *,
    mode: str,
    types: Sequence[str],
    dataset_id: uuid.UUID | None,
    limit: int,
    after: list[Any] | None,
    since: datetime | None,
) -> list[tuple[Event, int]]:
    conds: list[ColumnElement[bool]] = [visible(p)]
    if types:
        conds.append(Event.type.in_(types))
    if dataset_id is not None:
        conds += [Event.subject_kind == "dataset", Event.subject_id == str(dataset_id)]
    if mode == "for_you":
        # Followed datasets first, then the caller's org, then the rest; newest first in each,
        # within a recency window.
        rank = case((followed_by(p.user_id), 2), (Event.org_id == p.org_id, 1), else_=0)
        if since is not None:
            conds.append(Event.occurred_at >= since)
        cols: list[Any] = [rank, Event.occurred_at, Event.id]
        stmt = select(Event, rank).where(*conds)
        if after:
            stmt = stmt.where(
                keyset_after([rank, Event.occurred_at, Event.id], after, descending=True)
            )
        stmt = stmt.order_by(*[c.desc() for c in cols])
    else:
        stmt = select(Event, literal(0)).where(*conds)
        if after:
            stmt = stmt.where(keyset_after([Event.occurred_at, Event.id], after, descending=True))
        stmt = stmt.order_by(Event.occurred_at.desc(), Event.id.desc())
    rows = (await session.execute(stmt.limit(limit + 1))).all()
    return [(r[0], int(r[1])) for r in rows]


async def by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Event]:
    rows = await session.scalars(select(Event).where(Event.id.in_(ids)).order_by(Event.seq))
    return list(rows)


async def after_seq(session: AsyncSession, seq: int, limit: int) -> list[Event]:
    rows = await session.scalars(
        select(Event)
        .where(Event.seq > seq, Event.subject_kind.in_(FEED_KINDS))
        .order_by(Event.seq)
        .limit(limit)
    )
    return list(rows)


async def visible_nodes(session: AsyncSession, p: Principal, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these lineage nodes the caller may see: readable datasets, own-org processes."""
    if not ids:
        return set()
    datasets = select(Dataset.id).where(Dataset.id.in_(ids), catalog.readable_clause(p, Dataset))
    processes = select(Process.id).where(Process.id.in_(ids), Process.org_id == p.org_id)
    return set(await session.scalars(datasets.union(processes)))


async def readable_ids(
    session: AsyncSession, p: Principal, ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    if not ids:
        return set()
    rows = await session.scalars(select(Event.id).where(Event.id.in_(list(ids)), visible(p)))
    return set(rows)


async def seq_of(session: AsyncSession, event_id: uuid.UUID) -> int | None:
    found: int | None = await session.scalar(select(Event.seq).where(Event.id == event_id))
    return found


async def max_seq(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Event.seq), 0))) or 0)


async def replay(session: AsyncSession, p: Principal, seq: int, limit: int) -> list[Event]:
    rows = await session.scalars(
        select(Event).where(Event.seq > seq, visible(p)).order_by(Event.seq).limit(limit)
    )
    return list(rows)


# -- follows ------------------------------------------------------------------------------------
async def is_following(session: AsyncSession, user_id: uuid.UUID, dataset_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(Follow.dataset_id).where(Follow.user_id == user_id, Follow.dataset_id == dataset_id)
    )
    return found is not None


async def follow(session: AsyncSession, user_id: uuid.UUID, dataset_id: uuid.UUID) -> bool:
    """Start following; False if the user already did (also when a concurrent request won)."""
    added = await session.scalar(
        insert(Follow)
        .values(user_id=user_id, dataset_id=dataset_id)
        .on_conflict_do_nothing()
        .returning(Follow.user_id)
    )
    return added is not None


async def unfollow(session: AsyncSession, user_id: uuid.UUID, dataset_id: uuid.UUID) -> bool:
    """Stop following; False if the user did not follow it."""
    gone = await session.scalar(
        delete(Follow)
        .where(Follow.user_id == user_id, Follow.dataset_id == dataset_id)
        .returning(Follow.user_id)
    )
    return gone is not None


async def count_followers(session: AsyncSession, dataset_id: uuid.UUID) -> int:
    return int(
        await session.scalar(select(func.count()).where(Follow.dataset_id == dataset_id)) or 0
    )


async def followed(session: AsyncSession, p: Principal) -> list[tuple[Dataset, datetime]]:
    rows = await session.execute(
        select(Dataset, Follow.created_at)
        .join(Follow, Follow.dataset_id == Dataset.id)
        .where(Follow.user_id == p.user_id, catalog.readable_clause(p, Dataset))
        .order_by(Follow.created_at.desc())
    )
    return [(r[0], r[1]) for r in rows]


async def followed_ids(session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    return set(await session.scalars(select(Follow.dataset_id).where(Follow.user_id == user_id)))
