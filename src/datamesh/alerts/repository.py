"""SQL for alert rules, their deliveries and matches."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    cast,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.kit.pagination import after as keyset_after
from datamesh.models.alerts import AlertDelivery, AlertMatch, AlertRule
from datamesh.models.catalog import Dataset, DatasetOwner, Follow
from datamesh.models.events import Event
from datamesh.models.identity import Organization, User
from datamesh.models.lineage import Process


# -- rules --------------------------------------------------------------------------------------
async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> AlertRule | None:
    return await session.get(AlertRule, rule_id, populate_existing=True)


def _listable(user_id: uuid.UUID | None, org_id: uuid.UUID, govern: bool) -> ColumnElement[bool]:
    mine = AlertRule.owner_id == user_id if user_id is not None else None
    org = and_(AlertRule.owner_id.is_(None), AlertRule.org_id == org_id) if govern else None
    conds = [c for c in (mine, org) if c is not None]
    if not conds:
        return AlertRule.id.is_(None)  # nothing
    return or_(*conds)


async def list_rules(
    session: AsyncSession,
    *,
    user_id: uuid.UUID | None,
    org_id: uuid.UUID,
    govern: bool,
    limit: int,
    after: list[Any] | None,
) -> list[AlertRule]:
    stmt = select(AlertRule).where(_listable(user_id, org_id, govern))
    if after:
        stmt = stmt.where(keyset_after([AlertRule.created_at, AlertRule.id], after, True))
    stmt = stmt.order_by(AlertRule.created_at.desc(), AlertRule.id.desc()).limit(limit + 1)
    return list(await session.scalars(stmt))


async def enabled_rules_for(session: AsyncSession, types: Collection[str]) -> list[AlertRule]:
    """Enabled rules asking for any of these event types (locked: the consumer moves their
    digest windows)."""
    stmt = (
        select(AlertRule)
        .where(AlertRule.enabled, AlertRule.events.overlap(list(types)))
        .order_by(AlertRule.id)
        .with_for_update(of=AlertRule)
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(stmt))


async def users(session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not ids:
        return {}
    return {u.id: u for u in await session.scalars(select(User).where(User.id.in_(list(ids))))}


# -- scope facts --------------------------------------------------------------------------------
async def dataset_facts(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[list[str], str | None, uuid.UUID | None]]:
    """tags, domain and node of each dataset."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Dataset.id, Dataset.tags, Dataset.domain, Dataset.node_id).where(
            Dataset.id.in_(list(ids))
        )
    )
    return {r[0]: (list(r[1] or []), r[2], r[3]) for r in rows}


async def owned(
    session: AsyncSession, user_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    if not ids:
        return set()
    rows = await session.scalars(
        select(DatasetOwner.dataset_id).where(
            DatasetOwner.user_id == user_id, DatasetOwner.dataset_id.in_(list(ids))
        )
    )
    return set(rows)


async def followed(
    session: AsyncSession, user_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    if not ids:
        return set()
    rows = await session.scalars(
        select(Follow.dataset_id).where(Follow.user_id == user_id, Follow.dataset_id.in_(list(ids)))
    )
    return set(rows)


async def process_owners(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Process.id, Process.owners).where(Process.id.in_(list(ids)))
    )
    return {r[0]: [str(o).lower() for o in (r[1] or [])] for r in rows}


async def nodes_of(session: AsyncSession, dataset_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """The connections (nodes) these datasets live on."""
    if not dataset_ids:
        return set()
    rows = await session.scalars(
        select(Dataset.node_id).where(
            Dataset.id.in_(list(dataset_ids)), Dataset.node_id.is_not(None)
        )
    )
    return {r for r in rows if r is not None}


# -- matches and deliveries ---------------------------------------------------------------------
async def matched_pairs(
    session: AsyncSession, pairs: Sequence[tuple[uuid.UUID, str]]
) -> set[tuple[uuid.UUID, str]]:
    """Which of these (rule, key) pairs already made a delivery (one query for a batch)."""
    if not pairs:
        return set()
    rules = [r for r, _ in pairs]
    keys = [k for _, k in pairs]
    wanted = select(
        func.unnest(cast(rules, ARRAY(PG_UUID(as_uuid=True)))).label("rule_id"),
        func.unnest(cast(keys, ARRAY(String))).label("key"),
    ).subquery()
    rows = await session.execute(
        select(AlertMatch.rule_id, AlertMatch.key).join(
            wanted, and_(AlertMatch.rule_id == wanted.c.rule_id, AlertMatch.key == wanted.c.key)
        )
    )
    return {(r[0], r[1]) for r in rows}


async def open_digests(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, AlertDelivery]:
    """Those of these digests that can still take events (not sent or being sent yet),
    locked; one being claimed by a sender right now is left out."""
    if not ids:
        return {}
    stmt = (
        select(AlertDelivery)
        .where(
            AlertDelivery.id.in_(list(ids)),
            AlertDelivery.state == "pending",
            AlertDelivery.attempts == 0,
            AlertDelivery.lease_token.is_(None),
        )
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return {d.id: d for d in await session.scalars(stmt)}


async def write_matches(
    session: AsyncSession,
    new: Sequence[dict[str, Any]],
    grown: dict[uuid.UUID, list[uuid.UUID]],
    matches: Sequence[dict[str, Any]],
    windows: Sequence[dict[str, Any]],
) -> None:
    """A batch's new deliveries, the events added to open digests, the matches (after the
    deliveries they point at) and the rules' digest windows: one statement each."""
    if new:
        await session.execute(insert(AlertDelivery), list(new))
    if grown:
        await session.execute(
            update(AlertDelivery),
            [{"id": i, "event_ids": ids} for i, ids in grown.items()],
        )
    if matches:
        await session.execute(insert(AlertMatch), list(matches))
    if windows:
        await session.execute(update(AlertRule), list(windows))


async def claim_due(
    session: AsyncSession, limit: int, lease_seconds: int, token: uuid.UUID
) -> list[AlertDelivery]:
    """Lease up to ``limit`` due deliveries to the caller in one statement (commit to take the
    lease) and return them. Rows another process is claiming are skipped; a lease that ran out
    (its process died) is taken over, and the delivery keeps its id."""
    if limit <= 0:
        return []
    due = (
        select(AlertDelivery.id)
        .where(
            AlertDelivery.state == "pending",
            AlertDelivery.next_attempt_at <= func.now(),
            or_(AlertDelivery.lease_until.is_(None), AlertDelivery.lease_until < func.now()),
        )
        .order_by(AlertDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    stmt = (
        update(AlertDelivery)
        .where(AlertDelivery.id == due.c.id)
        .values(
            lease_until=func.now() + literal_column("interval '1 second'") * lease_seconds,
            lease_token=token,
        )
        .returning(AlertDelivery)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return list(await session.scalars(stmt))


async def leased(
    session: AsyncSession, delivery_id: uuid.UUID, token: uuid.UUID
) -> AlertDelivery | None:
    """The delivery if the caller still holds its lease (locked for the caller's update)."""
    stmt = (
        select(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.lease_token == token)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found: AlertDelivery | None = await session.scalar(stmt)
    return found


async def leased_many(
    session: AsyncSession, ids: Sequence[uuid.UUID], token: uuid.UUID
) -> list[AlertDelivery]:
    """The deliveries among these the caller still holds the lease of (locked), in order."""
    if not ids:
        return []
    stmt = (
        select(AlertDelivery)
        .where(AlertDelivery.id.in_(list(ids)), AlertDelivery.lease_token == token)
        .order_by(AlertDelivery.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(stmt))


async def record_attempts(
    session: AsyncSession, rows: Sequence[dict[str, Any]], token: uuid.UUID
) -> set[uuid.UUID]:
    """Write a batch's attempts in one statement, each row only if the caller still holds its
    lease (the lease released with it); returns the ids written. Rows: id, state, attempts,
    log, next_attempt_at, delivered_at."""
    if not rows:
        return set()
    found = await session.execute(
        text(
            """
            UPDATE alert_deliveries AS d
               SET state = v.state, attempts = v.attempts, log = v.log::jsonb,
                   next_attempt_at = coalesce(v.next_attempt_at, d.next_attempt_at),
                   delivered_at = coalesce(v.delivered_at, d.delivered_at),
                   lease_token = NULL, lease_until = NULL
              FROM unnest(CAST(:ids AS uuid[]), CAST(:states AS text[]),
                          CAST(:attempts AS int[]), CAST(:logs AS text[]),
                          CAST(:next AS timestamptz[]), CAST(:delivered AS timestamptz[]))
                   AS v(id, state, attempts, log, next_attempt_at, delivered_at)
             WHERE d.id = v.id AND d.lease_token = :token
            RETURNING d.id
            """
        ),
        {
            "ids": [r["id"] for r in rows],
            "states": [r["state"] for r in rows],
            "attempts": [r["attempts"] for r in rows],
            "logs": [orjson.dumps(r["log"]).decode() for r in rows],
            "next": [r.get("next_attempt_at") for r in rows],
            "delivered": [r.get("delivered_at") for r in rows],
            "token": token,
        },
    )
    return {r[0] for r in found}


async def release(session: AsyncSession, ids: Sequence[uuid.UUID], token: uuid.UUID) -> None:
    """Give back the leases of deliveries the caller did not attempt (it is stopping)."""
    if ids:
        await session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id.in_(list(ids)), AlertDelivery.lease_token == token)
            .values(lease_token=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )


async def org_names(session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(list(ids)))
    )
    return {r[0]: r[1] for r in rows}


async def rules_by_id(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, AlertRule]:
    rows = await session.scalars(
        select(AlertRule)
        .where(AlertRule.id.in_(list(ids)))
        .execution_options(populate_existing=True)
    )
    return {r.id: r for r in rows}


async def get_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> AlertDelivery | None:
    return await session.get(AlertDelivery, delivery_id, populate_existing=True)


async def deliveries(
    session: AsyncSession, rule_id: uuid.UUID, limit: int, after: list[Any] | None
) -> list[AlertDelivery]:
    stmt = select(AlertDelivery).where(AlertDelivery.rule_id == rule_id)
    if after:
        stmt = stmt.where(keyset_after([AlertDelivery.created_at, AlertDelivery.id], after, True))
    stmt = stmt.order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc()).limit(limit + 1)
    return list(await session.scalars(stmt))


async def events(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Event]:
    if not ids:
        return []
    return list(
        await session.scalars(select(Event).where(Event.id.in_(list(ids))).order_by(Event.seq))
    )
