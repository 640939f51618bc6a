"""User management rules: who may create, see and change which users."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.passwords import hash_password
from datamesh.auth.principal import Principal
from datamesh.errors import Conflict, Forbidden, NotFound
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.pagination import decode_cursor, split_page
from datamesh.kit.refs import Ref
from datamesh.models.identity import User
from datamesh.orgs import service as orgs
from datamesh.users import repository as repo
from datamesh.users.schemas import UserCreate, UserUpdate

_EVENT = {
    "user.disable": "user.disabled",
    "user.role_change": "user.role_changed",
    "user.update": "user.updated",
}


def ref(user: User) -> Ref:
    return Ref("user", str(user.id), user.email)


def _snapshot(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "is_platform_admin": user.is_platform_admin,
        "org_id": str(user.org_id),
    }


def _may_manage(actor: Principal, org_id: uuid.UUID) -> bool:
    return actor.is_platform_admin or (actor.is_org_admin and actor.org_id == org_id)


async def create_user(
    session: AsyncSession,
    actor: Principal | None,
    data: UserCreate,
    *,
    org_name: str | None = None,
    oidc: tuple[str, str] | None = None,
) -> User:
    """Create a user. ``actor=None`` is the command line or SSO provisioning (trusted)."""
    if actor is None:
        if org_name is not None:
            org_id = (await orgs.get_or_create_by_name(session, org_name)).id
        elif data.org_id is not None:
            org_id = data.org_id
        else:
            raise Conflict("An organization is required.")
    else:
        org_id = data.org_id or actor.org_id
        if not _may_manage(actor, org_id):
            raise Forbidden("Only admins may create users, in their own organization.")
        if not actor.can_grant(data.role):
            raise Forbidden(f"You may not grant the role {data.role!r}.")
        if data.is_platform_admin and not actor.is_platform_admin:
            raise Forbidden("Only platform administrators may create platform administrators.")
        await orgs.get_org(session, actor, org_id)
    if await repo.by_email(session, str(data.email)):
        raise Conflict(f"A user with the email {data.email} already exists.")
    user = await repo.add(
        session,
        User(
            email=str(data.email).lower(),
            name=data.name or str(data.email).split("@")[0],
            password_hash=hash_password(data.password) if data.password else None,
            org_id=org_id,
            role=data.role,
            is_platform_admin=data.is_platform_admin,
            oidc_issuer=oidc[0] if oidc else None,
            oidc_subject=oidc[1] if oidc else None,
        ),
    )
    who = actor.actor() if actor else Actor.system("sso" if oidc else "cli")
    await audit.record(
        session, who, "user.create", ref(user), audit.diff({}, _snapshot(user)), org_id=org_id
    )
    await events.emit(session, "user.created", who, ref(user), {"role": user.role}, org_id=org_id)
    return user


async def get_user(session: AsyncSession, actor: Principal, user_id: uuid.UUID) -> User:
    user = await repo.get(session, user_id)
    if user is None or not (_may_manage(actor, user.org_id) or actor.id == user.id):
        raise NotFound("No such user.")
    return user


async def list_users(
    session: AsyncSession,
    actor: Principal,
    org_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[User], str | None]:
    if not actor.is_platform_admin:
        if not actor.is_org_admin:
            raise Forbidden("Only admins may list users.")
        if org_id is not None and org_id != actor.org_id:
            raise NotFound("No such organization.")
        org_id = actor.org_id
    rows = await repo.page(session, org_id, limit, decode_cursor(cursor, 2))
    return split_page(rows, limit, lambda u: [u.email.lower(), str(u.id)])


async def update_user(
    session: AsyncSession, actor: Principal, user_id: uuid.UUID, data: UserUpdate
) -> User:
    user = await get_user(session, actor, user_id)
    if not _may_manage(actor, user.org_id):
        raise Forbidden("Only admins may change users.")
    if data.role is not None and data.role != user.role and not actor.can_grant(data.role):
        raise Forbidden(f"You may not grant the role {data.role!r}.")
    if user.id == actor.id and (data.disabled or (data.role and data.role != user.role)):
        raise Conflict("You cannot disable yourself or change your own role.")
    before = _snapshot(user)
    end_sessions = False
    if data.name is not None:
        user.name = data.name
    if data.role is not None and data.role != user.role:
        user.role, end_sessions = data.role, True
    if data.disabled is not None and data.disabled != user.disabled:
        user.disabled, end_sessions = data.disabled, end_sessions or data.disabled
    if data.password is not None:
        user.password_hash, end_sessions = hash_password(data.password), True
    if end_sessions:
        user.sessions_valid_after = datetime.now(UTC)
    await session.flush()
    await session.refresh(user)
    changes = audit.diff(before, _snapshot(user))
    if data.password is not None:
        changes["password"] = {"before": None, "after": audit.SECRET_MARK}
    if not changes:
        return user
    action = (
        "user.disable"
        if changes.get("disabled", {}).get("after") is True
        else "user.role_change"
        if "role" in changes
        else "user.update"
    )
    await audit.record(session, actor.actor(), action, ref(user), changes, org_id=user.org_id)
    await events.emit(
        session,
        _EVENT[action],
        actor.actor(),
        ref(user),
        {"fields": sorted(changes)},
        org_id=user.org_id,
    )
    return user


async def disable_user(session: AsyncSession, actor: Principal, user_id: uuid.UUID) -> User:
    return await update_user(session, actor, user_id, UserUpdate(disabled=True))


async def record_login(session: AsyncSession, user: User) -> None:
    user.last_login_at = datetime.now(UTC)
    await session.flush()


async def by_email(session: AsyncSession, email: str) -> User | None:
    return await repo.by_email(session, email)


async def by_oidc(session: AsyncSession, issuer: str, subject: str) -> User | None:
    return await repo.by_oidc(session, issuer, subject)


async def by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await repo.get(session, user_id)


async def display_names(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await repo.names(session, ids) if ids else {}


def to_schema(user: User) -> dict[str, Any]:
    return {
        **{
            c: getattr(user, c)
            for c in (
                "id",
                "email",
                "name",
                "org_id",
                "role",
                "is_platform_admin",
                "disabled",
                "created_at",
                "last_login_at",
            )
        },
        "sso": user.oidc_subject is not None,
    }
