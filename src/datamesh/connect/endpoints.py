"""/api/platform-profiles (your connection settings per platform) and
/api/datasets/{id}/connect (working code for a dataset)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status

from datamesh.auth.deps import CurrentUser
from datamesh.connect import service
from datamesh.connect.schemas import (
    ConnectRequest,
    ConnectResult,
    Kind,
    PlatformName,
    PlatformProfile,
    PlatformProfileCreate,
    PlatformProfileUpdate,
    Scope,
)
from datamesh.connectors.service import Runtime
from datamesh.deps import SessionDep
from datamesh.kit.pagination import CursorParam, Limit, Page

router = APIRouter(prefix="/api")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.connector_runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]

_PROFILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "A profile with that name exists already."},
    422: {"description": "Invalid settings or a raw secret, with the path of each bad field."},
}
_CONNECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such dataset (or you may not see it), or no such profile."},
    409: {"description": "The profile or the asked platform is not the dataset's platform."},
}


def _out(profile: object) -> PlatformProfile:
    return PlatformProfile.model_validate(profile)


# -- platform profiles --------------------------------------------------------------------------
@router.get("/platform-profiles", response_model=Page[PlatformProfile], tags=["connect"])
async def list_profiles(
    actor: CurrentUser,
    session: SessionDep,
    platform: Annotated[str | None, Query(max_length=40, description="Only this platform.")] = None,
    scope: Annotated[Scope | None, Query(description="user: yours; org: org-wide.")] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[PlatformProfile]:
    """List your platform profiles and your organization's org-wide ones, by name."""
    rows, next_cursor = await service.list_profiles(
        session, actor, platform=platform, scope=scope, limit=limit, cursor=cursor
    )
    return Page[PlatformProfile](items=[_out(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/platform-profiles",
    response_model=PlatformProfile,
    status_code=status.HTTP_201_CREATED,
    tags=["connect"],
    responses=_PROFILE_RESPONSES,
)
async def create_profile(
    data: PlatformProfileCreate, actor: CurrentUser, session: SessionDep
) -> PlatformProfile:
    """Create a platform profile: settings and secret references (org-wide: org admins)."""
    return _out(await service.create_profile(session, actor, data))


@router.get("/platform-profiles/{profile_id}", response_model=PlatformProfile, tags=["connect"])
async def get_profile(
    profile_id: uuid.UUID, actor: CurrentUser, session: SessionDep
) -> PlatformProfile:
    """Get one of your platform profiles or an org-wide one."""
    return _out(await service.get_profile(session, actor, profile_id))


@router.patch(
    "/platform-profiles/{profile_id}",
    response_model=PlatformProfile,
    tags=["connect"],
    responses=_PROFILE_RESPONSES,
)
async def update_profile(
    profile_id: uuid.UUID, data: PlatformProfileUpdate, actor: CurrentUser, session: SessionDep
) -> PlatformProfile:
    """Change a profile's name, settings, secret references or default flag."""
    return _out(await service.update_profile(session, actor, profile_id, data))


@router.post(
    "/platform-profiles/{profile_id}/default", response_model=PlatformProfile, tags=["connect"]
)
async def make_default(
    profile_id: uuid.UUID, actor: CurrentUser, session: SessionDep
) -> PlatformProfile:
    """Make a profile the default for its platform (the previous default stops being one)."""
    return _out(await service.make_default(session, actor, profile_id))


@router.delete(
    "/platform-profiles/{profile_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["connect"]
)
async def delete_profile(profile_id: uuid.UUID, actor: CurrentUser, session: SessionDep) -> None:
    """Delete a platform profile."""
    await service.delete_profile(session, actor, profile_id)


# -- Connect ------------------------------------------------------------------------------------
@router.get(
    "/datasets/{dataset_id}/connect",
    response_model=ConnectResult,
    tags=["connect"],
    responses=_CONNECT_RESPONSES,
)
async def preview_connect(
    dataset_id: uuid.UUID,
    actor: CurrentUser,
    session: SessionDep,
    profile_id: Annotated[uuid.UUID | None, Query(description="As in the POST.")] = None,
    platform: Annotated[PlatformName | None, Query(description="As in the POST.")] = None,
    kinds: Annotated[list[Kind] | None, Query(max_length=20, description="As in the POST.")] = None,
) -> ConnectResult:
    """Show the connection code for a dataset without connecting: nothing is recorded."""
    req = ConnectRequest(profile_id=profile_id, platform=platform, kinds=kinds)
    return await service.preview(session, actor, dataset_id, req)


@router.post(
    "/datasets/{dataset_id}/connect",
    response_model=ConnectResult,
    tags=["connect"],
    responses=_CONNECT_RESPONSES,
)
async def connect(
    dataset_id: uuid.UUID,
    actor: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    data: ConnectRequest | None = None,
) -> ConnectResult:
    """Connect: take a dataset's code (copy, download) or test it; recorded, unlike the GET."""
    return await service.connect(session, actor, runtime, dataset_id, data or ConnectRequest())
