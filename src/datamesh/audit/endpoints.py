"""/api/audit: search, export and verification of the audit log (governance)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from datamesh.audit import repository as repo
from datamesh.audit import service
from datamesh.audit.schemas import AuditItem, AuditPage, VerifyOut
from datamesh.auth.deps import CurrentUser, PlatformAdmin
from datamesh.auth.principal import Principal
from datamesh.deps import SessionDep
from datamesh.errors import BadRequest, Forbidden, NotFound
from datamesh.kit import spreadsheet
from datamesh.kit.pagination import CursorParam, Limit, decode_cursor, encode_cursor

router = APIRouter(prefix="/api/audit", tags=["governance"])


def _scope(p: Principal) -> repo.AuditQuery:
    if p.is_platform_admin:
        return repo.AuditQuery(org_id=None)
    if p.role not in ("admin", "steward"):
        raise Forbidden("Only stewards and admins may read the audit log.")
    return repo.AuditQuery(org_id=p.org_id)


def _query(
    p: Principal,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
    query: str | None,
    org_id: uuid.UUID | None = None,
) -> repo.AuditQuery:
    q = _scope(p)
    if org_id is not None:
        if q.org_id is not None and org_id != q.org_id:
            raise NotFound("No such organization.")
        q.org_id = org_id
    q.actor, q.action, q.target, q.since, q.until, q.text = (
        actor,
        action,
        target,
        since,
        until,
        query,
    )
    if since and until and since >= until:
        raise BadRequest("`since` must be before `until`.")
    return q


Filter = Annotated[str | None, Query(max_length=300)]
OrgFilter = Annotated[
    uuid.UUID | None, Query(description="Only this organization's entries (platform admins).")
]
ACTION_DOC = "Exact action (dataset.connect), or a prefix ending in . or * (dataset.)"
TARGET_DOC = "kind:id (dataset:<uuid>) or an id"


@router.get("", response_model=AuditPage)
async def search(
    principal: CurrentUser,
    session: SessionDep,
    actor: Annotated[str | None, Query(max_length=320, description="User id or email")] = None,
    action: Annotated[str | None, Query(max_length=64, description=ACTION_DOC)] = None,
    target: Annotated[str | None, Query(max_length=120, description=TARGET_DOC)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    query: Filter = None,
    org_id: OrgFilter = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> AuditPage:
    """Search the audit log, newest first (stewards and admins: their org; platform admins: all)."""
    q = _query(principal, actor, action, target, since, until, query, org_id)
    after = decode_cursor(cursor, 1)
    rows, next_seq = await service.search(session, q, limit, int(after[0]) if after else None)
    return AuditPage(
        items=[AuditItem.model_validate(service.item(r)) for r in rows],
        next_cursor=encode_cursor([next_seq]) if next_seq is not None else None,
    )


_CSV_COLUMNS = [
    "seq",
    "id",
    "at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "action",
    "target_kind",
    "target_id",
    "target_name",
    "org_id",
    "request_id",
    "trace_id",
    "client",
    "changes",
    "details",
    "hash",
]


def _csv_row(entry: dict[str, object]) -> list[object]:
    actor, target = entry["actor"], entry["target"]
    assert isinstance(actor, dict) and isinstance(target, dict)
    return [
        entry["seq"],
        entry["id"],
        entry["at"].isoformat() if isinstance(entry["at"], datetime) else entry["at"],
        actor["kind"],
        actor["id"] or "",
        actor["name"],
        entry["action"],
        target["kind"],
        target["id"] or "",
        target["name"] or "",
        entry["org_id"] or "",
        entry["request_id"] or "",
        entry["trace_id"] or "",
        entry["client"] or "",
        orjson.dumps(entry["changes"]).decode(),
        orjson.dumps(entry["details"]).decode(),
        entry["hash"],
    ]


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export(
    request: Request,
    principal: CurrentUser,
    format: Literal["csv", "jsonl"] = "csv",
    actor: Annotated[str | None, Query(max_length=320)] = None,
    action: Annotated[str | None, Query(max_length=64, description=ACTION_DOC)] = None,
    target: Annotated[str | None, Query(max_length=120, description=TARGET_DOC)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    query: Filter = None,
    org_id: OrgFilter = None,
) -> StreamingResponse:
    """Stream every matching entry as CSV or JSON Lines, for auditors."""
    q = _query(principal, actor, action, target, since, until, query, org_id)
    sessionmaker = request.app.state.sessionmaker

    async def body() -> AsyncIterator[bytes]:
        if format == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(_CSV_COLUMNS)
            yield buf.getvalue().encode()
        async for entry in service.stream(sessionmaker, q):
            data = service.item(entry)
            if format == "jsonl":
                yield orjson.dumps(AuditItem.model_validate(data).model_dump(mode="json")) + b"\n"
            else:
                buf = io.StringIO()
                csv.writer(buf).writerow(spreadsheet.row(_csv_row(data)))
                yield buf.getvalue().encode()

    media = "text/csv" if format == "csv" else "application/x-ndjson"
    name = f"datamesh-audit.{format}"
    return StreamingResponse(
        body(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/verify", response_model=VerifyOut)
async def verify(
    principal: PlatformAdmin,
    session: SessionDep,
    since: int | None = Query(None, ge=0, le=2**63 - 2, description="Start after this seq."),
) -> VerifyOut:
    """Recompute the hash chain; names the first altered, removed or reordered entry."""
    r = await service.verify(session, since)
    return VerifyOut(
        ok=r.ok,
        checked=r.checked,
        first_bad_seq=r.first_bad_seq,
        first_bad_id=r.first_bad_id,
        reason=r.reason,
    )
