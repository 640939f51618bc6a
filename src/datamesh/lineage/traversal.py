"""Hop-depth semantics of lineage traversal, shared by every graph engine.

The graph has ``dataset`` and ``process`` nodes and directed edges dataset->process (input),
process->dataset (output) and dataset->dataset (drawn by hand). Users think in transformations,
not raw edges, so depth counts *hops*: one hop is one transformation crossed, either a process
or a direct dataset->dataset edge.

- The start node has depth 0.
- A dataset's depth is the least number of transformations crossed to reach it.
- A process's depth is the depth of the datasets it leads to in the walk direction: from dataset
  A with A->P->B, both P and B have depth 1. A start process is depth 0 and its outputs
  (downstream) or inputs (upstream) are depth 1, because reaching them crosses the process.
- ``both`` is the union of the upstream and the downstream walk; a node on both sides keeps the
  smaller depth. It is not a walk that turns around (siblings are not lineage).
- Nodes deeper than ``max_depth`` are left out, and so is every edge not between two included
  nodes. The result's edges are all known edges among the included nodes.
- ``max_nodes`` keeps the nearest nodes and sets ``truncated``. Within a depth, processes come
  before datasets (so every kept node stays connected to the start), then ids decide, so every
  engine cuts the same way.

In raw edges, a step u->v (in walk order) crosses ``[v is a process] + [u and v are datasets] +
[u is the start process]`` transformations: 0 from a process to what it leads to (the process
was counted on entry), 2 only from a start process straight into another process, 1 otherwise.
A 0-1 BFS over a deque then gives least depths in linear time, never enumerating paths and safe
on cycles. Zero-weight steps never follow each other, so a node at depth h is at most 2h raw
edges away: an engine fetches the raw neighbourhood within ``2 * max_depth`` edges and hands it
here.

``hop_depths_csr`` is the same walk on a graph held in CSR arrays (the in-memory lineage index):
level by level, whole frontiers at once. Because the only zero-weight steps go from a process to
what it leads to, a level is closed by one such step from its processes; the weight-1 steps of
the level give the next one, and the start process's weight-2 steps the one after. Its weights
come from ``_step_weights``, the array form of ``_weight``, so the rule lives here once; the
property tests check both walks agree on random graphs.

``hop_depths_bfs`` gives the same depths, uncut, with one breadth-first search in C (scipy's
csgraph). It needs no weights: split every same-kind edge (dataset->dataset, process->process)
with a virtual node of the other kind, and every path alternates datasets and processes, so a
path of ``L`` raw edges crosses ``(L + [start is a process] + [end is a process]) // 2``
transformations (count the processes on it: the virtual ones stand for the direct
dataset->dataset steps), but for the start itself, at 0. That is increasing in ``L`` for a
given end, so the least raw distance gives the least depth. The levels of the search are
read off its order and predecessors.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

__all__ = [
    "DIRECTIONS",
    "MAX_DEPTH_LIMIT",
    "Adjacency",
    "Direction",
    "Graph",
    "NodeKey",
    "NodeKind",
    "Overlaid",
    "Traversal",
    "check_limits",
    "csr_steps",
    "hop_depths",
    "hop_depths_csr",
]

NodeKey = str
NodeKind = Literal["dataset", "process"]
Direction = Literal["upstream", "downstream", "both"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
Adjacency = Mapping[NodeKey, Iterable[NodeKey]] | Callable[[NodeKey], Iterable[NodeKey]]

MAX_DEPTH_LIMIT = 100
"""Deepest walk any caller may ask for; lineage chains that long are a modelling error."""


@dataclass(frozen=True, slots=True)
class Traversal:
    nodes: dict[NodeKey, int]
    """Included node -> hop depth."""
    edges: set[tuple[NodeKey, NodeKey]] = field(default_factory=set)
    """(source, target) edges with both ends included, in their stored direction."""
    truncated: bool = False
    """True when ``max_nodes`` cut off nodes that are within ``max_depth``."""


def check_limits(direction: str, max_depth: object, max_nodes: object) -> None:
    """Validate traversal knobs from untrusted input; engines call this before any query."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
    if type(max_depth) is not int or not 0 <= max_depth <= MAX_DEPTH_LIMIT:
        raise ValueError(f"max_depth must be an int between 0 and {MAX_DEPTH_LIMIT}")
    if type(max_nodes) is not int or max_nodes < 1:
        raise ValueError("max_nodes must be a positive int")


def _neighbours(adjacency: Adjacency) -> Callable[[NodeKey], Iterable[NodeKey]]:
    if isinstance(adjacency, Mapping):
        return lambda node: adjacency.get(node, ())
    return adjacency


def _reverse(out_edges: Mapping[NodeKey, Iterable[NodeKey]]) -> dict[NodeKey, list[NodeKey]]:
    rev: dict[NodeKey, list[NodeKey]] = {}
    for src, targets in out_edges.items():
        for dst in targets:
            rev.setdefault(dst, []).append(src)
    return rev


def _walk(
    start: NodeKey,
    kinds: Mapping[NodeKey, str],
    neighbours: Callable[[NodeKey], Iterable[NodeKey]],
    max_depth: int,
    max_nodes: int,
) -> tuple[dict[NodeKey, int], bool]:
    """0-1 BFS in one direction. Stops once ``max_nodes`` are settled and the depth grows,
    so everything at the boundary depth is kept for a deterministic cut by the caller."""
    best: dict[NodeKey, int] = {start: 0}
    settled: dict[NodeKey, int] = {}
    queue: deque[tuple[int, NodeKey]] = deque([(0, start)])
    boundary: int | None = None
    while queue:
        depth, node = queue.popleft()
        if node in settled or depth > best[node]:
            continue  # a stale entry: the node was reached more cheaply since
        if boundary is not None and depth > boundary:
            return settled, True
        settled[node] = depth
        if boundary is None and len(settled) >= max_nodes:
            boundary = depth
        steps = [(_weight(kinds, node, nxt, start), nxt) for nxt in neighbours(node)]
        if node == start:
            steps.sort()  # weight 2 only leaves the start: queue its targets after the 1s
        for weight, nxt in steps:
            nd = depth + weight
            if nd > max_depth or nd >= best.get(nxt, max_depth + 1):
                continue
            best[nxt] = nd
            if weight:
                queue.append((nd, nxt))
            else:
                queue.appendleft((nd, nxt))
    return settled, False


def _weight(kinds: Mapping[NodeKey, str], src: NodeKey, dst: NodeKey, start: NodeKey) -> int:
    """Transformations crossed by one step in walk order (see the module docstring)."""
    dst_process = _kind(kinds, dst) == "process"
    src_process = _kind(kinds, src) == "process"
    return dst_process + (not src_process and not dst_process) + (src_process and src == start)


def _kind(kinds: Mapping[NodeKey, str], node: NodeKey) -> str:
    try:
        return kinds[node]
    except KeyError:
        raise ValueError(f"node {node!r} has no kind") from None


def hop_depths(
    start: NodeKey,
    kinds: Mapping[NodeKey, str],
    out_edges: Adjacency,
    direction: Direction,
    max_depth: int,
    max_nodes: int,
    *,
    in_edges: Adjacency | None = None,
) -> Traversal:
    """Hop depths of every node within ``max_depth`` of ``start`` (see the module docstring).

    ``out_edges`` maps a node to its targets; ``in_edges`` (to its sources) is derived from a
    mapping when not given, and is required for upstream walks over a callable.
    """
    check_limits(direction, max_depth, max_nodes)
    _kind(kinds, start)
    out_fn = _neighbours(out_edges)
    walks: list[Callable[[NodeKey], Iterable[NodeKey]]] = []
    if direction in ("downstream", "both"):
        walks.append(out_fn)
    if direction in ("upstream", "both"):
        if in_edges is None:
            if not isinstance(out_edges, Mapping):
                raise ValueError("in_edges is required for upstream walks over a callable")
            in_edges = _reverse(out_edges)
        walks.append(_neighbours(in_edges))

    nodes: dict[NodeKey, int] = {}
    truncated = False
    for neighbours in walks:
        found, cut = _walk(start, kinds, neighbours, max_depth, max_nodes)
        truncated |= cut
        for node, depth in found.items():
            if depth < nodes.get(node, depth + 1):
                nodes[node] = depth
    if len(nodes) > max_nodes:
        # Processes first within a depth: a dataset at depth d hangs off a process at depth d,
        # so the kept set stays connected to the start.
        order = sorted(nodes, key=lambda n: (nodes[n], kinds[n] != "process", n))
        nodes = {n: nodes[n] for n in order[:max_nodes]}
        truncated = True

    edges = {(src, dst) for src in nodes for dst in out_fn(src) if dst in nodes}
    return Traversal(nodes=nodes, edges=edges, truncated=truncated)


CSR = tuple[Any, Any]
"""(indptr, indices) numpy arrays: the neighbours of node ``i`` are
``indices[indptr[i]:indptr[i + 1]]``."""


_LOW = np.int64(0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class Overlaid:
    """A base CSR with the edges added to it and removed from it since it was made, as sorted
    ``src << 32 | dst`` keys in its direction (few): what walks read between two folds of the
    lineage index, so a change costs the size of the change, not of the graph."""

    base: CSR
    added: Any
    """Keys of edges not in ``base``."""
    removed: Any
    """Keys of edges in ``base`` that are gone."""

    def steps(self, nodes: Any) -> tuple[Any, Any]:
        src, dst = csr_steps(self.base, nodes)
        if self.removed.size and src.size:
            keys = (src << 32) | dst
            at = np.minimum(np.searchsorted(self.removed, keys), self.removed.size - 1)
            keep = self.removed[at] != keys
            src, dst = src[keep], dst[keep]
        if self.added.size:
            more_src, more_dst = key_steps(self.added, nodes)
            if more_src.size:
                src, dst = np.concatenate([src, more_src]), np.concatenate([dst, more_dst])
        return src, dst


Graph = CSR | Overlaid
"""What a walk reads: a CSR, or a CSR with a few changes over it."""


def key_steps(keys: Any, nodes: Any) -> tuple[Any, Any]:
    """Every (source, neighbour) step out of ``nodes`` in sorted ``src << 32 | dst`` keys."""
    nodes = np.asarray(nodes, dtype=np.int64)
    lo = np.searchsorted(keys, nodes << 32)
    counts = np.searchsorted(keys, (nodes + 1) << 32) - lo
    total = int(counts.sum())
    if total == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(nodes, counts), keys[np.repeat(lo, counts) + offsets] & _LOW


def csr_steps(csr: Graph, nodes: Any) -> tuple[Any, Any]:
    """Every (source, neighbour) step out of ``nodes``, as two aligned int64 arrays."""
    if isinstance(csr, Overlaid):
        return csr.steps(nodes)
    nodes = np.asarray(nodes, dtype=np.int64)
    indptr, indices = csr
    starts, ends = indptr[nodes], indptr[nodes + 1]
    counts = ends - starts
    total = int(counts.sum())
    if total == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    src = np.repeat(nodes, counts)
    # Positions starts[k] .. ends[k]-1 for each k, without a Python loop.
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return src, indices[np.repeat(starts, counts) + offsets].astype(np.int64, copy=False)


def _step_weights(is_process: Any, src: Any, dst: Any, start: int) -> Any:
    """``_weight`` on arrays of steps: [dst is a process] + [both datasets] + [src is the start
    process]."""
    sp, dp = is_process[src], is_process[dst]
    return dp.astype(np.int8) + (~sp & ~dp) + (sp & (src == start))


def _walk_csr(start: int, is_process: Any, csr: Graph, max_depth: int, depth: Any) -> None:
    """Least hop depths from ``start`` written into ``depth`` (-1 = not reached)."""
    depth[start] = 0
    pending: dict[int, list[Any]] = {}
    level = np.array([start], dtype=np.int64)
    h = 0
    while True:
        # Close the level: zero-weight steps (a process to what it leads to) stay at depth h.
        src, dst = csr_steps(csr, level[is_process[level]])
        if src.size:
            zero = _step_weights(is_process, src, dst, start) == 0
            found = np.unique(dst[zero])
            found = found[depth[found] < 0]
            depth[found] = h
            level = np.concatenate([level, found])
        if h >= max_depth:
            return
        src, dst = csr_steps(csr, level)
        weights = _step_weights(is_process, src, dst, start)
        for w in (1, 2):
            if h + w <= max_depth:
                pending.setdefault(h + w, []).append(dst[weights == w])
        h += 1
        parts = pending.pop(h, [])
        nxt = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
        nxt = nxt[depth[nxt] < 0]
        depth[nxt] = h
        if not nxt.size and not pending:
            return
        level = nxt


def hop_depths_csr(
    start: int,
    is_process: Any,
    out_csr: Graph,
    in_csr: Graph,
    direction: Direction,
    max_depth: int,
    max_nodes: int | None,
    key: Callable[[int], str],
) -> tuple[dict[int, int], Any, bool]:
    """``hop_depths`` on integer nodes held in CSR arrays (``is_process`` is a bool array).

    Returns (node -> depth, included-node mask, truncated); ``max_nodes=None`` keeps every node
    within ``max_depth`` (exact impact). ``key`` gives a node's id for the same deterministic
    cut as ``hop_depths``; it is only called for nodes at the cut's depth.
    """
    check_limits(direction, max_depth, max_nodes if max_nodes is not None else 1)
    n = is_process.shape[0]
    best = np.full(n, -1, dtype=np.int32)
    for walk, csr in (("downstream", out_csr), ("upstream", in_csr)):
        if direction in (walk, "both"):
            depth = np.full(n, -1, dtype=np.int32)
            _walk_csr(start, is_process, csr, max_depth, depth)
            reached = depth >= 0
            better = reached & ((best < 0) | (depth < best))
            best[better] = depth[better]
    included = np.flatnonzero(best >= 0)
    truncated = False
    if max_nodes is not None and included.size > max_nodes:
        truncated = True
        # Processes first within a depth, then ids: the cut of ``hop_depths``.
        order = np.lexsort((~is_process[included], best[included]))
        ranked = included[order]
        edge_depth = best[ranked[max_nodes - 1]]
        keep = ranked[best[ranked] < edge_depth]
        tied = ranked[best[ranked] == edge_depth]
        tied_sorted = sorted(tied.tolist(), key=lambda i: (not bool(is_process[i]), key(i)))
        keep = np.concatenate([keep, np.array(tied_sorted, dtype=np.int64)])[:max_nodes]
        mask = np.zeros(n, dtype=bool)
        mask[keep] = True
        best[~mask] = -1
        included = np.sort(keep)
    mask = best >= 0
    return dict(zip(included.tolist(), best[included].tolist(), strict=True)), mask, truncated


def walk_depths(start: int, is_process: Any, csr: Graph, max_depth: int) -> Any:
    """Least hop depths from ``start`` over a whole graph (-1: not reached), uncut: the level
    walk of ``hop_depths_csr``, for a graph with changes over its CSR (``hop_depths_bfs``
    needs one CSR)."""
    depth = np.full(is_process.shape[0], -1, dtype=np.int32)
    _walk_csr(start, is_process, csr, max_depth, depth)
    return depth


def bfs_graph(out_csr: CSR, is_process: Any) -> Any:
    """The graph ``hop_depths_bfs`` searches: ``out_csr`` with each same-kind edge split by a
    virtual node (numbered after the real ones), as a scipy CSR matrix."""
    from scipy.sparse import csr_matrix  # imported when first needed: a heavy module

    indptr, indices = out_csr
    n = indptr.size - 1
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    same = is_process[src] == is_process[indices]
    k = int(np.count_nonzero(same))
    if k:
        virtual = n + np.arange(k, dtype=np.int64)
        src = np.concatenate([src[~same], src[same], virtual])
        dst = np.concatenate([indices[~same], virtual, indices[same]]).astype(np.int64)
        order = np.lexsort((dst, src))
        counts = np.bincount(src, minlength=n + k)
        indptr = np.zeros(n + k + 1, dtype=np.int32)
        np.cumsum(counts, out=indptr[1:])
        indices = dst[order].astype(np.int32)
    # The search reads no weights, but csgraph converts them to float64 on every call: give
    # it float64 ones already, as one value seen through a zero stride (no memory, no copy;
    # ~40% of the search's time at 4M edges went to that conversion).
    ones = np.broadcast_to(np.float64(1.0), (indices.size,))
    return csr_matrix((ones, indices, indptr), shape=(n + k, n + k), copy=False)


def bfs_graph_nbytes(graph: Any, out_csr: CSR) -> int:
    """Bytes of ``graph`` not shared with ``out_csr``."""
    held = int(graph.data.nbytes) if graph.data.strides != (0,) else 8
    for a, b in zip((graph.indptr, graph.indices), out_csr, strict=True):
        if not np.shares_memory(a, b):
            held += int(a.nbytes)
    return held


def hop_depths_bfs(graph: Any, is_process: Any, start: int, max_depth: int) -> tuple[Any, Any]:
    """Every real node downstream of ``start`` in ``bfs_graph``'s graph within ``max_depth``
    hops, uncut, as (node numbers, depths) arrays in search order."""
    from scipy.sparse.csgraph import breadth_first_order

    order, pred = breadth_first_order(graph, start, directed=True, return_predecessors=True)
    # FIFO order: the nodes of level l + 1 are the block after level l's whose predecessors
    # lie in level l, and the predecessors' places in the order never decrease along it.
    place = np.empty(graph.shape[0], dtype=np.int64)
    place[order] = np.arange(order.size)
    parent = place[pred[order[1:]]]
    bounds = [0, 1]
    while bounds[-1] < order.size:
        bounds.append(1 + int(np.searchsorted(parent, bounds[-1])))
    raw = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    n = is_process.size
    real = order < n
    nodes, raw = order[real].astype(np.int64), raw[real]
    depth = (raw + int(is_process[start]) + is_process[nodes]) // 2
    depth[0] = 0  # the start (first in the order), a process too
    keep = depth <= max_depth
    return nodes[keep], depth[keep]
