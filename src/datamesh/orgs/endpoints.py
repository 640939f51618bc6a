"""/api/orgs"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from datamesh.auth.deps import CurrentUser, PlatformAdmin
from datamesh.deps import SessionDep
from datamesh.kit.pagination import CursorParam, Limit, Page
from datamesh.orgs import service
from datamesh.orgs.schemas import Org, OrgCreate, OrgUpdate

router = APIRouter(prefix="/api/orgs", tags=["organizations"])


@router.post("", response_model=Org, status_code=status.HTTP_201_CREATED)
async def create_org(data: OrgCreate, actor: PlatformAdmin, session: SessionDep) -> Org:
    """Create an organization (platform administrators)."""
    return Org.model_validate(await service.create_org(session, actor, data))


@router.get("", response_model=Page[Org])
async def list_orgs(
    actor: CurrentUser, session: SessionDep, limit: Limit = 50, cursor: CursorParam = None
) -> Page[Org]:
    """List organizations: all for platform administrators, your own otherwise."""
    rows, next_cursor = await service.list_orgs(session, actor, limit, cursor)
    return Page[Org](items=[Org.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{org_id}", response_model=Org)
async def get_org(org_id: uuid.UUID, actor: CurrentUser, session: SessionDep) -> Org:
    """Get one organization (its members and platform administrators)."""
    return Org.model_validate(await service.get_org(session, actor, org_id))


@router.patch("/{org_id}", response_model=Org)
async def update_org(
    org_id: uuid.UUID, data: OrgUpdate, actor: CurrentUser, session: SessionDep
) -> Org:
    """Change an organization's name (platform administrators), description or settings."""
    return Org.model_validate(await service.update_org(session, actor, org_id, data))


@router.delete("/{org_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_org(org_id: uuid.UUID, actor: CurrentUser, session: SessionDep) -> None:
    """Delete an organization with no users left (platform administrators)."""
    await service.delete_org(session, actor, org_id)
