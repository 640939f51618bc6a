"""Dashboard rules: create, read with refs resolved for the reader, save with optimistic
concurrency (If-Match required), delete, duplicate; each write audited and announced."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.dashboards import policies
from datamesh.dashboards import repository as repo
from datamesh.dashboards.schemas import (
    Creator,
    DashboardCreate,
    DashboardDuplicate,
    DashboardList,
    DashboardSummary,
    DashboardUpdate,
    DatasetEntity,
    Entity,
    Layout,
    ProcessEntity,
    RestrictedEntity,
)
from datamesh.dashboards.schemas import Dashboard as DashboardSchema
from datamesh.errors import (
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    Unprocessable,
    field_error,
)
from datamesh.events import service as events
from datamesh.kit.pagination import decode_cursor, split_page
from datamesh.kit.refs import Ref
from datamesh.models.dashboards import Dashboard

_AUDITED = ("title", "description", "visibility", "layout")


def ref(d: Dashboard) -> Ref:
    return Ref("dashboard", str(d.id), d.title)


def etag(d: Dashboard) -> str:
    return f'"{d.version}"'


def _snapshot(d: Dashboard) -> dict[str, Any]:
    return {k: getattr(d, k) for k in _AUDITED}


def _layout_summary(layout: dict[str, Any]) -> dict[str, int]:
    """What the audit log keeps of a layout: its size, not its text (it may be large)."""
    return {k: len(layout.get(k) or []) for k in ("nodes", "edges", "groups")}


def _audit_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changes = audit.diff(before, after)
    if "layout" in changes:
        changes["layout"] = {
            "before": _layout_summary(before.get("layout") or {}),
            "after": _layout_summary(after.get("layout") or {}),
        }
    return changes


# -- layout checks ------------------------------------------------------------------------------
def check_layout(layout: Layout) -> None:
    """Ids unique, edges between existing nodes, parents that are groups, refs where they
    belong; every problem reported with its path (``layout.edges.3.source``)."""
    errors: list[dict[str, Any]] = []

    def err(path: list[str | int], msg: str) -> None:
        errors.append(field_error(["layout", *path], msg))

    element_ids: set[str] = set()
    for i, g in enumerate(layout.groups):
        if g.id in element_ids:
            err(["groups", i, "id"], "ids must be unique among nodes and groups")
        element_ids.add(g.id)
    group_ids = {g.id for g in layout.groups}
    node_ids: set[str] = set()
    ref_kinds: dict[uuid.UUID, str] = {}
    for i, n in enumerate(layout.nodes):
        if n.id in element_ids:
            err(["nodes", i, "id"], "ids must be unique among nodes and groups")
        element_ids.add(n.id)
        node_ids.add(n.id)
        if n.kind == "note":
            if n.ref is not None:
                err(["nodes", i, "ref"], "a note has no ref")
        else:
            if n.ref is None:
                err(["nodes", i, "ref"], f"a {n.kind} node needs the {n.kind}'s id")
            elif ref_kinds.setdefault(n.ref, n.kind) != n.kind:
                err(["nodes", i, "ref"], "the same ref is used with another kind")
            if n.text is not None:
                err(["nodes", i, "text"], "only notes have text")
        if n.parent is not None and n.parent not in group_ids:
            err(["nodes", i, "parent"], "no group has this id")
    edge_ids: set[str] = set()
    for i, e in enumerate(layout.edges):
        if e.id in edge_ids:
            err(["edges", i, "id"], "edge ids must be unique")
        edge_ids.add(e.id)
        for end in ("source", "target"):
            if getattr(e, end) not in node_ids:
                err(["edges", i, end], "no node has this id")
    if errors:
        detail = "; ".join(f"{e['field']}: {e['msg']}" for e in errors[:5])
        raise Unprocessable(f"The layout is not consistent: {detail}.", errors=errors[:100])


# -- reading ------------------------------------------------------------------------------------
def _refs(layout: dict[str, Any]) -> dict[uuid.UUID, str]:
    out: dict[uuid.UUID, str] = {}
    for n in layout.get("nodes") or []:
        if n.get("ref") and n.get("kind") in ("dataset", "process"):
            out.setdefault(uuid.UUID(n["ref"]), n["kind"])
    return out


async def entities(
    session: AsyncSession, p: Principal, layout: dict[str, Any]
) -> dict[str, Entity]:
    """Every ref of the layout as THIS reader may see it; anything else is a nameless
    placeholder (hidden, another org's process, or deleted: the reader cannot tell which)."""
    refs = _refs(layout)
    ds_ids = [i for i, k in refs.items() if k == "dataset"]
    proc_ids = [i for i, k in refs.items() if k == "process"]
    found: dict[uuid.UUID, Entity] = {}
    for d in await repo.datasets(session, ds_ids, catalog.readable_clause(p)):
        found[d.id] = DatasetEntity(
            id=d.id, name=d.name, namespace=d.namespace, platform=d.platform
        )
    for pr in await repo.processes(session, proc_ids, p.org_id):
        found[pr.id] = ProcessEntity(id=pr.id, name=pr.name, namespace=pr.namespace)
    return {str(i): found.get(i) or RestrictedEntity(id=i, kind=kind) for i, kind in refs.items()}


async def get(session: AsyncSession, p: Principal, dashboard_id: uuid.UUID) -> Dashboard:
    d = await repo.get(session, dashboard_id)
    if d is None or not policies.can_read(p, d.visibility, d.org_id, d.created_by):
        raise NotFound("No such dashboard.")
    return d


async def to_schema(session: AsyncSession, p: Principal, d: Dashboard) -> DashboardSchema:
    names = await repo.user_names(session, [d.created_by])
    return DashboardSchema(
        id=d.id,
        org_id=d.org_id,
        title=d.title,
        description=d.description,
        visibility=d.visibility,
        version=d.version,
        layout=d.layout,
        created_by=_creator(d.created_by, names),
        created_at=d.created_at,
        updated_at=d.updated_at,
        can_edit=policies.can_edit(p, d.org_id, d.created_by),
        entities=await entities(session, p, d.layout),
    )


def _creator(user_id: uuid.UUID | None, names: dict[uuid.UUID, str]) -> Creator | None:
    if user_id is None:
        return None
    return Creator(id=user_id, name=names.get(user_id, ""))


async def search(
    session: AsyncSession, p: Principal, text: str | None, limit: int, cursor: str | None
) -> DashboardList:
    after = decode_cursor(cursor, 2)
    rows = await repo.page(session, p, (text or "").strip() or None, limit, after)
    rows, next_cursor = split_page(
        rows, limit, lambda r: [r[0].updated_at.isoformat(), str(r[0].id)]
    )
    names = await repo.user_names(session, [d.created_by for d, _ in rows])
    return DashboardList(
        items=[
            DashboardSummary(
                id=d.id,
                title=d.title,
                description=d.description[:300],
                visibility=d.visibility,
                version=d.version,
                node_count=count,
                created_by=_creator(d.created_by, names),
                updated_at=d.updated_at,
            )
            for d, count in rows
        ],
        next_cursor=next_cursor,
    )


# -- for the feed and the live stream -------------------------------------------------------------
def readable_clause(p: Principal | None) -> ColumnElement[bool]:
    """Which dashboards ``p`` may read, as SQL over ``Dashboard`` (feed pages)."""
    return repo.readable(p)


async def visibility_info(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, uuid.UUID, set[uuid.UUID]]]:
    """(visibility, org, owners) per dashboard, the shape ``catalog.can_read`` takes."""
    return await repo.visibility_info(session, ids)


# -- writes -------------------------------------------------------------------------------------
def _require_creator(p: Principal) -> None:
    if not policies.can_create(p):
        raise Forbidden("Only producers, stewards and admins may create dashboards.")


async def _announce(
    session: AsyncSession,
    p: Principal,
    action: str,
    event: str,
    d: Dashboard,
    changes: dict[str, Any],
    payload: dict[str, Any],
    details: dict[str, Any] | None = None,
) -> None:
    await audit.record(
        session, p.actor(), action, ref(d), changes, org_id=d.org_id, details=details
    )
    await events.emit(session, event, p.actor(), ref(d), payload, org_id=d.org_id)


async def create(session: AsyncSession, p: Principal, data: DashboardCreate) -> Dashboard:
    _require_creator(p)
    check_layout(data.layout)
    d = await repo.add(
        session,
        Dashboard(
            org_id=p.org_id,
            title=data.title,
            description=data.description,
            visibility=data.visibility,
            layout=data.layout.stored(),
            version=1,
            created_by=p.user_id,
        ),
    )
    await _announce(
        session,
        p,
        "dashboard.create",
        "dashboard.created",
        d,
        _audit_changes({}, _snapshot(d)),
        {"visibility": d.visibility, "version": d.version},
    )
    return d


def _check_if_match(d: Dashboard, if_match: str | None) -> None:
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            'Send If-Match with the ETag you read (e.g. If-Match: "3") so no save is lost.',
            headers={"ETag": etag(d)},
        )
    sent = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if "*" not in sent and etag(d) not in sent:
        raise PreconditionFailed(
            "The dashboard changed since you read it; reload it and apply your change again.",
            headers={"ETag": etag(d)},
            extra={"current_version": d.version},
        )


async def _editable(session: AsyncSession, p: Principal, dashboard_id: uuid.UUID) -> Dashboard:
    d = await repo.get_for_update(session, dashboard_id)
    if d is None or not policies.can_read(p, d.visibility, d.org_id, d.created_by):
        raise NotFound("No such dashboard.")
    if not policies.can_edit(p, d.org_id, d.created_by):
        raise Forbidden(
            "Only the creator and the organization's admins and stewards may change it."
        )
    return d


async def update(
    session: AsyncSession,
    p: Principal,
    dashboard_id: uuid.UUID,
    data: DashboardUpdate,
    if_match: str | None,
) -> Dashboard:
    d = await _editable(session, p, dashboard_id)
    _check_if_match(d, if_match)
    given = data.model_dump(exclude_unset=True)
    nulls = [k for k in ("title", "visibility", "layout") if k in given and given[k] is None]
    if nulls:
        raise Unprocessable(
            f"{', '.join(nulls)} cannot be null.",
            errors=[field_error([k], "may not be null") for k in nulls],
        )
    if data.layout is not None:
        check_layout(data.layout)
    before = _snapshot(d)
    if data.title is not None:
        d.title = data.title
    if "description" in given:
        d.description = data.description or ""
    if data.visibility is not None:
        d.visibility = data.visibility
    if data.layout is not None:
        d.layout = data.layout.stored()
    changes = _audit_changes(before, _snapshot(d))
    # A save is a new version even when nothing changed: the client asked to store this
    # state, and a new ETag tells other editors that someone saved.
    d.version += 1
    await repo.flush(session, d)
    await _announce(
        session,
        p,
        "dashboard.update",
        "dashboard.updated",
        d,
        changes,
        {"fields": sorted(changes), "version": d.version},
        {"version": d.version},
    )
    return d


async def delete(session: AsyncSession, p: Principal, dashboard_id: uuid.UUID) -> None:
    d = await _editable(session, p, dashboard_id)
    await _announce(
        session,
        p,
        "dashboard.delete",
        "dashboard.deleted",
        d,
        _audit_changes(_snapshot(d), {}),
        {"version": d.version},
    )
    await repo.delete(session, d)


async def duplicate(
    session: AsyncSession, p: Principal, dashboard_id: uuid.UUID, data: DashboardDuplicate
) -> Dashboard:
    """A copy in the caller's org, created by the caller. A copy of another org's dashboard
    starts internal (the default); a copy within the org keeps the original's visibility."""
    source = await get(session, p, dashboard_id)
    _require_creator(p)
    title = data.title or f"Copy of {source.title}"[:200]
    copy = await repo.add(
        session,
        Dashboard(
            org_id=p.org_id,
            title=title,
            description=source.description,
            visibility=source.visibility if source.org_id == p.org_id else "internal",
            layout=source.layout,
            version=1,
            created_by=p.user_id,
        ),
    )
    await _announce(
        session,
        p,
        "dashboard.duplicate",
        "dashboard.created",
        copy,
        _audit_changes({}, _snapshot(copy)),
        {"visibility": copy.visibility, "version": 1, "duplicated_from": str(source.id)},
        {"duplicated_from": str(source.id)},
    )
    return copy
