"""/api/datasets/{id}/sla and /api/monitoring/* (pipeline health)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, status

from datamesh.auth.deps import CurrentUser
from datamesh.deps import SessionDep
from datamesh.errors import Unprocessable, field_error
from datamesh.lineage import service as lineage
from datamesh.monitoring import service
from datamesh.monitoring.schemas import Coverage, NodeStatus, Overview, Sla, SlaSet

router = APIRouter(tags=["monitoring"])

SLA_EXAMPLES = {
    "daily": {"value": {"kind": "daily_by", "at": "07:00"}},
    "max_age": {"value": {"kind": "max_age", "hours": 6}},
}


@router.put("/api/datasets/{dataset_id}/sla", response_model=Sla)
async def set_sla(
    dataset_id: uuid.UUID,
    data: Annotated[SlaSet, Body(openapi_examples=SLA_EXAMPLES)],
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
) -> Sla:
    """Set a freshness SLA: updated daily by HH:MM UTC, or at most N hours old."""
    sla = await service.set_sla(session, principal, dataset_id, data, request.app.state.clock())
    return Sla.model_validate(sla)


@router.get("/api/datasets/{dataset_id}/sla", response_model=Sla)
async def get_sla(dataset_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> Sla:
    """A dataset's freshness SLA and its last evaluated state (404 when it has none)."""
    return Sla.model_validate(await service.get_sla(session, principal, dataset_id))


@router.delete("/api/datasets/{dataset_id}/sla", status_code=status.HTTP_204_NO_CONTENT)
async def delete_sla(dataset_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> None:
    """Remove a dataset's freshness SLA."""
    await service.delete_sla(session, principal, dataset_id)


def _ids(raw: str) -> list[uuid.UUID]:
    parts = [x.strip() for x in raw.split(",") if x.strip()]
    if len(parts) > service.MAX_STATUS_IDS:
        raise Unprocessable(
            f"Ask for at most {service.MAX_STATUS_IDS} ids at once.",
            errors=[field_error(["ids"], f"at most {service.MAX_STATUS_IDS}", "too_long")],
        )
    out: list[uuid.UUID] = []
    for i, part in enumerate(parts):
        try:
            out.append(uuid.UUID(part))
        except ValueError:
            raise Unprocessable(
                "ids are dataset or process UUIDs, separated by commas.",
                errors=[field_error(["ids", i], "not a UUID")],
            ) from None
    return list(dict.fromkeys(out))


@router.get("/api/monitoring/status", response_model=dict[str, NodeStatus])
async def node_status(
    principal: CurrentUser,
    session: SessionDep,
    ids: Annotated[
        str, Query(max_length=40 * 500, description="Comma-separated dataset/process UUIDs")
    ] = "",
) -> dict[str, NodeStatus]:
    """Health of datasets and processes (to colour lineage and dashboard nodes); ids you may
    not see are absent."""
    found = await service.status(session, principal, _ids(ids))
    return {k: NodeStatus.model_validate(v) for k, v in found.items()}


@router.get("/api/monitoring/overview", response_model=Overview)
async def overview(request: Request, principal: CurrentUser, session: SessionDep) -> Overview:
    """Breached SLAs and failed runs you may see, with how many datasets each one affects."""
    result = await service.overview(
        session,
        principal,
        lineage.engine_for(request.app.state),
        request.app.state.clock(),
        request.app.state.settings.lineage_max_nodes,
    )
    return Overview.model_validate(result)


@router.get("/api/monitoring/coverage", response_model=Coverage)
async def coverage(principal: CurrentUser, session: SessionDep) -> Coverage:
    """Your org's share of datasets with lineage, owners and SLAs; dashboards, annotated nodes."""
    return Coverage.model_validate(await service.coverage(session, principal))
