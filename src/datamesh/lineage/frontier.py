"""What lies beyond a drawn lineage graph: the "+N more" handles of the canvas.

For a drawn node and a direction, *beyond* it are the undrawn nodes reached from it through
undrawn nodes only (the first step leaves the drawing at that node), hidden nodes included: a
count names nothing. A node with nothing beyond it counts 0. For the whole drawing it is the
union over the drawn nodes, each node counted once.

On the lineage index this is exact: a breadth-first search on its CSR arrays per frontier node
(one level at a time with whole-frontier array operations), within a work budget; past the
budget the remaining nodes get the lower bound below and the answer says it is not exact.
Other engines (and the index when not ready) give that lower bound: the undrawn *direct*
neighbours, one aggregate query per direction in PostgreSQL, the source of truth.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.lineage import repository as repo
from datamesh.lineage import traversal
from datamesh.lineage.engine import EngineUnavailable

WORK_BUDGET = 1_000_000
"""Edges scanned (plus a fixed cost per BFS level) for the exact per-node counts of one graph."""
LEVEL_COST = 2_000


@dataclass(slots=True)
class Beyond:
    upstream: dict[uuid.UUID, int]
    downstream: dict[uuid.UUID, int]
    total_upstream: int
    total_downstream: int
    exact: bool


async def beyond(session: AsyncSession, engine: Any, drawn: list[uuid.UUID]) -> Beyond:
    """Counts for a drawing: exact on the lineage index, else undrawn direct neighbours."""
    current = getattr(engine, "current", None)  # the index engine (read-your-writes)
    if current is not None:
        try:
            index = await current(session)
        except EngineUnavailable:
            index = None
        if index is not None:
            return on_arrays(index.number, index.node_count, index.out_csr, index.in_csr, drawn)
    up, total_up = await repo.undrawn_neighbours(session, drawn, downstream=False)
    down, total_down = await repo.undrawn_neighbours(session, drawn, downstream=True)
    return Beyond(up, down, total_up, total_down, exact=False)


def on_arrays(
    number: Callable[[uuid.UUID], int | None],
    n: int,
    out_csr: traversal.Graph,
    in_csr: traversal.Graph,
    drawn: list[uuid.UUID],
    budget: int = WORK_BUDGET,
) -> Beyond:
    """``beyond`` on a graph held in CSR arrays (the lineage index's)."""
    found_at = ((number(d), d) for d in drawn)
    at = {i: d for i, d in found_at if i is not None}  # a node without edges is not in the index
    nodes = np.fromiter(at, np.int64, len(at))
    inside = np.zeros(n, dtype=bool)
    inside[nodes] = True
    left = [budget]
    per: dict[str, dict[uuid.UUID, int]] = {}
    totals: dict[str, int] = {}
    exact = True
    for name, csr in (("downstream", out_csr), ("upstream", in_csr)):
        totals[name] = _reach(csr, nodes, inside, None, [1 << 62]).size
        src, dst = traversal.csr_steps(csr, nodes)
        out = ~inside[dst]
        direct = np.bincount(src[out], minlength=n) if src.size else np.zeros(n, np.int64)
        counts: dict[uuid.UUID, int] = {}
        mark = np.zeros(n, dtype=np.int32)
        for stamp, node in enumerate(np.unique(src[out]).tolist(), start=1):
            if left[0] >= 0:
                found = _reach(csr, np.array([node], np.int64), inside, (mark, stamp), left)
            if left[0] < 0:  # out of budget: the lower bound from here on
                exact = False
                counts[at[node]] = int(direct[node])
            else:
                counts[at[node]] = int(found.size)
        per[name] = counts
    return Beyond(
        per["upstream"], per["downstream"], totals["upstream"], totals["downstream"], exact
    )


def _reach(
    csr: traversal.Graph,
    sources: Any,
    inside: Any,
    stamped: tuple[Any, int] | None,
    left: list[int],
) -> Any:
    """Nodes outside the drawing reached from ``sources`` through such nodes only. ``stamped``
    (a mark array and this search's stamp) avoids clearing a visited array per search;
    ``left`` is the work budget, decreased as edges are scanned (it may go negative, then
    the search stops and its answer is not to be used)."""
    if stamped is None:
        seen = inside.copy()

        def unseen(x: Any) -> Any:
            return x[~seen[x]]

        def visit(x: Any) -> None:
            seen[x] = True
    else:
        mark, stamp = stamped

        def unseen(x: Any) -> Any:
            return x[~inside[x] & (mark[x] != stamp)]

        def visit(x: Any) -> None:
            mark[x] = stamp

    found: list[Any] = []
    frontier = sources
    while frontier.size:
        _, dst = traversal.csr_steps(csr, frontier)
        left[0] -= dst.size + LEVEL_COST
        if left[0] < 0:
            break
        new = np.unique(unseen(dst))
        visit(new)
        found.append(new)
        frontier = new
    return np.concatenate(found) if found else np.zeros(0, np.int64)
