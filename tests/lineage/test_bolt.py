"""BoltGraph against a real FalkorDB over Bolt: writes, deletes, and traversals that must
agree with the in-memory semantics of ``traversal.hop_depths``."""

from __future__ import annotations

import random
import uuid
from typing import Any

import neo4j
import pytest

from datamesh.lineage.bolt import BoltGraph, NodeNotFound, ProjectionChanged, cypher_literal
from datamesh.lineage.traversal import Traversal, hop_depths
from tests.lineage.conftest import Edges, Kinds, lineage_dag, out_map, random_graph

DIRECTIONS = ("upstream", "downstream", "both")


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"datamesh-test:{name}"))


def rows(kinds: Kinds) -> list[dict[str, Any]]:
    return [
        {"id": node, "kind": kind, "name": f"name-{node[:8]}", "namespace": "ns"}
        for node, kind in kinds.items()
    ]


async def load(graph: BoltGraph, kinds: Kinds, edges: Edges) -> None:
    assert await graph.upsert_nodes(rows(kinds)) == len(kinds)
    assert await graph.upsert_edges(edges) == len(edges)


def expected(
    kinds: Kinds, edges: Edges, start: str, direction: str, max_depth: int, max_nodes: int
) -> Traversal:
    return hop_depths(start, kinds, out_map(kinds, edges), direction, max_depth, max_nodes)


def named(**kinds: str) -> tuple[Kinds, dict[str, str]]:
    ids = {name: uid(name) for name in kinds}
    return {ids[name]: kind for name, kind in kinds.items()}, ids


# -- writes --------------------------------------------------------------------------------------
async def test_upserts_are_idempotent(graph: BoltGraph) -> None:
    kinds, ids = named(A="dataset", P="process", B="dataset")
    edges = [(ids["A"], ids["P"]), (ids["P"], ids["B"])]
    await load(graph, kinds, edges)
    assert await graph.counts() == (3, 2)
    await load(graph, kinds, edges)
    await graph.upsert_edges([(ids["A"], ids["P"])] * 3)
    assert await graph.counts() == (3, 2)


async def test_upsert_updates_properties_in_place(graph: BoltGraph) -> None:
    node = uid("renamed")
    await graph.upsert_nodes([{"id": node, "kind": "dataset", "name": "old", "namespace": "a"}])
    await graph.upsert_nodes([{"id": node, "kind": "dataset", "name": "new", "namespace": "b"}])
    assert await graph.counts() == (1, 0)
    stored = (await graph.get_nodes([node]))[node]
    assert (stored["name"], stored["namespace"], stored["kind"]) == ("new", "b", "dataset")


async def test_ids_are_canonical_uuids(graph: BoltGraph) -> None:
    node = uuid.uuid4()
    await graph.upsert_nodes([{"id": str(node).upper(), "kind": "dataset", "name": "x"}])
    assert list(await graph.get_nodes([node])) == [str(node)]


async def test_edges_to_unknown_nodes_are_skipped(graph: BoltGraph) -> None:
    kinds, ids = named(A="dataset", B="dataset")
    await graph.upsert_nodes(rows(kinds))
    assert await graph.upsert_edges([(ids["A"], ids["B"]), (ids["A"], uid("ghost"))]) == 1
    assert await graph.counts() == (2, 1)


# The Bolt layer of FalkorDB prints parameters into the query unescaped, into a 4 KiB buffer:
# a quote broke the query and a long value crashed the server. Values must survive exactly.
NASTY = [
    "O'Brien",
    'say "hi"',
    "back\\slash",
    "ends with \\",
    "\\' OR 1=1 //",
    "' }) DETACH DELETE n //",
    "line\nbreak\ttab\r",
    "literal \\n and \\u00e9 escapes",
    "ünïcødé 表 😀",
    "$param and {braces}",
    "x" * 4000,
]


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
async def test_text_values_round_trip_exactly(graph: BoltGraph, text: str) -> None:
    node = uid(f"nasty-{text}")
    await graph.upsert_nodes([{"id": node, "kind": "dataset", "name": text, "namespace": text}])
    stored = (await graph.get_nodes([node]))[node]
    assert stored["name"] == text
    assert stored["namespace"] == text
    assert await graph.counts() == (1, 0)


async def test_large_batches_go_through_in_one_call(graph: BoltGraph) -> None:
    rnd = random.Random(5)
    kinds, edges = lineage_dag(rnd, layers=6, width=120)
    await load(graph, kinds, edges)
    assert await graph.counts() == (len(kinds), len(edges))


@pytest.mark.parametrize(
    "node",
    [
        {"id": "not-a-uuid", "kind": "dataset"},
        {"id": 42, "kind": "dataset"},
        {"id": str(uuid.uuid4()), "kind": "table"},
        {"id": str(uuid.uuid4()), "kind": "dataset", "name": "nul\x00byte"},
        {"id": str(uuid.uuid4()), "kind": "dataset", "name": 7},
    ],
)
async def test_bad_nodes_are_refused_before_any_query(
    graph: BoltGraph, node: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        await graph.upsert_nodes([node])
    assert await graph.counts() == (0, 0)


async def test_bad_edges_are_refused(graph: BoltGraph) -> None:
    a = uid("a")
    with pytest.raises(ValueError, match="itself"):
        await graph.upsert_edges([(a, a)])
    with pytest.raises(ValueError, match="UUID"):
        await graph.upsert_edges([(a, "x' OR 1=1")])


async def test_schema_setup_is_repeatable(graph: BoltGraph) -> None:
    await graph.ensure_schema()
    await graph.ensure_schema()


# -- deletes -------------------------------------------------------------------------------------
async def test_delete_edge_and_node(graph: BoltGraph) -> None:
    kinds, ids = named(A="dataset", P="process", B="dataset", C="dataset")
    edges = [(ids["A"], ids["P"]), (ids["P"], ids["B"]), (ids["B"], ids["C"])]
    await load(graph, kinds, edges)

    assert await graph.delete_edge(ids["B"], ids["C"]) is True
    assert await graph.delete_edge(ids["B"], ids["C"]) is False
    down = await graph.traverse(ids["A"], "downstream", 5, 100)
    assert set(down.nodes) == {ids["A"], ids["P"], ids["B"]}

    assert await graph.delete_node(ids["P"]) is True
    assert await graph.delete_node(ids["P"]) is False
    assert await graph.counts() == (3, 0)
    down = await graph.traverse(ids["A"], "downstream", 5, 100)
    assert down.nodes == {ids["A"]: 0}
    assert down.edges == set()


async def test_clear_empties_the_graph(graph: BoltGraph) -> None:
    kinds, edges = lineage_dag(random.Random(2), layers=2, width=5)
    await load(graph, kinds, edges)
    await graph.clear()
    assert await graph.counts() == (0, 0)


async def test_the_projection_mark_is_kept_in_the_graph(graph: BoltGraph) -> None:
    assert await graph.projected_seq() is None
    await graph.set_projected_seq(41)
    await graph.set_projected_seq(42)  # one mark, moved
    assert await graph.projected_seq() == 42
    assert await graph.counts() == (0, 0), "the mark is not a lineage node"
    await graph.set_projected_seq(None)
    assert await graph.projected_seq() is None
    await graph.set_projected_seq(7)
    await graph.clear()  # an emptied graph has no mark either
    assert await graph.projected_seq() is None
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError):
            await graph.set_projected_seq(bad)  # type: ignore[arg-type]


async def test_a_guarded_walk_needs_the_same_projection_mark_throughout(
    graph: BoltGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinds, ids = named(A="dataset", P="process", B="dataset")
    edges = [(ids["A"], ids["P"]), (ids["P"], ids["B"])]
    await load(graph, kinds, edges)

    async def guarded() -> list[tuple[str, str]]:
        return (await graph.neighbourhood(ids["A"], "downstream", 4, guarded=True)).edges

    with pytest.raises(ProjectionChanged):  # never projected (or wiped): no mark
        await guarded()
    await graph.set_projected_seq(5)
    assert await guarded() == sorted(edges)
    await graph.set_projected_seq(6)  # catching up moves the mark, walks go on
    assert await guarded() == sorted(edges)
    # A rebuild between the walk's first and last read: the mark is made anew.
    fetch = graph._fetch

    async def rebuilt_meanwhile(*args: Any) -> Any:
        found = await fetch(*args)
        await graph.set_projected_seq(None)
        await load(graph, kinds, edges)
        await graph.set_projected_seq(7)
        return found

    monkeypatch.setattr(graph, "_fetch", rebuilt_meanwhile)
    with pytest.raises(ProjectionChanged):
        await guarded()
    monkeypatch.undo()
    assert await guarded() == sorted(edges)
    await graph.clear()
    with pytest.raises(ProjectionChanged):
        await guarded()
    # Unguarded walks (reindex, tests) do not look at the mark.
    await load(graph, kinds, edges)
    assert (await graph.neighbourhood(ids["A"], "downstream", 4)).edges == sorted(edges)


# -- traversal -----------------------------------------------------------------------------------
async def test_traversal_counts_hops_not_raw_edges(graph: BoltGraph) -> None:
    kinds, ids = named(A="dataset", P="process", B="dataset", Q="process", C="dataset", E="dataset")
    edges = [
        (ids["A"], ids["P"]),
        (ids["P"], ids["B"]),
        (ids["B"], ids["Q"]),
        (ids["Q"], ids["C"]),
        (ids["C"], ids["E"]),
    ]
    await load(graph, kinds, edges)
    result = await graph.traverse(ids["A"], "downstream", 2, 100)
    names = {v: k for k, v in ids.items()}
    assert {names[n]: d for n, d in result.nodes.items()} == {
        "A": 0,
        "P": 1,
        "B": 1,
        "Q": 2,
        "C": 2,
    }
    assert result.edges == set(edges[:4])
    assert not result.truncated


GRAPHS = [
    ("dag", lambda: lineage_dag(random.Random(11), layers=4, width=4)),
    ("cyclic", lambda: random_graph(random.Random(12), 14, 30, ids="uuid")),
    ("dense", lambda: random_graph(random.Random(13), 9, 40, ids="uuid")),
    ("sparse", lambda: random_graph(random.Random(14), 25, 22, ids="uuid")),
]


@pytest.mark.parametrize("make", [g[1] for g in GRAPHS], ids=[g[0] for g in GRAPHS])
async def test_traversal_matches_the_in_memory_semantics(graph: BoltGraph, make: Any) -> None:
    kinds, edges = make()
    await load(graph, kinds, edges)
    rnd = random.Random(len(kinds))
    starts = rnd.sample(sorted(kinds), 5)
    for start in starts:
        for direction in DIRECTIONS:
            for max_depth in (0, 1, 2, 3):
                for max_nodes in (1, 4, 1000):
                    want = expected(kinds, edges, start, direction, max_depth, max_nodes)
                    got = await graph.traverse(start, direction, max_depth, max_nodes)
                    assert got == want, (start, direction, max_depth, max_nodes)


async def test_cycles_are_safe(graph: BoltGraph) -> None:
    kinds, ids = named(A="dataset", P="process", B="dataset", Q="process")
    edges = [(ids["A"], ids["P"]), (ids["P"], ids["B"]), (ids["B"], ids["Q"]), (ids["Q"], ids["A"])]
    await load(graph, kinds, edges)
    for direction in DIRECTIONS:
        got = await graph.traverse(ids["A"], direction, 50, 100)
        assert got == expected(kinds, edges, ids["A"], direction, 50, 100)
        assert set(got.nodes) == set(kinds)
        assert got.edges == set(edges)


async def test_a_node_cap_keeps_the_nearest(graph: BoltGraph) -> None:
    kinds, edges = lineage_dag(random.Random(21), layers=5, width=6)
    await load(graph, kinds, edges)
    start = max(kinds, key=lambda n: len(expected(kinds, edges, n, "downstream", 5, 100).nodes))
    got = await graph.traverse(start, "downstream", 5, 7)
    assert got.truncated
    assert len(got.nodes) == 7
    assert got == expected(kinds, edges, start, "downstream", 5, 7)


async def test_the_fetch_limit_cuts_but_stays_exact(bolt_driver: neo4j.AsyncDriver) -> None:
    graph = BoltGraph(bolt_driver, dialect="falkordb", fetch_limit=15)
    await graph.clear()
    kinds, edges = lineage_dag(random.Random(22), layers=5, width=5)
    await load(graph, kinds, edges)
    start = max(kinds, key=lambda n: len(expected(kinds, edges, n, "downstream", 5, 10_000).nodes))
    full = expected(kinds, edges, start, "downstream", 5, 10_000)
    assert len(full.nodes) > 20
    got = await graph.traverse(start, "downstream", 5, 10_000)
    assert got.truncated
    assert 1 <= len(got.nodes) < len(full.nodes)
    # Whatever is returned has its true depth, and nothing nearer than the deepest kept is lost.
    assert all(full.nodes[n] == d for n, d in got.nodes.items())
    deepest = max(got.nodes.values())
    assert {n for n, d in full.nodes.items() if d < deepest} <= set(got.nodes)
    await graph.clear()


async def test_neighbourhood_returns_raw_levels(graph: BoltGraph) -> None:
    kinds, ids = named(A="dataset", P="process", B="dataset", Q="process", C="dataset")
    edges = [(ids["A"], ids["P"]), (ids["P"], ids["B"]), (ids["B"], ids["Q"]), (ids["Q"], ids["C"])]
    await load(graph, kinds, edges)
    nb = await graph.neighbourhood(ids["A"], "downstream", 2)
    assert set(nb.kinds) == {ids["A"], ids["P"], ids["B"]}
    assert nb.edges == sorted(edges[:2])
    assert nb.levels == 2
    up = await graph.neighbourhood(ids["C"], "upstream", 10)
    assert set(up.kinds) == set(kinds)
    assert not up.truncated


async def test_unknown_start_is_reported(graph: BoltGraph) -> None:
    with pytest.raises(NodeNotFound):
        await graph.traverse(uid("nowhere"), "both", 2, 10)


@pytest.mark.parametrize(
    ("direction", "depth"),
    [("downstream", "2"), ("downstream", "1] DETACH DELETE n //"), ("down", 1), ("both", -1)],
)
async def test_traversal_knobs_are_validated(
    graph: BoltGraph, direction: str, depth: object
) -> None:
    kinds, ids = named(A="dataset")
    await load(graph, kinds, [])
    with pytest.raises(ValueError):
        await graph.traverse(ids["A"], direction, depth, 10)
    assert await graph.counts() == (1, 0)


# -- the workaround itself -----------------------------------------------------------------------
def test_cypher_literals() -> None:
    assert cypher_literal(None) == "null"
    assert cypher_literal(True) == "true"
    assert cypher_literal(-5) == "-5"
    assert cypher_literal(0.1) == "0.1"
    assert cypher_literal('a"b\\c') == '"a\\"b\\\\c"'
    assert cypher_literal({"id": "x", "n": [1, None]}) == '{id: "x", n: [1, null]}'
    for bad in (float("nan"), 2**63, "nul\x00", {"bad key": 1}, object()):
        with pytest.raises((ValueError, TypeError)):
            cypher_literal(bad)


async def test_literal_rendering_round_trips_through_falkordb(
    bolt_driver: neo4j.AsyncDriver,
) -> None:
    values: list[Any] = [
        *NASTY,
        0.1234567891,
        1e-05,
        -1.5e300,
        -(2**63),
        2**63 - 1,
        [1, "a'b", None],
        {"k": "v"},
    ]
    graph = BoltGraph(bolt_driver, dialect="falkordb")
    for value in values:

        async def work(tx: neo4j.AsyncManagedTransaction, value: Any = value) -> Any:
            return (await graph._run(tx, "RETURN $v AS v", v=value))[0]["v"]

        async with bolt_driver.session() as session:
            assert await session.execute_read(work) == value


async def test_falkordb_really_mangles_native_parameters(bolt_driver: neo4j.AsyncDriver) -> None:
    """Why dialect="falkordb" exists: native Bolt parameters lose float precision. (The
    quote and 4 KiB cases are not run: one fails opaquely, the other kills the server.)"""

    async def work(tx: neo4j.AsyncManagedTransaction) -> Any:
        return await (await tx.run("RETURN $v AS v", v=0.1234567891)).single()

    async with bolt_driver.session() as session:
        record = await session.execute_read(work)
    assert record is not None
    assert record["v"] != 0.1234567891
    assert record["v"] == pytest.approx(0.123457)
