"""/api/lineage/* and the OpenLineage endpoints /api/v1/lineage (ingest, and Marquez-style read)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from datamesh.auth.deps import CurrentUser
from datamesh.catalog import service as catalog
from datamesh.catalog.schemas import Dataset
from datamesh.deps import SessionDep
from datamesh.errors import BadRequest, Unprocessable, field_error
from datamesh.kit import spreadsheet
from datamesh.kit.pagination import CursorParam, Limit
from datamesh.kit.schemas import encoded
from datamesh.lineage import columns, ingest, marquez, service
from datamesh.lineage.repository import runs_of
from datamesh.lineage.schemas import (
    AssetCreate,
    ColumnDirection,
    ColumnEdgeOut,
    ColumnImpact,
    DatasetQualityOut,
    EdgeCreate,
    EdgeOut,
    EdgePage,
    Graph,
    GraphNode,
    Impact,
    IngestResult,
    ProcessCreate,
    ProcessOut,
    ProcessPage,
    ProcessUpdate,
    RunOut,
    RunPage,
)

router = APIRouter(tags=["lineage"])

DEPTH_DOC = (
    "Depth counts dataset-to-dataset hops: a process between two datasets is not a hop, so "
    "A -> job -> B puts B at depth 1 (and the job at depth 1 too)."
)


def _depth(request: Request, depth: int) -> int:
    limit = request.app.state.settings.lineage_max_depth
    if depth > limit:
        raise Unprocessable(
            f"depth may be at most {limit}.",
            errors=[
                {"loc": ["depth"], "field": "depth", "msg": f"at most {limit}", "type": "too_large"}
            ],
        )
    return depth


# -- assets (= catalog datasets) ----------------------------------------------------------------
@router.post("/api/lineage/assets", response_model=Dataset, status_code=status.HTTP_201_CREATED)
async def create_asset(
    data: AssetCreate, principal: CurrentUser, session: SessionDep, response: Response
) -> Dataset:
    """Create a data asset: a catalog dataset (same as POST /api/datasets)."""
    ds = await catalog.publish(session, principal, data)
    response.headers["ETag"] = catalog.etag(ds)
    return catalog.to_schema(await catalog.view(session, ds, principal))


@router.get("/api/lineage/assets/{asset_id}", response_model=Dataset)
async def get_asset(
    asset_id: uuid.UUID, principal: CurrentUser, session: SessionDep, response: Response
) -> Dataset:
    """Get a data asset (the catalog dataset)."""
    ds = await catalog.get(session, principal, asset_id)
    response.headers["ETag"] = catalog.etag(ds)
    return catalog.to_schema(await catalog.view(session, ds, principal))


@router.get("/api/lineage/assets/{asset_id}/columns", response_model=list[ColumnEdgeOut])
async def asset_columns(
    request: Request,
    asset_id: uuid.UUID,
    principal: CurrentUser,
    session: SessionDep,
    direction: Annotated[
        ColumnDirection,
        Query(
            description="upstream: where this dataset's columns come from (edges whose output "
            "is this dataset); downstream: what they feed (edges whose input it is); both."
        ),
    ] = "upstream",
) -> list[ColumnEdgeOut]:
    """Column-level lineage of this dataset (columnLineage facets, view SQL, dbt); an edge
    whose other end is a dataset you may not see is restricted (opaque id, no names)."""
    return [
        ColumnEdgeOut.model_validate(e)
        for e in await columns.asset_columns(
            session, principal, asset_id, direction, salt=request.app.state.signing_key
        )
    ]


COLUMN_DEPTH_DOC = (
    "Column edges crossed from the start column (1 = the columns it feeds directly); at most "
    "the server's lineage depth limit (DATAMESH_LINEAGE_MAX_DEPTH, 20 by default)."
)


@router.get("/api/lineage/columns/impact", response_model=ColumnImpact)
async def column_impact(
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    dataset: Annotated[
        str, Query(max_length=3000, description="The dataset: UUID or dataset:<ns>:<name>")
    ],
    field: Annotated[str, Query(min_length=1, max_length=300, description="A column name")],
    depth: Annotated[int, Query(ge=1, le=1000, description=COLUMN_DEPTH_DOC)] = 20,
) -> ColumnImpact:
    """Every downstream column reached from one column through column lineage, hop by hop
    (cycles safe). A dataset you may not see is 404; a field without column lineage is an
    empty answer (200). Columns of datasets you may not see are counted under
    ``totals.restricted`` with opaque ids and no names, and no edge touching them is listed."""
    result = await columns.column_impact(
        session,
        principal,
        dataset,
        field,
        _depth(request, depth),
        salt=request.app.state.signing_key,
    )
    return ColumnImpact.model_validate(result)


@router.get("/api/lineage/assets/{asset_id}/quality", response_model=DatasetQualityOut)
async def asset_quality(
    asset_id: uuid.UUID,
    principal: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 30,
) -> DatasetQualityOut:
    """Row counts, sizes and data quality assertions runs reported on this dataset
    (OpenLineage's dataQualityMetrics, dataQualityAssertions and outputStatistics facets)."""
    return DatasetQualityOut.model_validate(
        await service.dataset_quality(session, principal, asset_id, limit)
    )


# -- processes ----------------------------------------------------------------------------------
async def _process_out(session: Any, proc: Any) -> ProcessOut:
    out = ProcessOut.model_validate(proc)
    out.runs = [RunOut.model_validate(r) for r in await runs_of(session, proc.id)]
    return out


@router.post(
    "/api/lineage/processes", response_model=ProcessOut, status_code=status.HTTP_201_CREATED
)
async def create_process(
    data: ProcessCreate, principal: CurrentUser, session: SessionDep
) -> ProcessOut:
    """Create a process (job)."""
    return await _process_out(session, await service.create_process(session, principal, data))


@router.get("/api/lineage/processes", response_model=ProcessPage)
async def list_processes(
    principal: CurrentUser,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> ProcessPage:
    """Processes of your organization."""
    rows, nxt = await service.list_processes(session, principal, q, limit, cursor)
    return ProcessPage(items=[ProcessOut.model_validate(r) for r in rows], next_cursor=nxt)


@router.get("/api/lineage/processes/{process_id}", response_model=ProcessOut)
async def get_process(
    request: Request, process_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> ProcessOut:
    """A process of your organization with its latest runs and the datasets it reads and
    writes (those you may not see as restricted placeholders)."""
    proc = await service.get_process(session, principal, process_id)
    out = await _process_out(session, proc)
    inputs, outputs = await service.process_io(
        session, principal, proc, salt=request.app.state.signing_key
    )
    out.inputs = [GraphNode.model_validate(n) for n in inputs]
    out.outputs = [GraphNode.model_validate(n) for n in outputs]
    return out


@router.get("/api/lineage/processes/{process_id}/runs", response_model=RunPage)
async def list_runs(
    process_id: uuid.UUID,
    principal: CurrentUser,
    session: SessionDep,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> RunPage:
    """A process's runs (START, COMPLETE, FAIL, ABORT...), newest first."""
    rows, nxt = await service.list_runs(session, principal, process_id, limit, cursor)
    return RunPage(items=[RunOut.model_validate(r) for r in rows], next_cursor=nxt)


@router.patch("/api/lineage/processes/{process_id}", response_model=ProcessOut)
async def update_process(
    process_id: uuid.UUID, data: ProcessUpdate, principal: CurrentUser, session: SessionDep
) -> ProcessOut:
    """Change a process's description, owners, type, source or SQL."""
    return await _process_out(
        session, await service.update_process(session, principal, process_id, data)
    )


@router.delete("/api/lineage/processes/{process_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_process(
    process_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> None:
    """Delete a process and its edges."""
    await service.delete_process(session, principal, process_id)


# -- edges --------------------------------------------------------------------------------------
def _edge_out(e: Any) -> EdgeOut:
    return EdgeOut(
        id=e.id,
        source=e.src_id,
        target=e.dst_id,
        source_kind=e.src_kind,
        target_kind=e.dst_kind,
        origin=e.origin,
        created_at=e.created_at,
    )


@router.post("/api/lineage/edges", response_model=EdgeOut, status_code=status.HTTP_201_CREATED)
async def create_edge(data: EdgeCreate, principal: CurrentUser, session: SessionDep) -> EdgeOut:
    """Draw an edge: dataset -> process (input), process -> dataset (output), dataset -> dataset."""
    return _edge_out(await service.create_edge(session, principal, data))


@router.get("/api/lineage/edges", response_model=EdgePage)
async def list_edges(
    principal: CurrentUser,
    session: SessionDep,
    node: Annotated[
        str | None, Query(max_length=3000, description="Only edges touching this node")
    ] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> EdgePage:
    """Edges between nodes you may see."""
    rows, nxt = await service.list_edges(session, principal, node, limit, cursor)
    return EdgePage(items=[_edge_out(e) for e in rows], next_cursor=nxt)


@router.delete("/api/lineage/edges/{edge_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_edge(edge_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> None:
    """Remove an edge."""
    await service.delete_edge(session, principal, edge_id)


# -- queries ------------------------------------------------------------------------------------
@router.get("/api/lineage/graph", response_model=Graph, description=DEPTH_DOC)
async def graph(
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    node: Annotated[
        str, Query(max_length=3000, description="UUID, dataset:<ns>:<name> or job:<ns>:<name>")
    ],
    direction: Literal["upstream", "downstream", "both"] = "both",
    depth: Annotated[int, Query(ge=0, le=1000, description=DEPTH_DOC)] = 3,
) -> Response:
    """The lineage around a node, upstream and/or downstream, to a depth; per node at the edge
    of the drawing and per direction, how many more lie beyond it (``more_*``, ``more``)."""
    settings = request.app.state.settings
    result = await service.graph(
        session,
        principal,
        service.engine_for(request.app.state),
        node,
        direction,
        _depth(request, depth),
        settings.lineage_max_nodes,
        salt=request.app.state.signing_key,
        more=True,
    )
    return encoded(result)


@router.get("/api/lineage/impact", response_model=Impact, description=DEPTH_DOC)
async def impact(
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    node: Annotated[str, Query(max_length=3000)],
    depth: Annotated[int, Query(ge=1, le=1000, description=DEPTH_DOC)] = 20,
    limit: Annotated[
        int | None, Query(ge=1, le=5000, description="Items per page (default: the node cap).")
    ] = None,
    cursor: CursorParam = None,
) -> Response:
    """What breaks if this fails: exact totals and counts by distance and platform for the whole
    blast radius, one page of the affected datasets and processes, people to notify."""
    settings = request.app.state.settings
    result = await service.impact(
        session,
        principal,
        service.engine_for(request.app.state),
        node,
        _depth(request, depth),
        settings.lineage_max_nodes,
        salt=request.app.state.signing_key,
        limit=limit,
        cursor=cursor,
    )
    return encoded(result)


_IMPACT_CSV = ["distance", "kind", "id", "namespace", "name", "platform", "restricted", "owners",
               "follower_count", "health", "latest_run_state"]  # fmt: skip


@router.get(
    "/api/lineage/impact/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
    description=DEPTH_DOC,
)
async def impact_export(
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    node: Annotated[str, Query(max_length=3000)],
    depth: Annotated[int, Query(ge=1, le=1000, description=DEPTH_DOC)] = 20,
    format: Literal["csv"] = "csv",
) -> StreamingResponse:
    """Every affected dataset and process as CSV, in the impact's order; hidden ones as
    restricted rows without a name."""
    state = request.app.state
    rows = await service.impact_export(
        session,
        principal,
        service.engine_for(state),
        node,
        _depth(request, depth),
        state.settings.lineage_max_nodes,
    )

    async def body() -> AsyncIterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(_IMPACT_CSV)
        async for items in service.impact_items_stream(
            state.sessionmaker, principal, rows, salt=state.signing_key
        ):
            for item in items:
                item["owners"] = "; ".join(item.get("owners") or [])
                writer.writerow(spreadsheet.row(item.get(k) for k in _IMPACT_CSV))
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
        if not rows:
            yield buf.getvalue().encode()

    return StreamingResponse(
        body(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="datamesh-impact.csv"'},
    )


# -- OpenLineage --------------------------------------------------------------------------------
def _ol_path(path: str) -> list[str | int]:
    """``inputs[3].facets.schema`` -> ``["inputs", 3, "facets", "schema"]`` (problem+json loc)."""
    out: list[str | int] = []
    for part in path.replace("[", ".[").split("."):
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            out.append(int(part[1:-1]))
        elif part:
            out.append(part)
    return out


@router.post(
    "/api/v1/lineage",
    response_model=IngestResult,
    tags=["openlineage"],
    responses={
        400: {"description": "The event is not valid OpenLineage"},
        403: {"description": "The caller may not send lineage (a viewer)"},
    },
)
async def ingest_event(
    principal: CurrentUser,
    session: SessionDep,
    event: Annotated[Any, Body(description="One OpenLineage event")],
) -> IngestResult:
    """Receive one OpenLineage event (RunEvent, DatasetEvent or JobEvent), as Marquez does."""
    if isinstance(event, list):
        raise BadRequest("Send a list of events to /api/v1/lineage/batch.")
    out = await ingest.ingest(session, principal, [event])
    if out.errors:
        raise BadRequest(
            out.errors[0]["detail"],
            errors=[field_error(_ol_path(e["loc"]), e["msg"]) for e in out.errors[0]["problems"]],
        )
    return IngestResult(accepted=out.accepted, duplicates=out.duplicates, failed=0)


@router.post("/api/v1/lineage/batch", response_model=IngestResult, tags=["openlineage"])
async def ingest_batch(
    principal: CurrentUser,
    session: SessionDep,
    events: Annotated[
        list[Any], Body(max_length=ingest.MAX_BATCH, description="OpenLineage events")
    ],
) -> IngestResult:
    """Receive many OpenLineage events at once; invalid ones are listed, the others land."""
    out = await ingest.ingest(session, principal, events)
    return IngestResult(
        accepted=out.accepted, duplicates=out.duplicates, failed=len(out.errors), errors=out.errors
    )


@router.get("/api/v1/lineage", tags=["openlineage"])
async def marquez_lineage(
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    node_id: Annotated[
        str,
        Query(
            alias="nodeId", max_length=3000, description="dataset:<ns>:<name> or job:<ns>:<name>"
        ),
    ],
    depth: Annotated[int, Query(ge=0, le=1000)] = 20,
) -> dict[str, Any]:
    """Lineage in Marquez's response shape ({graph: [{id, type, data, inEdges, outEdges}]})."""
    settings = request.app.state.settings
    result = await service.graph(
        session,
        principal,
        service.engine_for(request.app.state),
        node_id,
        "both",
        _depth(request, depth),
        settings.lineage_max_nodes,
        salt=request.app.state.signing_key,
    )
    return marquez.to_marquez(result)
