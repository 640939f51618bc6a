"""SQL for organizations."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.kit.pagination import after as keyset_after
from datamesh.models.identity import Organization, User


async def get(session: AsyncSession, org_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, org_id)


async def by_name(session: AsyncSession, name: str) -> Organization | None:
    found: Organization | None = await session.scalar(
        select(Organization).where(func.lower(Organization.name) == name.lower())
    )
    return found


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    return (
        await session.scalar(select(Organization.id).where(Organization.slug == slug))
    ) is not None


async def add(session: AsyncSession, org: Organization) -> Organization:
    session.add(org)
    await session.flush()
    await session.refresh(org)
    return org


async def page(
    session: AsyncSession, limit: int, after: tuple[str, str] | None, only: uuid.UUID | None
) -> list[Organization]:
    stmt = select(Organization).order_by(func.lower(Organization.name), Organization.id)
    if only is not None:
        stmt = stmt.where(Organization.id == only)
    if after is not None:
        stmt = stmt.where(
            keyset_after([func.lower(Organization.name), Organization.id], [after[0], after[1]])
        )
    return list(await session.scalars(stmt.limit(limit + 1)))


async def member_count(session: AsyncSession, org_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).where(User.org_id == org_id)) or 0)


async def delete(session: AsyncSession, org: Organization) -> None:
    await session.delete(org)
    await session.flush()
