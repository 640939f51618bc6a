"""SQL for platform profiles: what the caller may see (``readable``), defaults, pages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.db import Compiled, compiled
from datamesh.errors import Conflict
from datamesh.kit.pagination import after as keyset_after
from datamesh.models.catalog import Dataset
from datamesh.models.connect import PlatformProfile

_UNIQUE_MESSAGES = {
    "uq_platform_profiles_user_name": "You already have a profile named {name!r}.",
    "uq_platform_profiles_org_name": "Your organization already has a profile named {name!r}.",
    "uq_platform_profiles_user_default": "Another default was set at the same time; try again.",
    "uq_platform_profiles_org_default": "Another default was set at the same time; try again.",
}


def readable(p: Principal) -> ColumnElement[bool]:
    """The caller's own profiles and the org-wide profiles of the caller's organization."""
    return _readable(p.org_id, p.user_id)


def _readable(org: Any, user: Any) -> ColumnElement[bool]:
    """:func:`readable` for an org and a user given as values or as bound parameters."""
    own = (
        and_(PlatformProfile.scope == "user", PlatformProfile.owner_id == user)
        if user is not None
        else false()
    )
    return or_(own, and_(PlatformProfile.scope == "org", PlatformProfile.org_id == org))


async def get(
    session: AsyncSession, p: Principal, profile_id: uuid.UUID, *, for_update: bool = False
) -> PlatformProfile | None:
    stmt = select(PlatformProfile).where(PlatformProfile.id == profile_id, readable(p))
    if for_update:
        stmt = stmt.with_for_update()
    found: PlatformProfile | None = await session.scalar(stmt)
    return found


async def default_for(session: AsyncSession, p: Principal, platform: str) -> PlatformProfile | None:
    """The caller's default for the platform, else the organization's: one query."""
    found: PlatformProfile | None = await session.scalar(
        select(PlatformProfile)
        .where(readable(p), PlatformProfile.platform == platform, PlatformProfile.is_default)
        .order_by(case((PlatformProfile.scope == "user", 0), else_=1))
        .limit(1)
    )
    return found


# What Connect reads of a dataset: where it lives and what it holds, not its profile's text.
_DATASET_COLUMNS = (
    Dataset.id,
    Dataset.org_id,
    Dataset.namespace,
    Dataset.name,
    Dataset.display_name,
    Dataset.platform,
    Dataset.status,
    Dataset.source_database,
    Dataset.source_schema,
    Dataset.source_table,
    Dataset.source_path,
    Dataset.fields,
)


def _canonical(platform: Any, aliases: dict[str, str]) -> ColumnElement[str]:
    """``canonical_platform`` in SQL: trimmed (of spaces), lower case, then the aliases."""
    key = func.lower(func.btrim(platform))
    if not aliases:
        return key
    return case(*((key == a, literal(t)) for a, t in sorted(aliases.items())), else_=key)


def _context_statement(
    owner: bool, elevated: bool, user: bool, by_id: bool, lock: bool, aliases: dict[str, str]
) -> Select[Any]:
    """:func:`connect_context`'s statement for one shape of viewer and request; who, which
    dataset, which profile and the lock's key are bound parameters."""
    org = bindparam("viewer_org", type_=Uuid())
    chosen = (
        PlatformProfile.id == bindparam("profile_id", type_=Uuid())
        if by_id
        else and_(
            PlatformProfile.platform == _canonical(Dataset.platform, aliases),
            PlatformProfile.is_default,
        )
    )
    profile = (
        select(
            PlatformProfile.id.label("profile_id"),
            PlatformProfile.name.label("profile_name"),
            PlatformProfile.scope.label("profile_scope"),
            PlatformProfile.platform.label("profile_platform"),
            PlatformProfile.settings.label("profile_settings"),
            PlatformProfile.secrets.label("profile_secrets"),
        )
        .where(_readable(org, bindparam("viewer_user", type_=Uuid()) if user else None), chosen)
        .order_by(case((PlatformProfile.scope == "user", 0), else_=1))
        .limit(1)
        .lateral("profile")
    )
    dataset_readable = catalog.readable_bound(
        Dataset, org, bindparam("viewer_owner", type_=Uuid()) if owner else None, elevated
    )
    stmt = (
        select(*_DATASET_COLUMNS, *profile.c)
        .select_from(Dataset)
        .outerjoin(profile, true())
        .where(Dataset.id == bindparam("dataset_id", type_=Uuid()), dataset_readable)
    )
    if lock:
        key = bindparam("lock_key", type_=String())
        stmt = stmt.add_columns(
            func.pg_advisory_xact_lock(func.hashtextextended(key, 0)).label("locked")
        )
    return stmt


_CONTEXT_SQL: dict[tuple[bool, ...], Compiled] = {}


async def connect_context(
    session: AsyncSession,
    p: Principal,
    dataset_id: uuid.UUID,
    profile_id: uuid.UUID | None,
    aliases: dict[str, str],
    lock_key: str | None = None,
) -> Row[Any] | None:
    """What a Connect needs, in one round trip: the dataset if the caller may see it (the
    catalog's rule; else no row); the profile asked for, else the caller's default for the
    dataset's platform, else the organization's (``profile_*`` columns, NULL when none is
    readable); with ``lock_key``, the advisory lock
    ``pg_advisory_xact_lock(hashtextextended(lock_key, 0))``, taken once the row is found
    (for ``events.emit(..., once_within=..., window_locked=True)``: the feed's window check).

    Compiled once per shape and sent as SQL, like the catalog's profile read: no statement
    built, cache key computed or ORM instance loaded per Connect (computing this statement's
    cache key was ~10 % of the server's CPU under 16 clients). ``aliases`` is constant
    (the renderer's), so it is not part of the shape."""
    owner, elevated = catalog.readable_viewer(p)
    shape = (
        owner is not None,
        elevated,
        p.user_id is not None,
        profile_id is not None,
        lock_key is not None,
    )
    conn = await session.connection()
    statement = compiled(_CONTEXT_SQL, shape, lambda: _context_statement(*shape, aliases), conn)
    values = {
        "viewer_org": p.org_id,
        "viewer_user": p.user_id,
        "viewer_owner": owner,
        "dataset_id": dataset_id,
        "profile_id": profile_id,
        "lock_key": lock_key,
    }
    return await statement.first(conn, values)


def _same_slot(profile: PlatformProfile) -> list[ColumnElement[bool]]:
    """Profiles competing with this one for "the default": same owner (or org), same platform."""
    conds = [PlatformProfile.platform == profile.platform, PlatformProfile.scope == profile.scope]
    if profile.scope == "user":
        conds.append(PlatformProfile.owner_id == profile.owner_id)
    else:
        conds.append(PlatformProfile.org_id == profile.org_id)
    return conds


async def lock_default_slot(session: AsyncSession, profile: PlatformProfile) -> None:
    """Serialise changes of "the default" for this profile's owner (or org) and platform until
    the end of the transaction, so concurrent changes queue (the last one wins) instead of
    failing on the one-default index."""
    owner = profile.owner_id if profile.scope == "user" else profile.org_id
    key = f"datamesh.platform_profile_default:{profile.scope}:{owner}:{profile.platform}"
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def has_default(session: AsyncSession, profile: PlatformProfile) -> bool:
    found = await session.scalar(
        select(PlatformProfile.id).where(*_same_slot(profile), PlatformProfile.is_default).limit(1)
    )
    return found is not None


async def clear_default(session: AsyncSession, profile: PlatformProfile) -> list[uuid.UUID]:
    """Unset the default among this profile's competitors; returns the ids that lost it."""
    rows = await session.scalars(
        update(PlatformProfile)
        .where(*_same_slot(profile), PlatformProfile.is_default, PlatformProfile.id != profile.id)
        .values(is_default=False, updated_at=func.now())
        .returning(PlatformProfile.id)
        .execution_options(synchronize_session=False)
    )
    return list(rows)


async def name_taken(
    session: AsyncSession, profile: PlatformProfile, name: str, exclude: uuid.UUID | None = None
) -> bool:
    conds: list[ColumnElement[bool]] = [
        PlatformProfile.scope == profile.scope,
        func.lower(PlatformProfile.name) == name.lower(),
    ]
    if profile.scope == "user":
        conds.append(PlatformProfile.owner_id == profile.owner_id)
    else:
        conds.append(PlatformProfile.org_id == profile.org_id)
    if exclude is not None:
        conds.append(PlatformProfile.id != exclude)
    return (await session.scalar(select(PlatformProfile.id).where(*conds).limit(1))) is not None


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        for index, message in _UNIQUE_MESSAGES.items():
            if index in str(exc.orig):
                raise Conflict(message.format(name=name)) from None
        raise


async def add(session: AsyncSession, profile: PlatformProfile) -> PlatformProfile:
    session.add(profile)
    await _flush_unique(session, profile.name)
    await session.refresh(profile)
    return profile


async def save(session: AsyncSession, profile: PlatformProfile) -> PlatformProfile:
    await _flush_unique(session, profile.name)
    await session.refresh(profile)
    return profile


async def delete(session: AsyncSession, profile: PlatformProfile) -> None:
    await session.delete(profile)
    await session.flush()


async def page(
    session: AsyncSession,
    p: Principal,
    *,
    platform: str | None,
    scope: str | None,
    after: Sequence[Any] | None,
    limit: int,
) -> list[PlatformProfile]:
    """Readable profiles by name (case-insensitive), then id; ``limit + 1`` rows."""
    columns: list[Any] = [func.lower(PlatformProfile.name), PlatformProfile.id]
    stmt = select(PlatformProfile).where(readable(p))
    if platform:
        stmt = stmt.where(PlatformProfile.platform == platform)
    if scope:
        stmt = stmt.where(PlatformProfile.scope == scope)
    if after is not None:
        stmt = stmt.where(keyset_after(columns, after))
    return list(await session.scalars(stmt.order_by(*columns).limit(limit + 1)))
