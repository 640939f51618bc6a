"""The graph's "+N more": per node at the edge of the drawing and for the whole drawing, how many
undrawn nodes lie beyond it. Exact on the lineage index (checked against a plain reading of the
definition on random graphs), undrawn direct neighbours on PostgreSQL and Bolt; hidden nodes
counted, never named."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import deque

import httpx
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from datamesh.lineage import frontier, projection, service
from datamesh.lineage.bolt import BoltGraph
from datamesh.lineage.index import IndexEngine, LineageIndex
from datamesh.models.lineage import LineageEdge as E
from tests.catalog.test_search import _ds
from tests.conftest import client_for
from tests.factories import signed_in
from tests.lineage.conftest import Edges, Kinds, lineage_dag, random_graph
from tests.lineage.test_engines import _scenario, bolt_app
from tests.lineage.test_index import DIRECTIONS, graphs, indexed
from tests.lineage.test_index_engine import _principal

__all__ = ["bolt_app"]


def _definition(edges: Edges, drawn: set[str]) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per direction: drawn node -> undrawn nodes reached from it through undrawn nodes only
    (zeros left out), and the size of their union."""
    nbrs: dict[str, dict[str, list[str]]] = {"downstream": {}, "upstream": {}}
    for s, d in edges:
        nbrs["downstream"].setdefault(s, []).append(d)
        nbrs["upstream"].setdefault(d, []).append(s)
    per: dict[str, dict[str, int]] = {}
    total: dict[str, int] = {}
    for direction, adj in nbrs.items():
        per[direction] = {}
        union: set[str] = set()
        for node in drawn:
            seen: set[str] = set()
            queue = deque(x for x in adj.get(node, []) if x not in drawn)
            while queue:
                x = queue.popleft()
                if x in seen:
                    continue
                seen.add(x)
                queue.extend(y for y in adj.get(x, []) if y not in drawn and y not in seen)
            if seen:
                per[direction][node] = len(seen)
            union |= seen
        total[direction] = len(union)
    return per, total


def _direct(edges: Edges, drawn: set[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, set[str]]] = {"downstream": {}, "upstream": {}}
    for s, d in edges:
        if s in drawn and d not in drawn:
            out["downstream"].setdefault(s, set()).add(d)
        if d in drawn and s not in drawn:
            out["upstream"].setdefault(d, set()).add(s)
    return {k: {n: len(v) for n, v in m.items()} for k, m in out.items()}


def _beyond(index: LineageIndex, drawn: set[str], budget: int) -> frontier.Beyond:
    return frontier.on_arrays(
        index.number,
        index.node_count,
        index.out_csr,
        index.in_csr,
        [uuid.UUID(n) for n in drawn],
        budget=budget,
    )


def _as_text(counts: dict[uuid.UUID, int]) -> dict[str, int]:
    return {str(k): v for k, v in counts.items() if v}


def _check(kinds: Kinds, edges: Edges, drawn: set[str]) -> None:
    index = indexed(kinds, edges)
    per, total = _definition(edges, drawn)
    got = _beyond(index, drawn, frontier.WORK_BUDGET)
    assert got.exact
    assert _as_text(got.downstream) == per["downstream"]
    assert _as_text(got.upstream) == per["upstream"]
    assert (got.total_downstream, got.total_upstream) == (total["downstream"], total["upstream"])
    # Out of budget: the lower bound (undrawn direct neighbours), said to be inexact.
    direct = _direct(edges, drawn)
    cheap = _beyond(index, drawn, 0)
    assert _as_text(cheap.downstream) == direct["downstream"]
    assert _as_text(cheap.upstream) == direct["upstream"]
    assert cheap.exact is (not per["downstream"] and not per["upstream"])


@settings(max_examples=300, deadline=None)
@given(
    graph=graphs(),
    direction=st.sampled_from(DIRECTIONS),
    max_depth=st.integers(min_value=0, max_value=4),
    max_nodes=st.integers(min_value=1, max_value=10),
)
def test_counts_beyond_a_drawing_follow_the_definition(
    graph: tuple[Kinds, Edges, str], direction: str, max_depth: int, max_nodes: int
) -> None:
    kinds, edges, start = graph
    drawn = indexed(kinds, edges).walk(
        uuid.UUID(start), kinds[start], direction, max_depth, max_nodes
    )
    _check(kinds, edges, set(drawn.nodes))


def test_counts_beyond_drawings_of_pipelines_and_cyclic_graphs() -> None:
    for seed in range(8):
        rnd = random.Random(seed)
        if seed % 2:
            kinds, edges = lineage_dag(rnd, layers=rnd.randint(3, 6), width=rnd.randint(2, 6))
        else:
            kinds, edges = random_graph(rnd, rnd.randint(5, 40), rnd.randint(5, 120), ids="uuid")
        index = indexed(kinds, edges)
        for start in rnd.sample(list(kinds), min(4, len(kinds))):
            for direction, depth, cap in itertools.product(DIRECTIONS, (0, 1, 2), (3, 1000)):
                drawn = index.walk(uuid.UUID(start), kinds[start], direction, depth, cap)
                _check(kinds, edges, set(drawn.nodes))


async def _edge(c: httpx.AsyncClient, who: object, src: str, dst: str) -> None:
    r = await c.post(
        "/api/lineage/edges",
        json={"source": src, "target": dst},
        headers=who.headers,  # type: ignore[attr-defined]
    )
    assert r.status_code == 201, r.text


async def test_the_graph_tells_what_lies_beyond_depth_and_cap(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await signed_in(app, client, "o@acme.test", role="producer")
    outsider = await signed_in(app, client, "x@globex.test", role="admin", org="Globex")
    names = ["s.up", "s.a", "s.b", "s.secret_c", "s.d", "s.e"]
    vis = {"s.secret_c": "private"}
    ds = {n: await _ds(client, owner, n, visibility=vis.get(n, "public")) for n in names}
    # up -> a -> b -> secret_c -> d, and b -> e: from a, downstream, depth 1 draws a and b.
    for s, d in (("s.up", "s.a"), ("s.a", "s.b"), ("s.b", "s.secret_c")):
        await _edge(client, owner, ds[s]["id"], ds[d]["id"])
    await _edge(client, owner, ds["s.secret_c"]["id"], ds["s.d"]["id"])
    await _edge(client, owner, ds["s.b"]["id"], ds["s.e"]["id"])

    async def draw(who: object, **params: object) -> dict:
        r = await client.get(
            "/api/lineage/graph",
            params={"node": ds["s.a"]["id"], **params},
            headers=who.headers,  # type: ignore[attr-defined]
        )
        assert r.status_code == 200, r.text
        return r.json()

    for who in (owner, outsider):
        g = await draw(who, direction="downstream", depth=1)
        assert g["more_exact"] is True and g["engine"] == "index"
        more = {n["name"]: (n["more_upstream"], n["more_downstream"]) for n in g["nodes"]}
        # b leads on to secret_c, d and e; a has "up" above it (not drawn on a downstream walk).
        assert more == {"s.a": (1, 0), "s.b": (0, 3)}
        assert g["more"] == {"upstream": 1, "downstream": 3}
        assert "secret_c" not in str(g) and ds["s.secret_c"]["id"] not in str(g)
        # Expanding from the frontier node draws what was counted.
        r = await client.get(
            "/api/lineage/graph",
            params={"node": ds["s.b"]["id"], "direction": "downstream", "depth": 5},
            headers=who.headers,
        )
        assert len(r.json()["nodes"]) == 1 + 3
        whole = await draw(who, direction="both", depth=5)
        assert whole["more"] == {"upstream": 0, "downstream": 0}
        assert all(n["more_upstream"] == n["more_downstream"] == 0 for n in whole["nodes"])

    # Cut by the node cap: a hub with six leaves drawn with a cap of 4 (the hub and 3 leaves).
    hub = await _ds(client, owner, "s.hub")
    for i in range(6):
        leaf = await _ds(client, owner, f"s.leaf{i}")
        await _edge(client, owner, hub["id"], leaf["id"])
    app.state.settings.lineage_max_nodes = 4
    try:
        r = await client.get(
            "/api/lineage/graph",
            params={"node": hub["id"], "direction": "downstream", "depth": 2},
            headers=owner.headers,
        )
    finally:
        app.state.settings.lineage_max_nodes = 5000
    g = r.json()
    assert g["truncated"] is True and len(g["nodes"]) == 4
    hub_node = next(n for n in g["nodes"] if n["name"] == "s.hub")
    assert hub_node["more_downstream"] == 3 and g["more"]["downstream"] == 3


async def test_engines_agree_on_what_lies_beyond(bolt_app: FastAPI, graph: BoltGraph) -> None:
    """PostgreSQL and Bolt give the undrawn direct neighbours; the index the exact counts,
    which are never below them and are zero exactly where they are zero."""
    async with client_for(bolt_app) as c:
        starts = await _scenario(bolt_app, c)
    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    index = IndexEngine(bolt_app.state.sessionmaker)
    await index.start_build()
    bolt = bolt_app.state.graph_engine
    async with bolt_app.state.sessionmaker() as s:
        edges = [(str(a), str(b)) for a, b in await s.execute(select(E.src_id, E.dst_id))]
        p = await _principal(bolt_app, "p@acme.test")  # sees every node of the scenario
        seen_more = False
        for start, direction, depth, cap in itertools.product(
            starts, ("upstream", "downstream", "both"), (0, 1, 2), (3, 5000)
        ):
            args = (start, direction, depth, cap)
            pg = await service.graph(s, p, service.POSTGRES, *args, more=True)
            bo = await service.graph(s, p, bolt, *args, more=True)
            ix = await service.graph(s, p, index, *args, more=True)
            assert (pg["more_exact"], bo["more_exact"], ix["more_exact"]) == (False, False, True)
            assert pg["nodes"] == bo["nodes"] and (pg["more"], pg["edges"]) == (
                bo["more"],
                bo["edges"],
            )
            drawn = {n["id"] for n in ix["nodes"]}
            assert drawn == {n["id"] for n in pg["nodes"]}
            per, total = _definition(edges, drawn)
            direct = _direct(edges, drawn)
            direct_total = {
                way: len({d for s_, d in edges if s_ in drawn and d not in drawn})
                if way == "downstream"
                else len({s_ for s_, d in edges if d in drawn and s_ not in drawn})
                for way in ("upstream", "downstream")
            }
            assert ix["more"] == total and pg["more"] == direct_total, args
            for got, counts in ((pg, direct), (ix, per)):
                for n in got["nodes"]:
                    assert not n["restricted"]
                    for way in ("upstream", "downstream"):
                        assert n[f"more_{way}"] == counts[way].get(n["id"], 0), (args, n, way)
            for a, b in zip(pg["nodes"], ix["nodes"], strict=True):
                assert a["id"] == b["id"]
                for way in ("more_upstream", "more_downstream"):
                    assert (a[way] > 0) == (b[way] > 0) and a[way] <= b[way]
            seen_more |= total != direct_total
        assert seen_more, "the scenario never showed the index counting past a neighbour"
