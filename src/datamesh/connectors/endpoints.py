"""/api/connectors (the types DataMesh knows) and /api/nodes (configured connections)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status

from datamesh.auth.deps import CurrentUser, require_role
from datamesh.auth.principal import Principal
from datamesh.connectors import crawls, service
from datamesh.connectors.repository import NodeFilters
from datamesh.connectors.schemas import (
    ConnectionTest,
    Connector,
    ConnectorDetail,
    Crawl,
    LastCrawl,
    Node,
    NodeCheck,
    NodeConnectionTest,
    NodeCreate,
    NodeSort,
    NodeStatus,
    NodeUpdate,
    TestResult,
)
from datamesh.connectors.service import Runtime
from datamesh.deps import SessionDep
from datamesh.kit.pagination import CursorParam, Limit, Page

router = APIRouter(prefix="/api")

Admin = Annotated[Principal, Depends(require_role("admin"))]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.connector_runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]

_TEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The test ran (or the type has none: status unknown)."},
    422: {"description": "Invalid settings, with the path of each bad field."},
}


# -- connector types ---------------------------------------------------------------------------
@router.get("/connectors", response_model=Page[Connector], tags=["connectors"])
async def list_connectors(actor: CurrentUser) -> Page[Connector]:
    """List connector types with their capabilities, secret fields and config schema link."""
    return Page[Connector](items=service.list_connectors())


@router.get("/connectors/{type_id}", response_model=ConnectorDetail, tags=["connectors"])
async def get_connector(type_id: str, actor: CurrentUser) -> ConnectorDetail:
    """Get one connector type with the JSON Schema of its config."""
    return service.get_connector(type_id)


@router.post(
    "/connectors/{type_id}/test",
    response_model=TestResult,
    tags=["connectors"],
    responses=_TEST_RESPONSES,
)
async def test_connector(
    type_id: str, data: ConnectionTest, actor: Admin, session: SessionDep, runtime: RuntimeDep
) -> TestResult:
    """Test unsaved settings of a connector type (admins)."""
    return await service.run_settings_test(
        session, actor, runtime, type_id, data.config, data.secrets
    )


# -- nodes -------------------------------------------------------------------------------------
def _out(node: object, crawl: Any = None) -> Node:
    out = Node.model_validate(node)
    if crawl is not None:
        out.last_crawl = LastCrawl(
            id=crawl.id,
            status=crawl.status,
            finished_at=crawl.finished_at,
            counts=dict(crawl.counts or {}),
            errors=len(crawl.errors or []),
        )
    return out


@router.get("/nodes", response_model=Page[Node], tags=["nodes"])
async def list_nodes(
    actor: CurrentUser,
    session: SessionDep,
    type: Annotated[str | None, Query(max_length=50, description="Connector type.")] = None,
    status: NodeStatus | None = None,
    tag: Annotated[str | None, Query(max_length=64, description="Exact tag.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in name or tags.")] = None,
    sort: Annotated[
        NodeSort, Query(description="name (A-Z), updated (newest first), status (error first).")
    ] = "name",
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> Page[Node]:
    """List your organization's nodes, filtered and sorted."""
    filters = NodeFilters(type=type, status=status, tag=tag, q=q.strip() if q else None)
    rows, next_cursor = await service.list_nodes(session, actor, filters, sort, limit, cursor)
    latest = await crawls.latest_crawls(session, [n.id for n in rows])
    return Page[Node](items=[_out(n, latest.get(n.id)) for n in rows], next_cursor=next_cursor)


@router.post("/nodes", response_model=Node, status_code=status.HTTP_201_CREATED, tags=["nodes"])
async def create_node(data: NodeCreate, actor: Admin, session: SessionDep) -> Node:
    """Register a node: a connection of a connector type, with secret references (admins)."""
    return _out(await service.create_node(session, actor, data))


@router.post(
    "/nodes/test",
    response_model=TestResult,
    tags=["nodes"],
    responses=_TEST_RESPONSES,
)
async def test_unsaved_node(
    data: NodeConnectionTest, actor: Admin, session: SessionDep, runtime: RuntimeDep
) -> TestResult:
    """Test a node's settings without saving them (admins)."""
    return await service.run_settings_test(
        session, actor, runtime, data.type, data.config, data.secrets, type_field="type"
    )


@router.get("/nodes/{node_id}", response_model=Node, tags=["nodes"])
async def get_node(node_id: uuid.UUID, actor: CurrentUser, session: SessionDep) -> Node:
    """Get one node with its health and latest crawl."""
    node = await service.get_node(session, actor, node_id)
    latest = await crawls.latest_crawls(session, [node.id])
    return _out(node, latest.get(node.id))


@router.patch("/nodes/{node_id}", response_model=Node, tags=["nodes"])
async def update_node(
    node_id: uuid.UUID, data: NodeUpdate, actor: CurrentUser, session: SessionDep
) -> Node:
    """Change a node's name, settings, secret references, tags or check interval (admins)."""
    return _out(await service.update_node(session, actor, node_id, data))


@router.delete("/nodes/{node_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["nodes"])
async def delete_node(node_id: uuid.UUID, actor: CurrentUser, session: SessionDep) -> None:
    """Delete a node and its check history (admins)."""
    await service.delete_node(session, actor, node_id)


@router.post("/nodes/{node_id}/test", response_model=TestResult, tags=["nodes"])
async def test_node(
    node_id: uuid.UUID, actor: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> TestResult:
    """Test a saved node's connection now and record its health (members)."""
    return await service.run_node_test(session, actor, runtime, node_id)


@router.get("/nodes/{node_id}/checks", response_model=Page[NodeCheck], tags=["nodes"])
async def list_node_checks(
    node_id: uuid.UUID, actor: CurrentUser, session: SessionDep
) -> Page[NodeCheck]:
    """The node's latest connection checks, newest first (at most 50 are kept)."""
    rows = await service.list_checks(session, actor, node_id)
    return Page[NodeCheck](items=[NodeCheck.model_validate(r) for r in rows])


# -- crawls ------------------------------------------------------------------------------------
def _crawl_out(crawl: Any) -> Crawl:
    return Crawl.model_validate(
        {
            "id": crawl.id,
            "node_id": crawl.node_id,
            "status": crawl.status,
            "trigger": crawl.trigger,
            "requested_by": crawl.requested_by_name,
            "created_at": crawl.created_at,
            "started_at": crawl.started_at,
            "finished_at": crawl.finished_at,
            "counts": crawl.counts or {},
            "errors": crawl.errors or [],
            "progress": crawl.progress or {},
        }
    )


@router.post(
    "/nodes/{node_id}/crawl",
    response_model=Crawl,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["nodes"],
    responses={409: {"description": "This connector type cannot crawl."}},
)
async def crawl_node(
    node_id: uuid.UUID, request: Request, actor: CurrentUser, session: SessionDep
) -> Crawl:
    """Queue a crawl of the node (admins, stewards); one already queued or running is returned."""
    crawl = await crawls.request_crawl(session, actor, node_id)
    out = _crawl_out(crawl)
    await session.commit()  # the worker must see it when woken
    worker = getattr(request.app.state, "crawl_worker", None)
    if worker is not None:
        worker.wake()
    return out


@router.get("/nodes/{node_id}/crawls", response_model=Page[Crawl], tags=["nodes"])
async def list_node_crawls(
    node_id: uuid.UUID,
    actor: CurrentUser,
    session: SessionDep,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Page[Crawl]:
    """The node's crawls, newest first (members)."""
    rows, next_cursor = await crawls.list_crawls(session, actor, node_id, limit, cursor)
    return Page[Crawl](items=[_crawl_out(c) for c in rows], next_cursor=next_cursor)


@router.get("/nodes/{node_id}/crawls/{crawl_id}", response_model=Crawl, tags=["nodes"])
async def get_node_crawl(
    node_id: uuid.UUID, crawl_id: uuid.UUID, actor: CurrentUser, session: SessionDep
) -> Crawl:
    """One crawl of the node: status, counts, errors and progress (members)."""
    return _crawl_out(await crawls.get_crawl(session, actor, node_id, crawl_id))
