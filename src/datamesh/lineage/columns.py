"""Column lineage: a dataset's column edges both ways, and column-level impact to a depth.

Column edges (``ColumnEdge``) come from OpenLineage columnLineage facets, view SQL and dbt; a
column is a (dataset, field) pair and ``""`` as a field is the dataset as a whole (an INDIRECT
use: a filter, join or grouping on the input column). Visibility follows the dataset: a column
of a dataset the caller may not see keeps its place (so counts stay true) under the same opaque
id the graph gives a hidden node, and nothing of it is named: no dataset name, no field.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.errors import NotFound
from datamesh.lineage import repository as repo
from datamesh.lineage.service import _placeholder_id, _visible_ids, resolve

Column = tuple[uuid.UUID, str]


async def asset_columns(
    session: AsyncSession, p: Principal, dataset_id: uuid.UUID, direction: str, *, salt: str = ""
) -> list[dict[str, Any]]:
    """A readable dataset's column edges: where its columns come from (``upstream``), what they
    feed (``downstream``) or both. An edge whose other end the caller may not see is kept,
    restricted: that end's id is opaque and its name, field and the edge's description are
    left out."""
    await catalog.get(session, p, dataset_id)  # 404 if hidden
    edges = await repo.column_edges(
        session,
        dataset_id,
        upstream=direction in ("upstream", "both"),
        downstream=direction in ("downstream", "both"),
    )
    ends = {e.input_dataset_id for e in edges} | {e.output_dataset_id for e in edges}
    visible = await _visible_ids(session, p, ends)
    labels = await repo.dataset_labels(session, [i for i in ends if i in visible])
    out = []
    for e in edges:
        hidden_in = e.input_dataset_id not in visible
        hidden_out = e.output_dataset_id not in visible
        restricted = hidden_in or hidden_out
        out.append(
            {
                "output_dataset_id": _public_id(e.output_dataset_id, hidden_out, salt),
                "output_field": None if hidden_out else e.output_field,
                "output_dataset_name": None if hidden_out else labels[e.output_dataset_id][0],
                "input_dataset_id": _public_id(e.input_dataset_id, hidden_in, salt),
                "input_field": None if hidden_in else e.input_field,
                "input_dataset_name": None if hidden_in else labels[e.input_dataset_id][0],
                "transformation_type": e.transformation_type,
                "transformation_subtype": e.transformation_subtype,
                "description": None if restricted else e.description,
                "restricted": restricted,
            }
        )
    return out


def _public_id(dataset_id: uuid.UUID, hidden: bool, salt: str) -> str:
    return _placeholder_id(str(dataset_id), salt) if hidden else str(dataset_id)


LEVELS_PER_STATEMENT = 10
"""Levels of a column walk per statement: fewer round trips on long chains, while a column
reached again through a cycle or a diamond is expanded at most this many times per statement."""


async def walk(
    session: AsyncSession, start: Column, depth: int
) -> tuple[dict[Column, int], set[tuple[Column, Column]]]:
    """Least distance (column edges crossed) of every column downstream of ``start`` within
    ``depth``, and every column edge among them. Set-based: each statement walks up to
    ``LEVELS_PER_STATEMENT`` levels from the whole frontier in SQL (``repo.column_levels``);
    every column at a distance of ``base + level`` lies behind a frontier column (all at
    ``base``), so the least level in the statement is its distance. A visited set carries
    over between statements, so cycles end and no path is enumerated."""
    seen: dict[Column, int] = {start: 0}
    edges: set[tuple[Column, Column]] = set()
    frontier = [start]
    base = 0
    while frontier:
        levels = min(LEVELS_PER_STATEMENT, depth - base)
        rows = await repo.column_levels(
            session, [ds for ds, _ in frontier], [f for _, f in frontier], levels
        )
        frontier = []
        for in_ds, in_f, out_ds, out_f, level in rows:  # ordered by level
            src, dst = (in_ds, in_f), (out_ds, out_f)
            if dst not in seen:
                if level == levels:  # beyond this statement: the next one finds it
                    continue
                seen[dst] = base + level + 1
                if level + 1 == levels:
                    frontier.append(dst)
            edges.add((src, dst))
        base += levels
        if base >= depth:
            break
    return seen, edges


async def column_impact(
    session: AsyncSession, p: Principal, ref: str, field: str, depth: int, *, salt: str = ""
) -> dict[str, Any]:
    """Every column downstream of ``field`` of a readable dataset within ``depth`` column edges
    (see ``walk``), ordered by distance, dataset name, field; hidden ones counted, unnamed."""
    try:
        dataset_id, kind = await resolve(session, p, ref)
    except NotFound:
        raise NotFound("No such dataset.") from None
    if kind != "dataset":
        raise NotFound("No such dataset.")
    ds = await catalog.get(session, p, dataset_id)  # 404 if hidden: the same answer
    start = (dataset_id, field)
    seen, edges = await walk(session, start, depth)
    reached = {c: d for c, d in seen.items() if c != start}
    datasets = {ds_id for ds_id, _ in reached}
    visible = await _visible_ids(session, p, datasets)
    labels = await repo.dataset_labels(session, [i for i in datasets if i in visible])
    items = []
    for (ds_id, f), distance in reached.items():
        if ds_id in visible:
            name, namespace = labels[ds_id]
            items.append(
                {
                    "dataset_id": str(ds_id),
                    "name": name,
                    "namespace": namespace,
                    "field": f,
                    "distance": distance,
                    "restricted": False,
                }
            )
        else:
            items.append(
                {
                    "dataset_id": _placeholder_id(str(ds_id), salt),
                    "name": None,
                    "namespace": None,
                    "field": None,
                    "distance": distance,
                    "restricted": True,
                }
            )
    items.sort(
        key=lambda i: (
            i["distance"],
            i["restricted"],
            i["name"] or "",
            i["namespace"] or "",
            i["field"] or "",
            i["dataset_id"],
        )
    )
    shown = visible | {dataset_id}
    return {
        "column": {
            "dataset_id": str(dataset_id),
            "name": ds.name,
            "namespace": ds.namespace,
            "field": field,
        },
        "depth": depth,
        "items": items,
        "edges": [
            {
                "source_dataset_id": str(a[0]),
                "source_field": a[1],
                "target_dataset_id": str(b[0]),
                "target_field": b[1],
            }
            for a, b in sorted(edges, key=lambda e: (str(e[0][0]), e[0][1], str(e[1][0]), e[1][1]))
            if a[0] in shown and b[0] in shown
        ],
        "totals": {
            "columns": len(items),
            "datasets": len(datasets),
            "restricted": sum(1 for i in items if i["restricted"]),
        },
    }
