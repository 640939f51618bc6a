"""/api/dashboards"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from datamesh.auth.deps import CurrentUser
from datamesh.dashboards import service
from datamesh.dashboards.schemas import (
    Dashboard,
    DashboardCreate,
    DashboardDuplicate,
    DashboardList,
    DashboardUpdate,
)
from datamesh.deps import SessionDep
from datamesh.errors import PROBLEM_JSON
from datamesh.kit.pagination import CursorParam

router = APIRouter(prefix="/api/dashboards", tags=["dashboards"])


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}  # added to the document by app.py


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Document the problem+json answers an operation may give besides the usual ones."""
    described = {
        400: "The cursor is not valid.",
        412: "Stale If-Match: the dashboard changed since you read it (ETag: the current one).",
        428: "If-Match is missing.",
    }
    return {
        c: {
            "description": described[c],
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
        }
        for c in codes
    }


IfMatch = Annotated[
    str | None,
    Header(max_length=200, description='The ETag you read, e.g. "3"; required (428 without it).'),
]


@router.post("", response_model=Dashboard, status_code=status.HTTP_201_CREATED)
async def create_dashboard(
    data: DashboardCreate, principal: CurrentUser, session: SessionDep, response: Response
) -> Dashboard:
    """Create a dashboard in your organization (producers, stewards and admins)."""
    d = await service.create(session, principal, data)
    response.headers["ETag"] = service.etag(d)
    return await service.to_schema(session, principal, d)


@router.get("", response_model=DashboardList, responses=_problems(400))
async def list_dashboards(
    principal: CurrentUser,
    session: SessionDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the title or description.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: CursorParam = None,
) -> DashboardList:
    """Dashboards you may see, most recently changed first."""
    return await service.search(session, principal, q, limit, cursor)


@router.get("/{dashboard_id}", response_model=Dashboard)
async def get_dashboard(
    dashboard_id: uuid.UUID, principal: CurrentUser, session: SessionDep, response: Response
) -> Dashboard:
    """A dashboard, its refs resolved for you (404 if it is missing or hidden from you)."""
    d = await service.get(session, principal, dashboard_id)
    response.headers["ETag"] = service.etag(d)
    return await service.to_schema(session, principal, d)


@router.patch("/{dashboard_id}", response_model=Dashboard, responses=_problems(412, 428))
async def update_dashboard(
    dashboard_id: uuid.UUID,
    data: DashboardUpdate,
    principal: CurrentUser,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> Dashboard:
    """Save changes (any of title, description, visibility, layout); If-Match is required."""
    d = await service.update(session, principal, dashboard_id, data, if_match)
    response.headers["ETag"] = service.etag(d)
    return await service.to_schema(session, principal, d)


@router.delete("/{dashboard_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_dashboard(
    dashboard_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> Response:
    """Delete a dashboard (its creator, and the organization's admins and stewards)."""
    await service.delete(session, principal, dashboard_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{dashboard_id}/duplicate", response_model=Dashboard, status_code=status.HTTP_201_CREATED
)
async def duplicate_dashboard(
    dashboard_id: uuid.UUID,
    principal: CurrentUser,
    session: SessionDep,
    response: Response,
    data: DashboardDuplicate | None = None,
) -> Dashboard:
    """Copy a dashboard you may see into your organization, as yours."""
    d = await service.duplicate(session, principal, dashboard_id, data or DashboardDuplicate())
    response.headers["ETag"] = service.etag(d)
    return await service.to_schema(session, principal, d)
