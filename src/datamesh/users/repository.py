"""SQL for users."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.kit.pagination import after as keyset_after
from datamesh.models.identity import User


async def get(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def by_email(session: AsyncSession, email: str) -> User | None:
    found: User | None = await session.scalar(
        select(User).where(func.lower(User.email) == email.lower())
    )
    return found


async def by_oidc(session: AsyncSession, issuer: str, subject: str) -> User | None:
    found: User | None = await session.scalar(
        select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
    )
    return found


async def add(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    await session.refresh(user)
    return user


async def page(
    session: AsyncSession, org_id: uuid.UUID | None, limit: int, after: list[str] | None
) -> list[User]:
    stmt = select(User).order_by(func.lower(User.email), User.id)
    if org_id is not None:
        stmt = stmt.where(User.org_id == org_id)
    if after is not None:
        stmt = stmt.where(keyset_after([func.lower(User.email), User.id], after))
    return list(await session.scalars(stmt.limit(limit + 1)))


async def names(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {r[0]: r[1] or r[2] for r in rows}
