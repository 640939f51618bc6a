"""SQL for dashboards: the readable filter, pages, and the lookups that resolve layout refs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal
from datamesh.kit.pagination import after as keyset_after
from datamesh.kit.text import escape_like
from datamesh.models.catalog import Dataset
from datamesh.models.dashboards import Dashboard
from datamesh.models.identity import User
from datamesh.models.lineage import Process


def readable(p: Principal | None) -> ColumnElement[bool]:
    """The catalog's visibility rule with the creator as owner (``policies.can_read`` in SQL)."""
    if p is None:
        return false()
    private_ok: list[ColumnElement[bool]] = []
    if p.kind == "user" and p.user_id is not None:
        private_ok.append(Dashboard.created_by == p.user_id)
    if p.role in ("admin", "steward"):
        private_ok.append(Dashboard.org_id == p.org_id)
    return or_(
        Dashboard.visibility == "public",
        and_(Dashboard.visibility == "internal", Dashboard.org_id == p.org_id),
        and_(Dashboard.visibility == "private", or_(*private_ok) if private_ok else false()),
    )


async def visibility_info(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, uuid.UUID, set[uuid.UUID]]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Dashboard.id, Dashboard.visibility, Dashboard.org_id, Dashboard.created_by).where(
            Dashboard.id.in_(list(ids))
        )
    )
    return {r[0]: (r[1], r[2], {r[3]} if r[3] else set()) for r in rows}


async def get(session: AsyncSession, dashboard_id: uuid.UUID) -> Dashboard | None:
    found: Dashboard | None = await session.get(Dashboard, dashboard_id)
    return found


async def get_for_update(session: AsyncSession, dashboard_id: uuid.UUID) -> Dashboard | None:
    """Locked for the rest of the transaction, so two saves of one version cannot both win."""
    found: Dashboard | None = await session.scalar(
        select(Dashboard).where(Dashboard.id == dashboard_id).with_for_update()
    )
    return found


async def add(session: AsyncSession, dashboard: Dashboard) -> Dashboard:
    session.add(dashboard)
    await session.flush()
    await session.refresh(dashboard)
    return dashboard


async def flush(session: AsyncSession, dashboard: Dashboard) -> None:
    await session.flush()
    await session.refresh(dashboard)


async def delete(session: AsyncSession, dashboard: Dashboard) -> None:
    await session.delete(dashboard)
    await session.flush()


async def page(
    session: AsyncSession,
    p: Principal,
    text: str | None,
    limit: int,
    after: list[Any] | None,
) -> list[tuple[Dashboard, int]]:
    """Readable dashboards, newest change first, with their node counts (``limit + 1`` rows)."""
    node_count = func.coalesce(func.jsonb_array_length(Dashboard.layout["nodes"]), 0)
    stmt = select(Dashboard, node_count).where(readable(p))
    if text:
        pattern = "%" + escape_like(text) + "%"
        stmt = stmt.where(
            or_(
                Dashboard.title.ilike(pattern, escape="\\"),
                Dashboard.description.ilike(pattern, escape="\\"),
            )
        )
    cols = [Dashboard.updated_at, Dashboard.id]
    if after:
        stmt = stmt.where(keyset_after(cols, after, descending=True))
    stmt = stmt.order_by(Dashboard.updated_at.desc(), Dashboard.id.desc()).limit(limit + 1)
    return [(row[0], int(row[1])) for row in await session.execute(stmt)]


async def user_names(
    session: AsyncSession, user_ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    ids = {u for u in user_ids if u is not None}
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {r[0]: r[1] or r[2] for r in rows}


async def datasets(
    session: AsyncSession, ids: Sequence[uuid.UUID], visible: ColumnElement[bool]
) -> list[Dataset]:
    """The datasets among ``ids`` that ``visible`` (the catalog's readable filter) lets through."""
    if not ids:
        return []
    return list(await session.scalars(select(Dataset).where(Dataset.id.in_(ids), visible)))


async def processes(
    session: AsyncSession, ids: Sequence[uuid.UUID], org_id: uuid.UUID
) -> list[Process]:
    """The processes among ``ids`` that belong to ``org_id`` (lineage shows a process to its
    org only)."""
    if not ids:
        return []
    return list(
        await session.scalars(select(Process).where(Process.id.in_(ids), Process.org_id == org_id))
    )
