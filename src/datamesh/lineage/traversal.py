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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "DIRECTIONS",
    "MAX_DEPTH_LIMIT",
    "Adjacency",
    "Direction",
    "NodeKey",
    "NodeKind",
    "Traversal",
    "check_limits",
    "hop_depths",
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
