"""Lineage rules: node references, processes and edges CRUD, graph and impact queries.

Visibility: a dataset is shown if the catalog's readable filter allows it; a process if it
belongs to the caller's org. Anything else stays in the graph as a placeholder with its kind
only (``restricted``), so paths and counts stay true and nothing is named.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable, field_error
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.ids import uuid7
from datamesh.kit.pagination import decode_cursor, encode_cursor, split_page
from datamesh.kit.refs import Ref
from datamesh.lineage import frontier
from datamesh.lineage import repository as repo
from datamesh.lineage.engine import GraphEngine, PostgresEngine, traverse
from datamesh.lineage.openlineage import error_message as error_message
from datamesh.lineage.openlineage import owner_email
from datamesh.lineage.people import PeopleEntries
from datamesh.lineage.schemas import EdgeCreate, ProcessCreate, ProcessUpdate
from datamesh.models.catalog import Dataset
from datamesh.models.lineage import LineageEdge, Process, Run

if TYPE_CHECKING:
    from datamesh.lineage.index import Blast, LineageIndex

POSTGRES = PostgresEngine()
WRITERS = ("admin", "producer", "steward")


def process_ref(proc: Process) -> Ref:
    return Ref("process", str(proc.id), proc.name)


def _can_see_process(p: Principal, proc: Process) -> bool:
    return proc.org_id == p.org_id


def _require_writer(p: Principal) -> None:
    if p.role not in WRITERS:
        raise Forbidden("Only producers, stewards and admins may change lineage.")


# -- references ---------------------------------------------------------------------------------
def _splits(rest: str) -> list[tuple[str, str]]:
    return [
        (rest[:i], rest[i + 1 :])
        for i, ch in enumerate(rest)
        if ch == ":" and 0 < i < len(rest) - 1
    ]


async def resolve(
    session: AsyncSession,
    p: Principal,
    ref: str,
    *,
    written: bool = False,
    create: bool = False,
) -> tuple[uuid.UUID, str]:
    """A node from a UUID or an OpenLineage id ``dataset:<ns>:<name>`` / ``job:<ns>:<name>``.

    A dataset name means what the catalog's rule says for the caller (ADR 0005): its org's
    own dataset, else (unless ``written``) one of another org it may read, else — with
    ``create`` — a new one in its org; a hidden dataset is never found, so a hidden name
    answers like an unknown one. Namespaces contain ``:`` (``postgres://host:5432``), so every
    split is tried, the caller's own datasets first.
    """
    ref = ref.strip()
    try:
        node = uuid.UUID(ref)
    except ValueError:
        kind, _, rest = ref.partition(":")
        candidates = _splits(rest)
        if kind == "dataset" and candidates:
            found = await catalog.resolve_names(
                session, p, candidates, written=written, create=False
            )
            mine = [k for k in candidates if k in found.ids and found.ids[k] not in found.foreign]
            pick = mine or [k for k in candidates if k in found.ids]
            if pick:
                return found.ids[pick[0]], "dataset"
            if create:  # the last split: the namespace keeps every ':' but the name's
                made = await catalog.resolve_names(
                    session, p, [candidates[-1]], written=written, create=True
                )
                return made.ids[candidates[-1]], "dataset"
        elif kind == "job" and candidates:
            procs = await repo.process_ids(session, p.org_id, candidates)  # only its own
            if procs:
                return next(iter(procs.values())), "process"
        elif kind not in ("dataset", "job"):
            raise Unprocessable(
                "A node is a UUID, dataset:<namespace>:<name> or job:<namespace>:<name>.",
                errors=[field_error(["node"], "unknown reference form")],
            ) from None
        raise NotFound("No such lineage node.") from None
    kinds = await repo.node_kinds(session, [node])
    if node not in kinds:
        raise NotFound("No such lineage node.")
    return node, kinds[node]


async def _require_own_target(
    session: AsyncSession, p: Principal, node: uuid.UUID, kind: str
) -> None:
    """An edge is lineage of its target: only the org owning a dataset writes what feeds it (a
    readable dataset of another org may be read from, not written to; ADR 0005)."""
    if kind == "dataset" and (await catalog.get(session, p, node)).org_id != p.org_id:
        raise Forbidden(
            "Another organization's dataset can be read from, not written to: its own "
            "organization records what feeds it."
        )


async def _require_visible(session: AsyncSession, p: Principal, node: uuid.UUID, kind: str) -> None:
    if kind == "dataset":
        await catalog.get(session, p, node)  # 404 if hidden
    else:
        proc = await repo.get_process(session, node)
        if proc is None or not _can_see_process(p, proc):
            raise NotFound("No such lineage node.")


# -- processes ----------------------------------------------------------------------------------
async def create_process(session: AsyncSession, p: Principal, data: ProcessCreate) -> Process:
    _require_writer(p)
    if await repo.process_by_key(session, p.org_id, data.namespace, data.name):
        raise Conflict(f"A process {data.namespace} / {data.name} already exists.")
    proc: Process = await repo.add(
        session,
        Process(
            org_id=p.org_id,
            namespace=data.namespace,
            name=data.name,
            type=data.type,
            description=data.description,
            owners=data.owners,
            source_code=data.source_code,
            sql=data.sql,
            origin="manual",
        ),
    )
    await session.refresh(proc)
    await audit.record(
        session,
        p.actor(),
        "lineage.process_create",
        process_ref(proc),
        audit.diff({}, data.model_dump()),
        org_id=proc.org_id,
    )
    await events.emit(
        session,
        "lineage.changed",
        p.actor(),
        process_ref(proc),
        {"nodes_added": [str(proc.id)], "kind": "process"},
        org_id=proc.org_id,
    )
    return proc


async def get_process(session: AsyncSession, p: Principal, process_id: uuid.UUID) -> Process:
    proc = await repo.get_process(session, process_id)
    if proc is None or not _can_see_process(p, proc):
        raise NotFound("No such process.")
    return proc


async def process_io(
    session: AsyncSession, p: Principal, proc: Process, salt: str = ""
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The datasets a visible process reads and writes; those the caller may not see are
    restricted placeholders (kind only), as on the graph."""
    io = await repo.process_io(session, proc.id)
    described = {
        n["real_id"]: n
        for n in await _describe(session, p, {str(ds_id): 1 for ds_id, _ in io}, salt)
    }
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for ds_id, role in sorted(io, key=lambda x: str(x[0])):
        node = dict(described[str(ds_id)])
        node.pop("real_id")
        (inputs if role == "input" else outputs).append(node)

    def order(n: dict[str, Any]) -> tuple[bool, str]:
        return n["restricted"], n.get("name") or ""

    return sorted(inputs, key=order), sorted(outputs, key=order)


async def dataset_quality(
    session: AsyncSession, p: Principal, dataset_id: uuid.UUID, limit: int = 30
) -> dict[str, Any]:
    """A readable dataset's quality records, newest first; a process the caller may not see is
    not named."""
    await catalog.get(session, p, dataset_id)  # 404 if hidden
    rows = await repo.quality_history(session, dataset_id, limit)
    visible = await _visible_ids(session, p, {q.process_id for q, _, _ in rows})
    history = [
        {
            "run_id": q.run_id if q.process_id in visible else "",
            "process_id": q.process_id if q.process_id in visible else None,
            "process_name": name if q.process_id in visible else None,
            "event_time": q.event_time,
            "dataset_version": q.dataset_version,
            "row_count": q.row_count,
            "bytes": q.bytes,
            "file_count": q.file_count,
            "column_metrics": q.column_metrics or {},
            "assertions": q.assertions or [],
            "failed_assertions": q.failed_assertions,
        }
        for q, name, _ in rows
    ]
    return {"latest": history[0] if history else None, "history": history}


async def list_processes(
    session: AsyncSession, p: Principal, q: str | None, limit: int, cursor: str | None
) -> tuple[list[Process], str | None]:
    rows = await repo.page_processes(
        session, Process.org_id == p.org_id, q, limit, decode_cursor(cursor, 2)
    )
    return split_page(rows, limit, lambda r: [r.name.lower(), str(r.id)])


async def list_runs(
    session: AsyncSession, p: Principal, process_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[Run], str | None]:
    """A visible process's runs, newest first."""
    await get_process(session, p, process_id)
    rows = await repo.page_runs(session, process_id, limit, decode_cursor(cursor, 2))
    return split_page(rows, limit, lambda r: [r.event_time.isoformat(), str(r.id)])


async def update_process(
    session: AsyncSession, p: Principal, process_id: uuid.UUID, data: ProcessUpdate
) -> Process:
    _require_writer(p)
    proc = await get_process(session, p, process_id)
    given = data.model_dump(exclude_unset=True)
    before = {k: getattr(proc, k) for k in given}
    for key, value in given.items():
        if value is not None:
            setattr(proc, key, value)
    await session.flush()
    changes = audit.diff(before, {k: getattr(proc, k) for k in given})
    if changes:
        await audit.record(
            session,
            p.actor(),
            "lineage.process_update",
            process_ref(proc),
            changes,
            org_id=proc.org_id,
        )
        await events.emit(
            session,
            "process.updated",
            p.actor(),
            process_ref(proc),
            {"fields": sorted(changes)},
            org_id=proc.org_id,
        )
    return proc


async def delete_process(session: AsyncSession, p: Principal, process_id: uuid.UUID) -> None:
    _require_writer(p)
    proc = await get_process(session, p, process_id)
    removed = await repo.delete_edges_of(session, proc.id)
    ref = process_ref(proc)
    await audit.record(
        session,
        p.actor(),
        "lineage.process_delete",
        ref,
        audit.diff({"name": proc.name}, {}),
        org_id=proc.org_id,
    )
    await events.emit(
        session,
        "lineage.changed",
        p.actor(),
        ref,
        {"nodes_removed": [str(proc.id)], "edges_removed": [[str(s), str(d)] for s, d in removed]},
        org_id=proc.org_id,
    )
    await repo.delete_obj(session, proc)


# -- edges --------------------------------------------------------------------------------------
async def create_edge(session: AsyncSession, p: Principal, data: EdgeCreate) -> LineageEdge:
    _require_writer(p)
    # The target's lineage is what the edge writes: a name there never means another org's
    # dataset; a name at either end that means nothing yet is a new dataset of the caller's org.
    src, src_kind = await resolve(session, p, data.source, create=True)
    dst, dst_kind = await resolve(session, p, data.target, written=True, create=True)
    await _require_visible(session, p, src, src_kind)
    await _require_visible(session, p, dst, dst_kind)
    await _require_own_target(session, p, dst, dst_kind)
    if src == dst:
        raise Unprocessable(
            "An edge cannot connect a node to itself.",
            errors=[field_error(["target"], "self-loop")],
        )
    if src_kind == "process" and dst_kind == "process":
        raise Unprocessable(
            "Connect processes through the datasets they read and write.",
            errors=[field_error(["target"], "process to process edges are not allowed")],
        )
    if await repo.edge_between(session, src, dst):
        raise Conflict("This edge already exists.")
    edge: LineageEdge = await repo.add(
        session,
        LineageEdge(
            src_id=src,
            dst_id=dst,
            src_kind=src_kind,
            dst_kind=dst_kind,
            org_id=p.org_id,
            origin="manual",
        ),
    )
    await session.refresh(edge)
    ref = Ref("edge", str(edge.id), f"{src}->{dst}")
    await audit.record(
        session,
        p.actor(),
        "lineage.edge_create",
        ref,
        {
            "source": {"before": None, "after": str(src)},
            "target": {"before": None, "after": str(dst)},
        },
    )
    await events.emit(
        session,
        "lineage.changed",
        p.actor(),
        _subject(src, src_kind, dst, dst_kind),
        {"edges_added": [[str(src), str(dst)]], "kinds": {str(src): src_kind, str(dst): dst_kind}},
    )
    return edge


def _subject(src: uuid.UUID, src_kind: str, dst: uuid.UUID, dst_kind: str) -> Ref:
    """Edge events are about a dataset end when there is one (so they follow its visibility)."""
    if dst_kind == "dataset":
        return Ref("dataset", str(dst))
    if src_kind == "dataset":
        return Ref("dataset", str(src))
    return Ref("process", str(src))


async def list_edges(
    session: AsyncSession, p: Principal, node: str | None, limit: int, cursor: str | None
) -> tuple[list[LineageEdge], str | None]:
    node_id = None
    if node:
        node_id, kind = await resolve(session, p, node)
        await _require_visible(session, p, node_id, kind)
    rows = await repo.page_edges(session, node_id, limit * 2 + 1, decode_cursor(cursor, 1))
    visible = await _visible_ids(session, p, {i for e in rows for i in (e.src_id, e.dst_id)})
    kept = [e for e in rows if e.src_id in visible and e.dst_id in visible]
    return split_page(kept, limit, lambda e: [str(e.id)])


async def delete_edge(session: AsyncSession, p: Principal, edge_id: uuid.UUID) -> None:
    _require_writer(p)
    edge = await repo.get_edge(session, edge_id)
    if edge is None:
        raise NotFound("No such edge.")
    await _require_visible(session, p, edge.src_id, edge.src_kind)
    await _require_visible(session, p, edge.dst_id, edge.dst_kind)
    await _require_own_target(session, p, edge.dst_id, edge.dst_kind)
    ref = Ref("edge", str(edge.id), f"{edge.src_id}->{edge.dst_id}")
    await audit.record(
        session,
        p.actor(),
        "lineage.edge_delete",
        ref,
        {
            "source": {"before": str(edge.src_id), "after": None},
            "target": {"before": str(edge.dst_id), "after": None},
        },
    )
    await events.emit(
        session,
        "lineage.changed",
        p.actor(),
        _subject(edge.src_id, edge.src_kind, edge.dst_id, edge.dst_kind),
        {"edges_removed": [[str(edge.src_id), str(edge.dst_id)]]},
    )
    await repo.delete_obj(session, edge)


# -- visibility of many nodes -------------------------------------------------------------------
CHUNK = 10_000
"""Ids per catalog query (an IN list: a statement takes at most 32,767 parameters)."""


async def _visible_ids(session: AsyncSession, p: Principal, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    id_list = list(ids)
    datasets = set(
        await session.scalars(
            select(Dataset.id).where(
                Dataset.id == repo.uuid_any(id_list), catalog.readable_clause(p, Dataset)
            )
        )
    )
    processes = set(
        await session.scalars(
            select(Process.id).where(
                Process.id == repo.uuid_any(id_list), Process.org_id == p.org_id
            )
        )
    )
    return datasets | processes


# -- graph queries ------------------------------------------------------------------------------
def engine_for(app_state: Any) -> GraphEngine:
    engine: GraphEngine = getattr(app_state, "graph_engine", None) or POSTGRES
    return engine


async def graph(
    session: AsyncSession,
    p: Principal,
    engine: GraphEngine,
    ref: str,
    direction: str,
    depth: int,
    max_nodes: int,
    *,
    salt: str = "",
    more: bool = False,
) -> dict[str, Any]:
    """The lineage around a node. With ``more`` (the graph endpoint), each node at the edge of
    the drawing also tells how many undrawn nodes lie beyond it per direction, and ``more``
    per direction for the whole drawing (see ``frontier.beyond``)."""
    start, kind = await resolve(session, p, ref)
    await _require_visible(session, p, start, kind)
    result, used = await traverse(
        engine, POSTGRES, session, start, kind, direction, depth, max_nodes
    )
    nodes = await _describe(session, p, result.nodes, salt)
    placeholder = {n["real_id"]: n["id"] for n in nodes}
    edges = [{"source": placeholder[s], "target": placeholder[t]} for s, t in sorted(result.edges)]
    out: dict[str, Any] = {
        "nodes": nodes,
        "edges": edges,
        "truncated": result.truncated,
        "engine": used,
    }
    if more:
        counts = await frontier.beyond(session, engine, [uuid.UUID(n) for n in result.nodes])
        for n in nodes:
            uid = uuid.UUID(n["real_id"])
            n["more_upstream"] = counts.upstream.get(uid, 0)
            n["more_downstream"] = counts.downstream.get(uid, 0)
        out["more"] = {"upstream": counts.total_upstream, "downstream": counts.total_downstream}
        out["more_exact"] = counts.exact
    for n in nodes:
        n.pop("real_id")
    return out


def _placeholder_id(node_id: str, salt: str) -> str:
    """An opaque id for a hidden node: the same node gets the same id in every response (so a
    client can merge expansions) and nobody can tell which node it is without the server key."""
    digest = hmac.new(salt.encode(), node_id.encode(), hashlib.sha256).hexdigest()
    return f"restricted-{digest[:20]}"


_NODE_FIELDS: dict[str, Any] = {
    "name": None,
    "namespace": None,
    "platform": None,
    "visibility": None,
    "health": None,
    "more_upstream": 0,
    "more_downstream": 0,
}
"""Every field of ``GraphNode`` a described node may not have: the graph and impact answers
are encoded as built (``kit.schemas.encoded``), so each node carries them all."""


async def _describe(
    session: AsyncSession, p: Principal, depths: dict[str, int], salt: str = ""
) -> list[dict[str, Any]]:
    """Name what the caller may see; a restricted placeholder (kind only) for the rest."""
    ids = [uuid.UUID(i) for i in depths]
    visible = await _visible_ids(session, p, set(ids))
    datasets = {
        d.id: d
        for d in await session.scalars(
            select(Dataset).where(Dataset.id.in_([i for i in ids if i in visible]))
        )
    }
    processes = {
        pr.id: pr
        for pr in await session.scalars(
            select(Process).where(Process.id.in_([i for i in ids if i in visible]))
        )
    }
    kinds = await repo.node_kinds(session, ids)
    health = await node_health(session, [d.node_id for d in datasets.values() if d.node_id])
    out = []
    for node_id, depth in sorted(depths.items(), key=lambda kv: (kv[1], kv[0])):
        uid = uuid.UUID(node_id)
        kind = kinds.get(uid, "dataset")
        if uid in datasets:
            d = datasets[uid]
            out.append(
                _NODE_FIELDS
                | {
                    "real_id": node_id,
                    "id": node_id,
                    "kind": "dataset",
                    "name": d.name,
                    "namespace": d.namespace,
                    "depth": depth,
                    "restricted": False,
                    "platform": d.platform,
                    "visibility": d.visibility,
                    "health": health.get(d.node_id) if d.node_id else None,
                }
            )
        elif uid in processes:
            pr = processes[uid]
            out.append(
                _NODE_FIELDS
                | {
                    "real_id": node_id,
                    "id": node_id,
                    "kind": "process",
                    "name": pr.name,
                    "namespace": pr.namespace,
                    "depth": depth,
                    "restricted": False,
                    "health": _run_health(pr.latest_run_state),
                }
            )
        else:
            out.append(
                _NODE_FIELDS
                | {
                    "real_id": node_id,
                    "id": _placeholder_id(node_id, salt),
                    "kind": kind,
                    "depth": depth,
                    "restricted": True,
                }
            )
    return out


def _run_health(state: str | None) -> str | None:
    if state is None:
        return None
    return {"FAIL": "error", "ABORT": "error", "COMPLETE": "ok"}.get(state, "unknown")


async def node_health(session: AsyncSession, node_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Status of the connections (nodes) datasets live on."""
    return await repo.node_statuses(session, node_ids)


async def _blast_radius(
    session: AsyncSession,
    engine: GraphEngine,
    start: uuid.UUID,
    kind: str,
    depth: int,
    max_nodes: int,
) -> tuple[list[tuple[int, str]], dict[str, str], bool, bool]:
    """Everything downstream of ``start`` within ``depth`` as (distance, id) in that order, their
    kinds, whether it was cut, and whether it is exact: the lineage index gives every node
    (never cut); another engine, or the index when it is not ready, the capped walk."""
    exact = getattr(engine, "downstream", None)
    if exact is not None:
        found = await exact(session, start, kind, depth)
        if found is not None:
            rows, kinds = found
            return rows, kinds, False, True
    result, _ = await traverse(
        engine, POSTGRES, session, start, kind, "downstream", depth, max_nodes
    )
    rows = sorted((d, n) for n, d in result.nodes.items() if n != str(start))
    found_kinds = await repo.node_kinds(session, [uuid.UUID(n) for _, n in rows])
    kinds = {str(k): v for k, v in found_kinds.items()}
    return rows, kinds, result.truncated, False


async def impact(
    session: AsyncSession,
    p: Principal,
    engine: GraphEngine,
    ref: str,
    depth: int,
    max_nodes: int,
    *,
    salt: str = "",
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """What breaks if this fails: everything downstream, who owns it, who follows it.

    ``totals``, ``by_distance``, ``by_platform`` and ``notify`` cover the whole blast radius
    (exact on the lineage index); ``items`` is one page of it ordered by distance then id
    (``limit``, default ``max_nodes``; ``next_cursor`` for the next). What the caller may not
    see is counted under ``restricted`` and never named.
    """
    start, kind = await resolve(session, p, ref)
    await _require_visible(session, p, start, kind)
    size = limit or max_nodes
    # The cursor is a position in the order (never an id: a hidden node's id is not told).
    after = decode_cursor(cursor, 1)
    if after and (type(after[0]) is not int or after[0] < 0):
        raise BadRequest("This cursor is not valid.")
    at = after[0] if after else 0
    on_index = getattr(engine, "blast", None)
    blast = await on_index(session, start, kind, depth) if on_index is not None else None
    if blast is not None:
        return await _impact_on_index(session, p, blast, start, depth, salt, at, size)
    rows, kinds, truncated, exact = await _blast_radius(
        session, engine, start, kind, depth, max_nodes
    )
    ids = [uuid.UUID(n) for _, n in rows]
    visible = await _visible_ids(session, p, set(ids))
    visible_ds = [i for i in ids if i in visible and kinds.get(str(i)) == "dataset"]
    people = await _people(session, visible_ds)
    hidden_ds = [i for i in ids if i not in visible and kinds.get(str(i)) == "dataset"]
    hidden_owners = await _owner_keys(session, hidden_ds)
    by_distance: dict[int, int] = {}
    for d, _ in rows:
        by_distance[d] = by_distance.get(d, 0) + 1
    page = rows[at : at + size]
    return {
        **await _impact_page(session, p, start, page, salt, at + size < len(rows), at + size),
        "depth": depth,
        "totals": {
            "datasets": sum(1 for k in kinds.values() if k == "dataset"),
            "processes": sum(1 for k in kinds.values() if k == "process"),
            "restricted": sum(1 for i in ids if i not in visible),
            "people": len(people),
            # Owners of affected datasets the caller may not see: counted, never named (and
            # not counted again when they are to be notified for a visible dataset).
            "hidden_owners": len(hidden_owners - people.keys()),
        },
        "by_distance": [{"distance": d, "count": c} for d, c in sorted(by_distance.items())],
        "by_platform": [
            {"platform": k, "count": c}
            for k, c in sorted((await _platforms(session, visible_ds)).items())
        ],
        "notify": sorted(people.values(), key=lambda x: (x["email"] or x["name"]).lower()),
        "truncated": truncated,
        "exact": exact,
    }


async def _impact_page(
    session: AsyncSession,
    p: Principal,
    start: uuid.UUID,
    page: list[tuple[int, str]],
    salt: str,
    more: bool,
    next_at: int,
) -> dict[str, Any]:
    """The root node, one page of items (in the page's order) and the next cursor."""
    root_and_page = {str(start): 0} | {n: d for d, n in page}
    described = await _describe(session, p, root_and_page, salt)
    root = next(n for n in described if n["real_id"] == str(start))
    order = {n: i for i, (_, n) in enumerate(page)}
    affected = sorted(
        (n for n in described if n["real_id"] != str(start)), key=lambda n: order[n["real_id"]]
    )
    root.pop("real_id")
    return {
        "node": root,
        "items": await _impact_items(session, affected),
        "next_cursor": encode_cursor([next_at]) if more else None,
    }


async def _impact_on_index(
    session: AsyncSession,
    p: Principal,
    blast: Blast,
    start: uuid.UUID,
    depth: int,
    salt: str,
    at: int,
    size: int,
) -> dict[str, Any]:
    """``impact`` on the lineage index: totals, distances and platforms from its arrays (its
    org, visibility and platform bits); PostgreSQL is asked only what bits cannot tell (who
    owns a private dataset, nodes changed since the build), the people, and the page."""
    ix, nodes, depths = blast.index, blast.nodes, blast.depths
    proc = ix.is_process[nodes]
    visible = await _readable_on_index(session, p, blast)
    shown_ds, hidden_ds = nodes[visible & ~proc], nodes[~visible & ~proc]
    people, hidden_owners = await _people_on_index(session, ix, shown_ds, hidden_ds)
    # Counts by bincount (one pass), not np.unique (a sort of ~1.5M values for a big hub).
    per_distance = np.bincount(depths) if depths.size else np.zeros(0, np.int64)
    distances = np.flatnonzero(per_distance)
    counts = per_distance[distances]
    codes = ix.platform[shown_ds]
    platforms: dict[str, int] = {}
    per_code = np.bincount(codes[codes >= 0], minlength=len(ix.platforms))
    for code in np.flatnonzero(per_code).tolist():
        platforms[ix.platforms[code]] = int(per_code[code])
    unknown = [uuid.UUID(t) for t in ix.texts(shown_ds[codes < 0])]
    for name, n in (await _platforms(session, unknown)).items():
        platforms[name] = platforms.get(name, 0) + n
    page_nodes = nodes[at : at + size]
    page = list(zip(depths[at : at + size].tolist(), ix.texts(page_nodes), strict=True))
    return {
        **await _impact_page(session, p, start, page, salt, at + size < nodes.size, at + size),
        "depth": depth,
        "totals": {
            "datasets": int(np.count_nonzero(~proc)),
            "processes": int(np.count_nonzero(proc)),
            "restricted": int(np.count_nonzero(~visible)),
            "people": len(people),
            "hidden_owners": len(hidden_owners - people.keys()),
        },
        "by_distance": [
            {"distance": int(d), "count": int(c)}
            for d, c in zip(distances.tolist(), counts.tolist(), strict=True)
        ],
        "by_platform": [{"platform": k, "count": c} for k, c in sorted(platforms.items())],
        "notify": sorted(people.values(), key=lambda x: (x["email"] or x["name"]).lower()),
        "truncated": False,
        "exact": True,
    }


async def _readable_on_index(session: AsyncSession, p: Principal, blast: Blast) -> Any:
    """What ``p`` may see of a blast radius on the index, as a mask over its nodes: the index's
    bits where they decide, PostgreSQL for the rest (private datasets of others, new nodes)."""
    ix, nodes = blast.index, blast.nodes
    visible, undecided = ix.readable(nodes, p.org_id, p.role in ("admin", "steward"))
    if undecided.any():
        asked = [uuid.UUID(t) for t in ix.texts(nodes[undecided])]
        seen = await _visible_ids(session, p, set(asked))
        visible = visible.copy()
        visible[undecided] = np.fromiter((i in seen for i in asked), bool, len(asked))
    return visible


async def impact_view(
    session: AsyncSession, p: Principal, engine: GraphEngine, ref: str, depth: int, max_nodes: int
) -> bytes:
    """A digest of what ``p`` may see of ``ref``'s blast radius (the start checked as
    :func:`impact` checks it, raising the same errors). :func:`impact` depends on its caller
    only through that (visibility of the start and of each node of the radius; the radius,
    names, people and health are the same for all), so readers with equal views get equal
    impacts and a caller answering many readers computes it once per view. A few statements
    (resolve, the start's check, the undecided part of the radius) instead of an impact's ~10.
    """
    start, kind = await resolve(session, p, ref)
    await _require_visible(session, p, start, kind)
    h = hashlib.sha256(start.bytes)
    on_index = getattr(engine, "blast", None)
    blast = await on_index(session, start, kind, depth) if on_index is not None else None
    if blast is not None:
        # By content (the nodes' ids and the mask), not by position: comparable across
        # versions of the index.
        h.update(b"index" + blast.index.uids[blast.nodes].tobytes())
        h.update(np.packbits(await _readable_on_index(session, p, blast)).tobytes())
        return h.digest()
    rows, _, truncated, _ = await _blast_radius(session, engine, start, kind, depth, max_nodes)
    ids = [uuid.UUID(n) for _, n in rows]
    visible = await _visible_ids(session, p, set(ids))
    h.update(b"walk" + bytes([truncated]) + b"".join(i.bytes for i in ids))
    h.update(bytes(i in visible for i in ids))
    return h.digest()


async def _platforms(session: AsyncSession, ids: list[uuid.UUID]) -> dict[str, int]:
    return await repo.platform_counts(session, ids)


async def impact_export(
    session: AsyncSession,
    p: Principal,
    engine: GraphEngine,
    ref: str,
    depth: int,
    max_nodes: int,
) -> list[tuple[int, str]]:
    """The whole blast radius as (distance, id), in ``impact``'s order: the checks (404 for
    what the caller may not see) happen here, before anything is streamed."""
    start, kind = await resolve(session, p, ref)
    await _require_visible(session, p, start, kind)
    rows, _, _, _ = await _blast_radius(session, engine, start, kind, depth, max_nodes)
    return rows


async def impact_items_stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    p: Principal,
    rows: list[tuple[int, str]],
    *,
    salt: str = "",
    chunk: int = 1000,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Impact items for ``rows``, chunk by chunk, in their own session (for streaming)."""
    async with sessionmaker() as session:
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            described = await _describe(session, p, {n: d for d, n in part}, salt)
            order = {n: j for j, (_, n) in enumerate(part)}
            described.sort(key=lambda n: order[n["real_id"]])
            yield await _impact_items(session, described)


# A person's reasons listed in an impact (nearest first); ``reasons_total`` counts them all.
REASONS_SHOWN = 5


async def _people(
    session: AsyncSession, visible_ds: Sequence[uuid.UUID | str]
) -> dict[str, dict[str, Any]]:
    """Who to tell about these datasets: owners (users and names from ownership facets) and
    followers, each once, with their first reasons in the given order and how many in all."""
    users, named = await repo.people_of(session, visible_ds, shown=REASONS_SHOWN)
    people: dict[str, dict[str, Any]] = {}
    for uid, name, email, total, reasons in users:
        people[str(uid)] = {
            "id": str(uid),
            "name": name,
            "email": email,
            "reasons": reasons,
            "reasons_total": total,
        }
    for key, who, total, reasons in named:
        # An owner named by an ownership facet who is not a user: still told.
        people[f"named:{key}"] = {
            "id": None,
            "name": who,
            "email": owner_email(who),
            "reasons": reasons,
            "reasons_total": total,
        }
    return people


async def _people_on_index(
    session: AsyncSession, ix: LineageIndex, shown: Any, hidden: Any
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """:func:`_people` of the ``shown`` datasets (in their order) and :func:`_owner_keys` of the
    ``hidden`` ones, from the index's people arrays (``people.PeopleEntries``). PostgreSQL is
    asked only the people of datasets changed since the build, the users as they are now and
    the names of the reasons shown."""
    both = np.concatenate([shown, hidden])
    entries = PeopleEntries(ix, *ix.people_of(both))
    stale = np.flatnonzero(ix.people_stale[both] & ix.has_people[both])
    asked = ix.texts(both[stale])
    where = dict(zip(asked, stale.tolist(), strict=True))
    entries.add_rows(where, *await repo.people_rows(session, asked))
    exists, user_names, emails, disabled = await repo.users_brief(session, entries.user_ids())
    entries.keep_told(exists, disabled)
    in_shown = entries.pos < shown.size
    hidden_owners = entries.owners_among(~in_shown)
    groups, totals, spells, at, kinds, offsets = entries.grouped(in_shown, REASONS_SHOWN)
    datasets, which = np.unique(both[at], return_inverse=True)
    names = ix.names_of(datasets)
    unknown = [i for i, n in enumerate(names) if n is None]
    if unknown:  # changed since the build: as they are now
        texts = ix.texts(datasets[unknown])
        now = await repo.dataset_names(session, texts)
        for i, t in zip(unknown, texts, strict=True):
            names[i] = now.get(t)
    # Each reason's text once per (kind, dataset), then taken for every entry in C.
    labels = np.array(
        [f"owns {n or ''}" for n in names] + [f"follows {n or ''}" for n in names], dtype=object
    )
    why: list[str] = labels[kinds * len(names) + which.reshape(-1)].tolist()
    told: dict[str, dict[str, Any]] = {}
    bounds = offsets.tolist()
    uids = entries.user_texts(entries.user_groups)  # in the order of users_brief's answers
    for i, (group, total, spell) in enumerate(
        zip(groups.tolist(), totals.tolist(), spells.tolist(), strict=True)
    ):
        reasons = why[bounds[i] : bounds[i + 1]]
        at_user = entries.user_order.get(group)
        if at_user is not None:
            uid = uids[at_user]
            told[uid] = {
                "id": uid,
                "name": user_names[at_user],
                "email": emails[at_user],
                "reasons": reasons,
                "reasons_total": total,
            }
        else:
            who = entries.spelling(spell)
            told[f"named:{entries.key(group)}"] = {
                "id": None,
                "name": who,
                "email": owner_email(who),
                "reasons": reasons,
                "reasons_total": total,
            }
    return told, hidden_owners


async def _owner_keys(session: AsyncSession, ds: Sequence[uuid.UUID | str]) -> set[str]:
    """The owners (users) of these datasets, keyed as :func:`_people` keys users."""
    return {str(u) for u in await repo.owner_ids(session, ds)}


async def _impact_items(
    session: AsyncSession, affected: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Impact items (owners, health, latest run) for described nodes, in their order."""
    visible_ds = [
        uuid.UUID(n["real_id"]) for n in affected if n["kind"] == "dataset" and not n["restricted"]
    ]
    owners = await catalog.owners_of(session, visible_ds)
    named = await catalog.named_owners_of(session, visible_ds)
    followers = await catalog.followers_of(session, visible_ds)
    procs = {
        pr.id: pr
        for pr in await session.scalars(
            select(Process).where(
                Process.id.in_(
                    [
                        uuid.UUID(n["real_id"])
                        for n in affected
                        if n["kind"] == "process" and not n["restricted"]
                    ]
                )
            )
        )
    }
    items = []
    for n in affected:
        uid = uuid.UUID(n["real_id"])
        item: dict[str, Any] = {
            "id": n["id"],
            "kind": n["kind"],
            "name": n.get("name"),
            "namespace": n.get("namespace"),
            "distance": n["depth"],
            "restricted": n["restricted"],
            "owners": [],
            "follower_count": 0,
            "health": n.get("health"),
            "latest_run_state": None,
            "platform": None,
        }
        if n["kind"] == "dataset" and not n["restricted"]:
            item["platform"] = n.get("platform")
            item["owners"] = [u.email for u in owners.get(uid, [])] + named.get(uid, [])
            item["follower_count"] = len(followers.get(uid, []))
        if n["kind"] == "process" and uid in procs:
            item["latest_run_state"] = procs[uid].latest_run_state
            item["owners"] = list(procs[uid].owners or [])
        items.append(item)
    return items


IMPACT_DEPTH = 20
"""How deep impact counts reach (the impact endpoint's default depth)."""


async def downstream_dataset_count(
    session: AsyncSession,
    node: uuid.UUID,
    kind: str,
    *,
    engine: GraphEngine = POSTGRES,
    depth: int = IMPACT_DEPTH,
    max_nodes: int = 5000,
) -> int:
    """How many datasets are downstream of a node, hidden ones included (a count names nothing):
    the impact query's walk, for run failures and SLA breaches."""
    result, _ = await traverse(
        engine, POSTGRES, session, node, kind, "downstream", depth, max_nodes
    )
    if len(result.nodes) <= 1:
        return 0
    kinds = await repo.node_kinds(session, [uuid.UUID(n) for n in result.nodes if n != str(node)])
    return sum(1 for k in kinds.values() if k == "dataset")


# -- lineage derived from SQL (crawled views, dbt models) ---------------------------------------
@dataclass(slots=True)
class DerivedProcess:
    """A process whose edges some SQL decides: a view (crawl) or a model (dbt)."""

    namespace: str
    name: str
    type: str
    inputs: list[uuid.UUID]
    outputs: list[uuid.UUID]
    sql: str | None = None
    description: str = ""
    owners: list[str] = field(default_factory=list)
    # {output_dataset_id, output_field, input_dataset_id, input_field, transformation_type,
    #  transformation_subtype}
    column_edges: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class DerivedOutcome:
    process_ids: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)
    edges_added: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    edges_removed: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)


async def derived_sql(
    session: AsyncSession, org_id: uuid.UUID, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], str | None]:
    """The SQL stored on the org's processes of these names (to skip re-deriving lineage from
    unchanged SQL)."""
    return await repo.process_sql(session, org_id, keys)


async def apply_derived(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    processes: list[DerivedProcess],
    *,
    origin: str,
    audit_each: bool = True,
) -> DerivedOutcome:
    """Upsert processes and make their edges what their SQL says; one ``lineage.changed`` event
    and one audit entry when anything changed, nothing at all otherwise. Job names are the
    org's own (ADR 0005): another org's job of the same name is never touched."""
    out = DerivedOutcome()
    if not processes:
        return out
    by_key = {(d.namespace, d.name): d for d in processes}
    rows: list[dict[str, Any]] = [
        {
            "id": uuid7(),
            "org_id": org_id,
            "namespace": d.namespace[:500],
            "name": d.name[:1000],
            "type": d.type,
            "sql": d.sql,
            "description": d.description,
            "source_code": {},
            "owners": d.owners,
            "origin": origin,
        }
        for _key, d in sorted(by_key.items())
    ]
    names = [(str(r["namespace"]), str(r["name"])) for r in rows]
    created_before = await repo.process_ids(session, org_id, names)
    out.process_ids = await repo.upsert_processes(session, rows)
    fresh = [pid for k, pid in out.process_ids.items() if k not in created_before]
    all_edges: dict[uuid.UUID, list[dict[str, Any]]] = {}
    all_columns: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for key, proc_id in sorted(out.process_ids.items()):
        d = by_key[key]
        edges = [
            {
                "id": uuid7(),
                "src_id": src,
                "dst_id": proc_id,
                "src_kind": "dataset",
                "dst_kind": "process",
                "org_id": org_id,
                "origin": origin,
            }
            for src in dict.fromkeys(d.inputs)
            if src not in d.outputs
        ] + [
            {
                "id": uuid7(),
                "src_id": proc_id,
                "dst_id": dst,
                "src_kind": "process",
                "dst_kind": "dataset",
                "org_id": org_id,
                "origin": origin,
            }
            for dst in dict.fromkeys(d.outputs)
        ]
        columns = {
            (c["output_dataset_id"], c["output_field"], c["input_dataset_id"], c["input_field"]): {
                **c,
                "id": uuid7(),
                "process_id": proc_id,
            }
            for c in d.column_edges
        }
        all_edges[proc_id] = edges
        all_columns[proc_id] = list(columns.values())
    out.edges_added, out.edges_removed = await repo.replace_process_lineage(
        session, all_edges, all_columns
    )
    if out.edges_added or out.edges_removed or fresh:
        kinds = {str(i): "process" for i in out.process_ids.values()}
        for src, dst in out.edges_added:
            kinds.setdefault(str(src), "dataset")
            kinds.setdefault(str(dst), "dataset")
        await events.emit(
            session,
            "lineage.changed",
            actor,
            Ref("process", str(next(iter(out.process_ids.values())))),
            {
                "edges_added": [[str(s), str(d)] for s, d in out.edges_added],
                "edges_removed": [[str(s), str(d)] for s, d in out.edges_removed],
                "nodes_added": [str(i) for i in fresh],
                "kinds": kinds,
                "origin": origin,
            },
            org_id=org_id,
        )
    if audit_each and (out.edges_added or out.edges_removed or fresh):
        await audit.record(
            session,
            actor,
            "lineage.derive",
            Ref("org", str(org_id), None),
            details={
                "origin": origin,
                "processes": len(out.process_ids),
                "processes_created": len(fresh),
                "edges_added": len(out.edges_added),
                "edges_removed": len(out.edges_removed),
            },
            org_id=org_id,
        )
    return out
