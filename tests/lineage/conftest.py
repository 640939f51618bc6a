"""Lineage test fixtures: one real FalkorDB (Bolt) server and driver per test session, a clean
graph per test, and the test graphs plus a brute-force hop-depth reference that the traversal
and graph-engine tests share."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator

import neo4j
import pytest

from datamesh.lineage.bolt import BoltGraph
from datamesh.lineage.traversal import Traversal
from tests.fixtures.falkordb import FalkorDBServer


@pytest.fixture(scope="session")
def falkordb() -> Iterator[FalkorDBServer]:
    with FalkorDBServer() as server:
        yield server


@pytest.fixture(scope="session")
async def bolt_driver(falkordb: FalkorDBServer) -> AsyncIterator[neo4j.AsyncDriver]:
    """One driver for the whole session: closing a driver wedges FalkorDB's next connection."""
    driver = neo4j.AsyncGraphDatabase.driver(falkordb.bolt_url, auth=falkordb.auth)
    await driver.verify_connectivity()
    yield driver
    await driver.close()


@pytest.fixture
async def graph(bolt_driver: neo4j.AsyncDriver) -> BoltGraph:
    """An empty lineage graph (FalkorDB has one graph per server over Bolt, so tests clear it)."""
    g = BoltGraph(bolt_driver, dialect="falkordb")
    await g.clear()
    await g.ensure_schema()
    return g


Kinds = dict[str, str]
Edges = list[tuple[str, str]]


def out_map(kinds: Kinds, edges: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {node: [] for node in kinds}
    for src, dst in edges:
        out[src].append(dst)
    return out


def _path_hops(path: list[str], kinds: Kinds) -> int:
    """The definition, read off one path in walk order: every process on it is a crossed
    transformation (the last one too: a process sits at the depth of what it leads to), and
    so is every direct dataset-to-dataset step."""
    if len(path) == 1:
        return 0
    processes = sum(1 for node in path if kinds[node] == "process")
    direct = sum(
        1 for a, b in itertools.pairwise(path) if kinds[a] == "dataset" and kinds[b] == "dataset"
    )
    return processes + direct


def _simple_paths(start: str, nbrs: dict[str, list[str]]) -> Iterator[list[str]]:
    stack: list[tuple[list[str], set[str]]] = [([start], {start})]
    while stack:
        path, on_path = stack.pop()
        yield path
        for nxt in nbrs.get(path[-1], []):
            if nxt not in on_path:
                stack.append(([*path, nxt], on_path | {nxt}))


def brute_force(
    start: str,
    kinds: Kinds,
    edges: Edges,
    direction: str,
    max_depth: int,
    max_nodes: int,
) -> Traversal:
    """Enumerate every simple path (small graphs only) and apply the definition literally."""
    down: dict[str, list[str]] = {}
    up: dict[str, list[str]] = {}
    for src, dst in edges:
        down.setdefault(src, []).append(dst)
        up.setdefault(dst, []).append(src)
    walks = []
    if direction in ("downstream", "both"):
        walks.append(down)
    if direction in ("upstream", "both"):
        walks.append(up)
    best: dict[str, int] = {}
    for nbrs in walks:
        for path in _simple_paths(start, nbrs):
            hops = _path_hops(path, kinds)
            if hops <= max_depth and hops < best.get(path[-1], hops + 1):
                best[path[-1]] = hops
    truncated = len(best) > max_nodes
    order = sorted(best, key=lambda n: (best[n], kinds[n] != "process", n))[:max_nodes]
    nodes = {n: best[n] for n in order}
    kept_edges = {(s, d) for s, d in edges if s in nodes and d in nodes}
    return Traversal(nodes=nodes, edges=kept_edges, truncated=truncated)


def random_graph(
    rnd: random.Random, n_nodes: int, n_edges: int, *, ids: str = "short"
) -> tuple[Kinds, Edges]:
    """Random kinds and distinct non-loop edges, including process->process and cycles."""
    if ids == "uuid":
        names = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(n_nodes)]
    else:
        names = [f"n{i}" for i in range(n_nodes)]
    kinds = {name: rnd.choice(("dataset", "process")) for name in names}
    pairs = [(a, b) for a in names for b in names if a != b]
    edges = sorted(rnd.sample(pairs, min(n_edges, len(pairs))))
    return kinds, edges


def lineage_dag(rnd: random.Random, layers: int, width: int) -> tuple[Kinds, Edges]:
    """A layered pipeline: datasets, processes reading 1-3 of the previous layer and writing
    1-2 of the next, plus a few hand-drawn dataset->dataset shortcuts. Full of diamonds."""
    kinds: Kinds = {}
    edges: set[tuple[str, str]] = set()

    def new(kind: str) -> str:
        node = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        kinds[node] = kind
        return node

    previous = [new("dataset") for _ in range(width)]
    every = list(previous)
    for _ in range(layers):
        current = [new("dataset") for _ in range(width)]
        for _ in range(width):
            proc = new("process")
            for src in rnd.sample(previous, rnd.randint(1, min(3, len(previous)))):
                edges.add((src, proc))
            for dst in rnd.sample(current, rnd.randint(1, min(2, len(current)))):
                edges.add((proc, dst))
        for _ in range(max(1, width // 4)):
            edges.add((rnd.choice(every), rnd.choice(current)))
        every += current
        previous = current
    return kinds, sorted(edges)
