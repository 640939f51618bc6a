"""The in-memory lineage index walks exactly like ``traversal.hop_depths`` (which the traversal
tests check against a brute-force reading of the definition), on random DAGs and cyclic graphs,
and follows the outbox idempotently."""

from __future__ import annotations

import random
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamesh.events.consumer import Position
from datamesh.lineage.index import LineageIndex
from datamesh.lineage.repository import EDGE_ROW, NODE_ROW
from datamesh.lineage.traversal import Traversal, hop_depths
from tests.lineage.conftest import Edges, Kinds, brute_force, lineage_dag, out_map, random_graph

D, P = "dataset", "process"
DIRECTIONS = ("upstream", "downstream", "both")


def _uid(i: int) -> str:
    return str(uuid.UUID(int=i + 1))  # ordered like i, so cuts by id agree with short names


def indexed(kinds: Kinds, edges: Edges, seq: int = 1) -> LineageIndex:
    """An index told about the graph the way the outbox tells it."""
    index = LineageIndex()
    told = [(seq, {"nodes_added": [], "edges_added": [list(e) for e in edges], "kinds": kinds})]
    told += [
        (seq + 1 + i, {"nodes_added": [n], "kind": k}) for i, (n, k) in enumerate(kinds.items())
    ]
    index.catch_up(told, 0, 0, 0.0)
    return index


def folded(kinds: Kinds, edges: Edges) -> LineageIndex:
    """``indexed``, its changes folded into the base arrays (which the breadth-first search
    reads)."""
    index = indexed(kinds, edges)
    index.fold()
    assert index.delta_size == 0
    return index


def reference(
    kinds: Kinds, edges: Edges, start: str, direction: str, depth: int, cap: int
) -> Traversal:
    return hop_depths(start, kinds, out_map(kinds, edges), direction, depth, cap)  # type: ignore[arg-type]


@st.composite
def graphs(draw: st.DrawFn) -> tuple[Kinds, Edges, str]:
    n = draw(st.integers(min_value=1, max_value=9))
    names = [_uid(i) for i in range(n)]
    kinds = {name: draw(st.sampled_from([D, P])) for name in names}
    pairs = [(a, b) for a in names for b in names if a != b]
    dag = draw(st.booleans())
    if dag:  # only forward pairs: acyclic
        pairs = [(a, b) for a, b in pairs if a < b]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=20)) if pairs else []
    return kinds, sorted(edges), draw(st.sampled_from(names))


@settings(max_examples=400, deadline=None)
@given(
    graph=graphs(),
    direction=st.sampled_from(DIRECTIONS),
    max_depth=st.integers(min_value=0, max_value=5),
    max_nodes=st.integers(min_value=1, max_value=10),
)
def test_index_walks_like_the_traversal_on_any_small_graph(
    graph: tuple[Kinds, Edges, str], direction: str, max_depth: int, max_nodes: int
) -> None:
    kinds, edges, start = graph
    got = indexed(kinds, edges).walk(
        uuid.UUID(start), kinds[start], direction, max_depth, max_nodes
    )
    assert got == reference(kinds, edges, start, direction, max_depth, max_nodes)
    assert got == brute_force(start, kinds, edges, direction, max_depth, max_nodes)


@pytest.mark.parametrize("seed", range(12))
def test_index_walks_like_the_traversal_on_pipelines_and_random_graphs(seed: int) -> None:
    rnd = random.Random(seed)
    if seed % 2:
        kinds, edges = lineage_dag(rnd, layers=rnd.randint(2, 6), width=rnd.randint(2, 6))
    else:
        kinds, edges = random_graph(rnd, rnd.randint(5, 40), rnd.randint(5, 120), ids="uuid")
    index = indexed(kinds, edges)
    for start in rnd.sample(list(kinds), min(6, len(kinds))):
        for direction in DIRECTIONS:
            for depth, cap in ((0, 5), (1, 3), (3, 7), (20, 10_000)):
                expected = reference(kinds, edges, start, direction, depth, cap)
                got = index.walk(uuid.UUID(start), kinds[start], direction, depth, cap)
                assert got == expected, (start, direction, depth, cap)


def _uncut(index: LineageIndex, start: str, kind: str, depth: int) -> dict[str, int]:
    nodes, depths = index.depths(uuid.UUID(start), kind, depth)
    assert list(depths) == sorted(depths)  # ordered by distance
    return dict(zip(index.texts(nodes), depths.tolist(), strict=True))


def test_uncut_walk_keeps_everything_within_depth() -> None:
    kinds, edges = lineage_dag(random.Random(3), layers=5, width=8)
    index = indexed(kinds, edges)
    start = next(iter(kinds))
    full = reference(kinds, edges, start, "downstream", 20, 10**9)
    assert _uncut(index, start, kinds[start], 20) == full.nodes


@settings(max_examples=400, deadline=None)
@given(graph=graphs(), max_depth=st.integers(min_value=0, max_value=6))
def test_the_breadth_first_impact_walk_gives_the_hop_depths_on_any_small_graph(
    graph: tuple[Kinds, Edges, str], max_depth: int
) -> None:
    """Uncut and downstream, through csgraph on the graph with same-kind edges split: the same
    depths as the definition (cycles, dataset->dataset and process->process edges included)."""
    kinds, edges, start = graph
    want = brute_force(start, kinds, edges, "downstream", max_depth, 10**6).nodes
    assert _uncut(folded(kinds, edges), start, kinds[start], max_depth) == want
    assert _uncut(indexed(kinds, edges), start, kinds[start], max_depth) == want


@pytest.mark.parametrize("seed", range(8))
def test_the_breadth_first_impact_walk_on_pipelines_and_random_graphs(seed: int) -> None:
    rnd = random.Random(seed)
    if seed % 2:
        kinds, edges = lineage_dag(rnd, layers=rnd.randint(3, 8), width=rnd.randint(3, 12))
    else:
        kinds, edges = random_graph(rnd, rnd.randint(20, 200), rnd.randint(20, 600), ids="uuid")
    index = folded(kinds, edges)
    for start in rnd.sample(list(kinds), min(8, len(kinds))):
        for depth in (0, 1, 2, 5, 20):
            want = reference(kinds, edges, start, "downstream", depth, 10**9).nodes
            assert _uncut(index, start, kinds[start], depth) == want, (start, depth)


def test_built_from_copy_records_it_walks_like_the_one_told_by_events() -> None:
    """``from_records`` (the build's array path: ids sorted, ends looked up by binary search)
    gives the same walks as the index told the graph through the outbox."""
    kinds, edges = random_graph(random.Random(5), 60, 200, ids="uuid")
    b16 = lambda u: np.frombuffer(uuid.UUID(u).bytes, dtype="V16")[0]  # noqa: E731
    org = uuid.uuid4()
    nodes = np.zeros(len(kinds), dtype=NODE_ROW)
    for i, (n, k) in enumerate(kinds.items()):
        nodes[i]["id"], nodes[i]["proc"] = b16(n), k == P
        nodes[i]["org"], nodes[i]["vis"] = b16(str(org)), i % 3
    rows = np.zeros(len(edges), dtype=EDGE_ROW)
    for i, (a, b) in enumerate(edges):
        rows[i]["src"], rows[i]["dst"] = b16(a), b16(b)
        rows[i]["src_proc"], rows[i]["dst_proc"] = kinds[a] == P, kinds[b] == P
    built = LineageIndex.from_records(nodes, rows, Position(9))
    told = indexed(kinds, edges)
    assert (built.node_count, built.edge_count, built.orgs) == (len(kinds), len(edges), [org])
    for start in list(kinds)[:10]:
        for direction in DIRECTIONS:
            want = told.walk(uuid.UUID(start), kinds[start], direction, 4, 25)
            assert built.walk(uuid.UUID(start), kinds[start], direction, 4, 25) == want
        assert _uncut(built, start, kinds[start], 20) == _uncut(told, start, kinds[start], 20)
    # And it keeps current the same way.
    a, b = list(kinds)[:2]
    built.catch_up([(10, {"edges_added": [[a, b]], "kinds": kinds})], 0, 0, 0.0)
    assert b in built.walk(uuid.UUID(a), kinds[a], "downstream", 1, 100).nodes


def test_events_twice_or_replayed_change_nothing_and_removals_apply() -> None:
    a, p, b = _uid(1), _uid(2), _uid(3)
    kinds = {a: D, p: P, b: D}
    index = indexed(kinds, [(a, p), (p, b)])
    before = index.walk(uuid.UUID(a), D, "downstream", 5, 100)
    assert before.nodes == {a: 0, p: 1, b: 1}
    # The same events read again (an overlap, a replay): the cursor drops them, even when
    # what they say is no longer true (the first one, replayed after the edge was removed).
    index.catch_up([(51, {"edges_removed": [[p, b]]})], 0, 0, 0.0)
    gone = index.walk(uuid.UUID(a), D, "downstream", 5, 100)
    assert gone.nodes == {a: 0, p: 1}
    index.catch_up(
        [(1, {"edges_added": [[a, p], [p, b]], "kinds": kinds}), (51, {"edges_removed": []})],
        0,
        0,
        0.0,
    )
    assert index.walk(uuid.UUID(a), D, "downstream", 5, 100) == gone
    # An edge told twice is one edge.
    index.catch_up([(52, {"edges_added": [[p, b]], "kinds": kinds})] * 2, 0, 0, 0.0)
    assert index.walk(uuid.UUID(a), D, "downstream", 5, 100) == before
    index.catch_up([(53, {"nodes_removed": [p], "edges_removed": [[a, p], [p, b]]})], 0, 0, 0.0)
    assert index.walk(uuid.UUID(a), D, "downstream", 5, 100).nodes == {a: 0}
    assert index.position == 53


def test_an_event_committed_late_is_applied_when_it_fills_its_gap() -> None:
    a, b, c = _uid(1), _uid(2), _uid(3)
    kinds = {a: D, b: D, c: D}
    index = indexed(kinds, [])  # events 1..4
    # 6 committed first; 5 is still running (its transaction xid 100 is below xmax 101).
    index.catch_up([(6, {"edges_added": [[b, c]], "kinds": kinds})], 100, 101, 0.0)
    assert index.position == 6 and set(index.cursor.gaps) == {5}
    assert index.walk(uuid.UUID(a), D, "downstream", 5, 100).nodes == {a: 0}
    index.catch_up([(5, {"edges_added": [[a, b]], "kinds": kinds})], 101, 102, 1.0)
    assert index.cursor.gaps == {}
    assert index.walk(uuid.UUID(a), D, "downstream", 5, 100).nodes == {a: 0, b: 1, c: 2}


def test_a_node_the_index_never_heard_of_is_a_walk_of_one() -> None:
    index = indexed({}, [])
    lone = uuid.uuid4()
    assert index.walk(lone, D, "both", 5, 10) == Traversal({str(lone): 0})


@settings(max_examples=150, deadline=None)
@given(graph=graphs(), data=st.data())
def test_changes_over_the_base_and_folds_meanwhile_walk_like_the_graph_they_make(
    graph: tuple[Kinds, Edges, str], data: st.DataObject
) -> None:
    """Events go over the base as changes; a fold (made elsewhere, while more events come)
    swaps in a new base: before, during and after, walks see the graph the events make."""
    kinds, edges, _ = graph
    names = list(kinds)
    pairs = [(a, b) for a in names for b in names if a != b]
    index = folded(kinds, edges)
    current = set(edges)
    pending = None
    for seq in range(100, 100 + data.draw(st.integers(min_value=1, max_value=5))):
        adds = data.draw(st.lists(st.sampled_from(pairs), max_size=6)) if pairs else []
        gone = sorted(current | set(adds))
        removes = data.draw(st.lists(st.sampled_from(gone), max_size=4)) if gone else []
        told = {"edges_added": [list(e) for e in adds], "kinds": kinds}
        index.catch_up([(seq, told | {"edges_removed": [list(e) for e in removes]})], 0, 0, 0.0)
        current = (current | set(adds)) - set(removes)  # removed after added: the last word
        action = data.draw(st.sampled_from(["none", "fold", "begin", "finish"]))
        if action == "fold":
            index.fold()
        elif action == "begin" and pending is None:
            pending = LineageIndex.fold_compute(*index.fold_start())
        elif action == "finish" and pending is not None:
            index.fold_finish(pending)
            pending = None
        now = sorted(current)
        assert index.edge_count == len(now)
        for start in names[:4]:
            for direction in DIRECTIONS:
                want = reference(kinds, now, start, direction, 3, 6)
                assert index.walk(uuid.UUID(start), kinds[start], direction, 3, 6) == want
            deep = brute_force(start, kinds, now, "downstream", 4, 10**6).nodes
            assert _uncut(index, start, kinds[start], 4) == deep


def test_a_node_told_after_the_fold_without_edges_walks_alone_and_others_walk_as_before() -> None:
    """The search graph of a fold numbers its virtual nodes after the real ones of that time:
    a node told later (no edge, so no changes are held) is left out of it, not mistaken."""
    kinds, edges = lineage_dag(random.Random(5), layers=4, width=5)
    index = folded(kinds, edges)
    start = next(iter(kinds))
    before = _uncut(index, start, kinds[start], 20)
    lone = str(uuid.UUID(int=10**9))
    index.catch_up([(10**6, {"nodes_added": [lone], "kind": D})], 0, 0, 0.0)
    assert index.delta_size == 0 and index.node_count == len(kinds) + 1
    assert _uncut(index, lone, D, 20) == {lone: 0}
    assert _uncut(index, start, kinds[start], 20) == before
