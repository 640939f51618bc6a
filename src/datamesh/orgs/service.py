"""Organization rules: platform admins manage orgs; members see their own; others get 404."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.errors import Conflict, Forbidden, NotFound
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.pagination import decode_cursor, split_page
from datamesh.kit.refs import Ref
from datamesh.kit.text import slugify
from datamesh.models.identity import Organization
from datamesh.orgs import repository as repo
from datamesh.orgs.schemas import OrgCreate, OrgSettings, OrgUpdate


def _ref(org: Organization) -> Ref:
    return Ref("org", str(org.id), org.name)


def _snapshot(org: Organization) -> dict[str, Any]:
    return {"name": org.name, "description": org.description, "settings": org.settings}


async def create_org(
    session: AsyncSession, actor: Principal | None, data: OrgCreate
) -> Organization:
    """Create an org (platform admins; ``actor=None`` is the command line)."""
    if actor is not None and not actor.is_platform_admin:
        raise Forbidden("Only platform administrators may create organizations.")
    if await repo.by_name(session, data.name):
        raise Conflict(f"An organization named {data.name!r} already exists.")
    slug = data.slug or slugify(data.name)
    if await repo.slug_taken(session, slug):
        if data.slug:
            raise Conflict(f"The slug {slug!r} is taken.")
        slug = f"{slug[:90]}-{uuid.uuid4().hex[:6]}"
    org = await repo.add(
        session,
        Organization(
            name=data.name,
            slug=slug,
            description=data.description,
            settings=data.settings.model_dump(),
        ),
    )
    who = actor.actor() if actor else Actor.system("cli")
    await audit.record(
        session, who, "org.create", _ref(org), audit.diff({}, _snapshot(org)), org_id=org.id
    )
    await events.emit(session, "org.created", who, _ref(org), {"name": org.name}, org_id=org.id)
    return org


async def get_or_create_by_name(session: AsyncSession, name: str) -> Organization:
    return await repo.by_name(session, name) or await create_org(
        session, None, OrgCreate(name=name)
    )


async def get_org(session: AsyncSession, actor: Principal, org_id: uuid.UUID) -> Organization:
    org = await repo.get(session, org_id)
    if org is None or not (actor.is_platform_admin or actor.org_id == org.id):
        raise NotFound("No such organization.")
    return org


async def org_settings(session: AsyncSession, org_id: uuid.UUID) -> OrgSettings:
    org = await repo.get(session, org_id)
    return OrgSettings.model_validate(org.settings if org else {})


async def list_orgs(
    session: AsyncSession, actor: Principal, limit: int, cursor: str | None
) -> tuple[list[Organization], str | None]:
    after = decode_cursor(cursor, 2)
    rows = await repo.page(
        session,
        limit,
        (after[0], after[1]) if after else None,
        None if actor.is_platform_admin else actor.org_id,
    )
    return split_page(rows, limit, lambda o: [o.name.lower(), str(o.id)])


async def update_org(
    session: AsyncSession, actor: Principal, org_id: uuid.UUID, data: OrgUpdate
) -> Organization:
    org = await get_org(session, actor, org_id)
    if not (actor.is_platform_admin or actor.is_org_admin):
        raise Forbidden("Only platform administrators and the org's admins may change it.")
    if data.name is not None and not actor.is_platform_admin:
        raise Forbidden("Only platform administrators may rename an organization.")
    before = _snapshot(org)
    if data.name is not None and data.name != org.name:
        other = await repo.by_name(session, data.name)
        if other is not None and other.id != org.id:
            raise Conflict(f"An organization named {data.name!r} already exists.")
        org.name = data.name
    if data.description is not None:
        org.description = data.description
    if data.settings is not None:
        org.settings = data.settings.model_dump()
    await session.flush()
    await session.refresh(org)
    changes = audit.diff(before, _snapshot(org))
    if changes:
        await audit.record(session, actor.actor(), "org.update", _ref(org), changes, org_id=org.id)
        await events.emit(
            session,
            "org.updated",
            actor.actor(),
            _ref(org),
            {"fields": sorted(changes)},
            org_id=org.id,
        )
    return org


async def delete_org(session: AsyncSession, actor: Principal, org_id: uuid.UUID) -> None:
    if not actor.is_platform_admin:
        raise (
            NotFound("No such organization.")
            if actor.org_id != org_id
            else Forbidden("Only platform administrators may delete organizations.")
        )
    org = await get_org(session, actor, org_id)
    if await repo.member_count(session, org.id):
        raise Conflict("The organization still has users; disable or move them first.")
    ref = _ref(org)
    await audit.record(
        session, actor.actor(), "org.delete", ref, audit.diff(_snapshot(org), {}), org_id=org.id
    )
    await events.emit(session, "org.deleted", actor.actor(), ref, {"name": org.name}, org_id=org.id)
    await repo.delete(session, org)
