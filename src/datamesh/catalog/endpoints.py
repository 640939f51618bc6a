"""/api/datasets"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status

from datamesh.auth.deps import CurrentUser
from datamesh.catalog import service
from datamesh.catalog.repository import SearchQuery
from datamesh.catalog.schemas import (
    Dataset,
    DatasetCreate,
    DatasetSummary,
    DatasetUpdate,
    FacetCount,
    Facets,
    SchemaVersionOut,
    SearchResult,
)
from datamesh.deps import SessionDep
from datamesh.kit.pagination import CursorParam, Page

router = APIRouter(prefix="/api/datasets", tags=["catalog"])

IfMatch = Annotated[
    str | None, Header(max_length=200, description="The ETag you read; 412 if it changed since.")
]


@router.post("", response_model=Dataset, status_code=status.HTTP_201_CREATED)
async def publish(
    data: DatasetCreate, principal: CurrentUser, session: SessionDep, response: Response
) -> Dataset:
    """Publish a dataset profile (producers and admins)."""
    ds = await service.publish(session, principal, data)
    response.headers["ETag"] = service.etag(ds)
    return service.to_schema(await service.view(session, ds, principal))


@router.get("", response_model=SearchResult)
async def search(
    principal: CurrentUser,
    session: SessionDep,
    query: Annotated[
        str | None,
        Query(max_length=200, description='Text; web-search syntax: "exact phrase", or, -exclude.'),
    ] = None,
    platform: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006 - FastAPI copies it
    domain: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    tag: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    org: Annotated[list[uuid.UUID], Query(max_length=20)] = [],  # noqa: B006
    owner: Annotated[list[uuid.UUID], Query(max_length=20)] = [],  # noqa: B006
    visibility: Annotated[list[Literal["public", "internal", "private"]], Query(max_length=3)] = [],  # noqa: B006
    status_: Annotated[
        list[Literal["active", "deprecated", "removed"]], Query(alias="status", max_length=3)
    ] = ["active"],  # noqa: B006
    sort: Literal["relevance", "updated", "name"] = "relevance",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: CursorParam = None,
) -> SearchResult:
    """Search datasets by text and filters; only what you may see is returned or counted."""
    q = SearchQuery(
        text=(query or "").strip() or None,
        platform=[p.lower() for p in platform],
        domain=domain,
        tag=[t.lower() for t in tag],
        org=org,
        owner=owner,
        visibility=list(visibility),
        status=list(status_),
        sort=sort,
        limit=limit,
    )
    out = await service.search(session, principal, q, cursor)
    return SearchResult(
        items=[
            DatasetSummary.model_validate(
                {
                    **{
                        c: getattr(ds, c)
                        for c in (
                            "id",
                            "namespace",
                            "name",
                            "display_name",
                            "description",
                            "platform",
                            "domain",
                            "tags",
                            "visibility",
                            "status",
                            "updated_at",
                        )
                    },
                    "description": ds.description[:300],
                    "org": {"id": ds.org_id, "name": out.org_names.get(ds.org_id, "")},
                    "score": round(score, 4) if score is not None else None,
                }
            )
            for ds, score in out.items
        ],
        next_cursor=out.next_cursor,
        total=out.total,
        total_is_lower_bound=out.total_is_lower_bound,
        facets=Facets(
            **{
                k: [FacetCount(value=v, count=c, label=label) for v, c, label in vals]
                for k, vals in out.facets.items()
            }
        ),
    )


@router.get("/{dataset_id}", response_model=Dataset)
async def get_dataset(
    dataset_id: uuid.UUID, principal: CurrentUser, session: SessionDep, response: Response
) -> Dataset:
    """Get a dataset profile (404 if it does not exist or you may not see it)."""
    v = await service.get_view(session, principal, dataset_id)
    response.headers["ETag"] = service.etag(v.dataset)
    return service.to_schema(v)


@router.get("/{dataset_id}/schema/versions", response_model=Page[SchemaVersionOut])
async def list_schema_versions(
    dataset_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> Page[SchemaVersionOut]:
    """The dataset's schema versions as crawls and imports saw them, newest first (last 50)."""
    rows = await service.list_schema_versions(session, principal, dataset_id)
    return Page[SchemaVersionOut](items=[SchemaVersionOut.model_validate(r) for r in rows])


@router.patch("/{dataset_id}", response_model=Dataset)
async def update_dataset(
    dataset_id: uuid.UUID,
    data: DatasetUpdate,
    principal: CurrentUser,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> Dataset:
    """Change a dataset profile (only the fields given); send If-Match to avoid lost updates."""
    ds = await service.update(session, principal, dataset_id, data, if_match)
    response.headers["ETag"] = service.etag(ds)
    return service.to_schema(await service.view(session, ds, principal))


@router.delete("/{dataset_id}", response_model=Dataset)
async def deprecate_dataset(
    dataset_id: uuid.UUID,
    principal: CurrentUser,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> Dataset:
    """Deprecate a dataset: it leaves default search (owners, admins, stewards)."""
    ds = await service.deprecate(session, principal, dataset_id, if_match)
    response.headers["ETag"] = service.etag(ds)
    return service.to_schema(await service.view(session, ds, principal))


@router.post(
    "/{dataset_id}/refresh",
    response_model=Dataset,
    responses={502: {"description": "The bound PostgreSQL node could not be read."}},
)
async def refresh_schema(
    dataset_id: uuid.UUID,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    response: Response,
) -> Dataset:
    """Read the dataset's columns from the PostgreSQL node it is bound to and update its fields."""
    ds = await service.refresh_schema(
        session, principal, dataset_id, request.app.state.connector_runtime
    )
    response.headers["ETag"] = service.etag(ds)
    return service.to_schema(await service.view(session, ds, principal))
