"""Hop-depth traversal: depth counts transformations crossed, not raw edges."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamesh.lineage.traversal import Traversal, hop_depths
from tests.lineage.conftest import Kinds, brute_force, lineage_dag, out_map, random_graph


def walk(
    start: str,
    kinds: Kinds,
    edges: Iterable[tuple[str, str]],
    direction: str = "downstream",
    max_depth: int = 10,
    max_nodes: int = 1000,
) -> Traversal:
    return hop_depths(start, kinds, out_map(kinds, edges), direction, max_depth, max_nodes)


def k(**kinds: str) -> Kinds:
    return dict(kinds)


D, P = "dataset", "process"


# -- the definition, case by case ----------------------------------------------------------------
def test_a_process_between_two_datasets_is_one_hop() -> None:
    kinds = k(A=D, P=P, B=D, Q=P, C=D)
    edges = [("A", "P"), ("P", "B"), ("B", "Q"), ("Q", "C")]
    result = walk("A", kinds, edges)
    assert result.nodes == {"A": 0, "P": 1, "B": 1, "Q": 2, "C": 2}
    assert result.edges == set(edges)
    assert not result.truncated


def test_a_hand_drawn_dataset_edge_is_one_hop() -> None:
    kinds = k(A=D, B=D, C=D)
    result = walk("A", kinds, [("A", "B"), ("B", "C")])
    assert result.nodes == {"A": 0, "B": 1, "C": 2}


def test_direct_edges_and_processes_mix_and_the_shorter_wins() -> None:
    # A->P->B->Q->C (2 hops to C) versus A->C drawn by hand (1 hop).
    kinds = k(A=D, P=P, B=D, Q=P, C=D, E=D)
    edges = [("A", "P"), ("P", "B"), ("B", "Q"), ("Q", "C"), ("A", "C"), ("C", "E")]
    assert walk("A", kinds, edges).nodes == {"A": 0, "P": 1, "B": 1, "C": 1, "Q": 2, "E": 2}


def test_a_process_with_several_inputs_and_outputs() -> None:
    kinds = k(A=D, B=D, P=P, X=D, Y=D)
    edges = [("A", "P"), ("B", "P"), ("P", "X"), ("P", "Y")]
    assert walk("A", kinds, edges).nodes == {"A": 0, "P": 1, "X": 1, "Y": 1}
    assert walk("X", kinds, edges, "upstream").nodes == {"X": 0, "P": 1, "A": 1, "B": 1}


def test_diamonds_count_once_with_the_least_depth() -> None:
    kinds = k(A=D, P1=P, P2=P, B=D, C=D, P3=P, E=D)
    edges = [("A", "P1"), ("A", "P2"), ("P1", "B"), ("P2", "C"), ("B", "P3"), ("C", "P3")]
    edges.append(("P3", "E"))
    result = walk("A", kinds, edges)
    assert result.nodes == {"A": 0, "P1": 1, "P2": 1, "B": 1, "C": 1, "P3": 2, "E": 2}
    assert result.edges == set(edges)


def test_cycles_terminate_and_the_start_stays_at_zero() -> None:
    kinds = k(A=D, P=P, B=D, Q=P)
    edges = [("A", "P"), ("P", "B"), ("B", "Q"), ("Q", "A")]
    result = walk("A", kinds, edges)
    assert result.nodes == {"A": 0, "P": 1, "B": 1, "Q": 2}
    assert result.edges == set(edges)


def test_a_start_process_is_zero_and_its_outputs_are_one() -> None:
    kinds = k(I1=D, I2=D, P=P, O=D, Q=P, Z=D)
    edges = [("I1", "P"), ("I2", "P"), ("P", "O"), ("O", "Q"), ("Q", "Z")]
    assert walk("P", kinds, edges).nodes == {"P": 0, "O": 1, "Q": 2, "Z": 2}
    assert walk("P", kinds, edges, "upstream").nodes == {"P": 0, "I1": 1, "I2": 1}
    both = walk("P", kinds, edges, "both", max_depth=1)
    assert both.nodes == {"P": 0, "I1": 1, "I2": 1, "O": 1}
    assert both.edges == {("I1", "P"), ("I2", "P"), ("P", "O")}


def test_process_to_process_edges_count_each_process() -> None:
    # Not drawn by OpenLineage, but a hand-made graph may chain processes: each is a hop.
    kinds = k(A=D, P1=P, P2=P, O=D)
    edges = [("A", "P1"), ("P1", "P2"), ("P2", "O")]
    assert walk("A", kinds, edges).nodes == {"A": 0, "P1": 1, "P2": 2, "O": 2}
    assert walk("P1", kinds, edges).nodes == {"P1": 0, "P2": 2, "O": 2}
    assert walk("P1", kinds, edges, max_depth=1).nodes == {"P1": 0}


def test_upstream_walks_against_the_flow() -> None:
    kinds = k(S=D, P=P, A=D, Q=P, B=D)
    edges = [("S", "P"), ("P", "A"), ("A", "Q"), ("Q", "B")]
    assert walk("B", kinds, edges, "upstream").nodes == {"B": 0, "Q": 1, "A": 1, "P": 2, "S": 2}
    assert walk("B", kinds, edges, "downstream").nodes == {"B": 0}


def test_both_is_the_union_of_two_walks_not_a_walk_that_turns() -> None:
    # U -> P -> A and P -> S: S is A's sibling, neither upstream nor downstream of A.
    kinds = k(U=D, P=P, A=D, S=D, Q=P, X=D)
    edges = [("U", "P"), ("P", "A"), ("P", "S"), ("A", "Q"), ("Q", "X")]
    result = walk("A", kinds, edges, "both")
    assert result.nodes == {"A": 0, "P": 1, "U": 1, "Q": 1, "X": 1}
    assert "S" not in result.nodes
    assert ("P", "S") not in result.edges


def test_both_keeps_the_smaller_depth_of_a_node_on_both_sides() -> None:
    # A -> B -> C -> D -> A: C is 2 downstream and 2 upstream, D is 3 down but 1 up.
    kinds = k(A=D, B=D, C=D, D=D)
    edges = [("A", "B"), ("B", "C"), ("C", "D"), ("D", "A")]
    assert walk("A", kinds, edges, "both").nodes == {"A": 0, "B": 1, "D": 1, "C": 2}


def test_edges_are_all_edges_between_included_nodes() -> None:
    # U -> A -> D plus a shortcut U -> D: with both, U and D are in, so is the shortcut.
    kinds = k(U=D, A=D, D=D)
    edges = [("U", "A"), ("A", "D"), ("U", "D")]
    assert walk("A", kinds, edges, "both", max_depth=1).edges == set(edges)
    assert walk("A", kinds, edges, "downstream", max_depth=1).edges == {("A", "D")}


@pytest.mark.parametrize(
    ("max_depth", "expected"),
    [
        (0, {"A": 0}),
        (1, {"A": 0, "P": 1, "B": 1}),
        (2, {"A": 0, "P": 1, "B": 1, "Q": 2, "C": 2}),
    ],
)
def test_depth_caps_drop_deeper_nodes_and_their_edges(
    max_depth: int, expected: dict[str, int]
) -> None:
    kinds = k(A=D, P=P, B=D, Q=P, C=D, R=P, E=D)
    edges = [("A", "P"), ("P", "B"), ("B", "Q"), ("Q", "C"), ("C", "R"), ("R", "E")]
    result = walk("A", kinds, edges, max_depth=max_depth)
    assert result.nodes == expected
    assert result.edges == {(s, d) for s, d in edges if s in expected and d in expected}
    assert not result.truncated


def test_a_node_cap_keeps_the_nearest_and_says_so() -> None:
    kinds = k(A=D, P1=P, P2=P, P3=P, B1=D, B2=D, B3=D, Q=P, Z=D)
    edges = [("A", "P1"), ("A", "P2"), ("A", "P3"), ("P1", "B1"), ("P2", "B2"), ("P3", "B3")]
    edges += [("B1", "Q"), ("Q", "Z")]
    result = walk("A", kinds, edges, max_nodes=5)
    # Depth 1 holds 6 nodes; processes come first so every kept node links back to A.
    assert result.nodes == {"A": 0, "P1": 1, "P2": 1, "P3": 1, "B1": 1}
    assert result.truncated
    assert result.edges == {("A", "P1"), ("A", "P2"), ("A", "P3"), ("P1", "B1")}


def test_a_cap_that_fits_exactly_is_not_truncation() -> None:
    kinds = k(A=D, P=P, B=D)
    result = walk("A", kinds, [("A", "P"), ("P", "B")], max_nodes=3)
    assert result.nodes == {"A": 0, "P": 1, "B": 1}
    assert not result.truncated
    assert walk("A", kinds, [("A", "P"), ("P", "B")], max_nodes=2).truncated


def test_nodes_beyond_max_depth_do_not_count_against_the_cap() -> None:
    kinds = k(A=D, P=P, B=D, Q=P, C=D)
    edges = [("A", "P"), ("P", "B"), ("B", "Q"), ("Q", "C")]
    result = walk("A", kinds, edges, max_depth=1, max_nodes=3)
    assert result.nodes == {"A": 0, "P": 1, "B": 1}
    assert not result.truncated


def test_callable_adjacency_needs_in_edges_for_upstream() -> None:
    kinds = k(A=D, P=P, B=D)
    out = {"A": ["P"], "P": ["B"]}
    inn = {"B": ["P"], "P": ["A"]}
    down = hop_depths("A", kinds, lambda n: out.get(n, []), "downstream", 2, 10)
    assert down.nodes == {"A": 0, "P": 1, "B": 1}
    with pytest.raises(ValueError, match="in_edges"):
        hop_depths("B", kinds, lambda n: out.get(n, []), "upstream", 2, 10)
    up = hop_depths(
        "B", kinds, lambda n: out.get(n, []), "upstream", 2, 10, in_edges=lambda n: inn.get(n, [])
    )
    assert up.nodes == {"B": 0, "P": 1, "A": 1}
    assert up.edges == {("A", "P"), ("P", "B")}


@pytest.mark.parametrize(
    ("direction", "max_depth", "max_nodes"),
    [
        ("sideways", 1, 10),
        ("downstream", -1, 10),
        ("downstream", True, 10),
        ("downstream", "2", 10),
        ("downstream", 1.0, 10),
        ("downstream", 101, 10),
        ("downstream", 1, 0),
        ("downstream", 1, "10"),
    ],
)
def test_bad_knobs_are_refused(direction: str, max_depth: object, max_nodes: object) -> None:
    with pytest.raises(ValueError):
        hop_depths("A", {"A": D}, {}, direction, max_depth, max_nodes)


def test_unknown_start_or_kindless_node_is_refused() -> None:
    with pytest.raises(ValueError, match="no kind"):
        hop_depths("X", {"A": D}, {}, "downstream", 1, 10)
    with pytest.raises(ValueError, match="no kind"):
        hop_depths("A", {"A": D}, {"A": ["B"]}, "downstream", 1, 10)


def test_long_chains_run_in_linear_time_without_recursion() -> None:
    n = 20_000
    kinds = {f"d{i}": D for i in range(n)}
    edges = [(f"d{i}", f"d{i + 1}") for i in range(n - 1)]
    result = walk("d0", kinds, edges, max_depth=100, max_nodes=10_000)
    assert len(result.nodes) == 101
    assert result.nodes["d100"] == 100


def test_many_diamonds_are_not_path_enumerated() -> None:
    # 2^40 paths from the first to the last dataset; a path-enumerating walk never finishes.
    kinds: Kinds = {"d0": D}
    edges = []
    for i in range(40):
        kinds |= {f"p{i}a": P, f"p{i}b": P, f"d{i + 1}": D}
        edges += [(f"d{i}", f"p{i}a"), (f"d{i}", f"p{i}b")]
        edges += [(f"p{i}a", f"d{i + 1}"), (f"p{i}b", f"d{i + 1}")]
    result = walk("d0", kinds, edges, max_depth=100)
    assert result.nodes["d40"] == 40
    assert len(result.nodes) == len(kinds)


# -- against the brute-force reference -----------------------------------------------------------
@st.composite
def small_graphs(draw: st.DrawFn) -> tuple[Kinds, list[tuple[str, str]], str]:
    n = draw(st.integers(min_value=1, max_value=7))
    names = [f"n{i}" for i in range(n)]
    kinds = {name: draw(st.sampled_from([D, P])) for name in names}
    pairs = [(a, b) for a in names for b in names if a != b]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=14)) if pairs else []
    start = draw(st.sampled_from(names))
    return kinds, sorted(edges), start


@settings(max_examples=400, deadline=None)
@given(
    graph=small_graphs(),
    direction=st.sampled_from(["upstream", "downstream", "both"]),
    max_depth=st.integers(min_value=0, max_value=4),
    max_nodes=st.integers(min_value=1, max_value=8),
)
def test_matches_brute_force_on_any_small_graph(
    graph: tuple[Kinds, list[tuple[str, str]], str], direction: str, max_depth: int, max_nodes: int
) -> None:
    kinds, edges, start = graph
    got = walk(start, kinds, edges, direction, max_depth, max_nodes)
    assert got == brute_force(start, kinds, edges, direction, max_depth, max_nodes)


@pytest.mark.parametrize("seed", range(30))
def test_matches_brute_force_on_seeded_random_graphs(seed: int) -> None:
    rnd = random.Random(seed)
    kinds, edges = random_graph(rnd, rnd.randint(2, 9), rnd.randint(1, 16))
    for start in kinds:
        for direction in ("upstream", "downstream", "both"):
            for max_depth in (0, 1, 2, 3):
                for max_nodes in (1, 3, 100):
                    expected = brute_force(start, kinds, edges, direction, max_depth, max_nodes)
                    got = walk(start, kinds, edges, direction, max_depth, max_nodes)
                    assert got == expected, (start, direction, max_depth, max_nodes)


def test_matches_brute_force_on_a_layered_pipeline() -> None:
    kinds, edges = lineage_dag(random.Random(7), layers=3, width=3)
    for start in list(kinds)[:6]:
        for direction in ("upstream", "downstream", "both"):
            expected = brute_force(start, kinds, edges, direction, 3, 20)
            assert walk(start, kinds, edges, direction, 3, 20) == expected
