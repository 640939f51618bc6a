"""Impact analysis on a large graph: 100,000 datasets, 50,000 processes, ~400,000 edges with
power-law fan-out. The engine's downstream walk (depth 20) next to networkx and scipy on the same
graph in memory, next to a Marquez-style recursive CTE that carries each path in an array.
Goals: <= 3x networkx; >= 100x faster than the path-array CTE.

The in-memory lineage index (issue 20) in the same run: its uncapped walk next to scipy's
``breadth_first_order`` (goal p95 <= 3x), ``GET /api/lineage/impact`` of a hub over HTTP (totals
and the first page) next to a plain ``GET /api/datasets/{id}`` (goal p95 <= 10x), its memory per
edge (goal <= 48 B) and build time per million edges. ``BENCH_LINEAGE_QUICK=1`` skips the slow
PostgreSQL-engine and CTE walks."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
import uuid

import httpx
import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order
from sqlalchemy import text

from bench.common import bench_app, bench_auth, bench_org, save, summary
from datamesh.kit.ids import uuid7
from datamesh.lineage.engine import PostgresEngine, traverse
from datamesh.lineage.index import IndexEngine

# BENCH_LINEAGE_DATASETS / _PROCESSES: another size (1,000,000 / 700,000 gives ~4M edges).
DATASETS = int(os.environ.get("BENCH_LINEAGE_DATASETS", 100_000))
PROCESSES = int(os.environ.get("BENCH_LINEAGE_PROCESSES", DATASETS // 2))
DEPTH = 20
STARTS = 12
CTE_TIMEOUT_MS = 20_000


def generate(
    seed: int = 7,
) -> tuple[list[uuid.UUID], list[uuid.UUID], list[tuple[int, int, str, str]]]:
    """Edges as (src index, dst index, src kind, dst kind); indices into datasets + processes."""
    rng = random.Random(seed)
    ds = [uuid7() for _ in range(DATASETS)]
    ps = [uuid7() for _ in range(PROCESSES)]
    edges: set[tuple[int, int, str, str]] = set()
    for p in range(PROCESSES):
        # Outputs later in the order than inputs: a DAG with long chains; popular (low) inputs.
        out_base = int(DATASETS * (p + 1) / (PROCESSES + 1))
        for _ in range(1 + int(rng.paretovariate(1.5)) % 8):
            src = int(out_base * rng.random() ** 2.5)
            edges.add((src, DATASETS + p, "dataset", "process"))
        for k in range(rng.randint(1, 5)):
            dst = min(DATASETS - 1, out_base + k + rng.randint(0, 20))
            edges.add((DATASETS + p, dst, "process", "dataset"))
    return ds, ps, sorted(edges)


async def load(app, org: uuid.UUID, ds, ps, edges) -> None:
    raw = await asyncpg_conn(app)
    try:
        await raw.copy_records_to_table(
            "datasets",
            columns=[
                "id",
                "org_id",
                "namespace",
                "name",
                "platform",
                "visibility",
                "status",
                "origin",
                "display_name",
                "description",
                "tags",
                "fields",
                "version",
            ],
            records=[
                (
                    d,
                    org,
                    "bench://lake",
                    f"table_{i}",
                    "postgresql",
                    "public",
                    "active",
                    "lineage",
                    "",
                    "",
                    [],
                    "[]",
                    1,
                )
                for i, d in enumerate(ds)
            ],
        )
        await raw.copy_records_to_table(
            "processes",
            columns=[
                "id",
                "org_id",
                "namespace",
                "name",
                "type",
                "description",
                "owners",
                "source_code",
                "origin",
            ],
            records=[
                (p, org, "bench", f"job_{i}", "spark", "", "[]", "{}", "openlineage")
                for i, p in enumerate(ps)
            ],
        )
        ids = ds + ps
        await raw.copy_records_to_table(
            "lineage_edges",
            columns=["id", "src_id", "dst_id", "src_kind", "dst_kind", "org_id", "origin"],
            records=[
                (uuid7(), ids[s], ids[d], sk, dk, org, "openlineage") for s, d, sk, dk in edges
            ],
        )
        await raw.execute("ANALYZE datasets; ANALYZE processes; ANALYZE lineage_edges")
    finally:
        await raw.close()


async def asyncpg_conn(app):
    import asyncpg

    return await asyncpg.connect(
        app.state.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    )


MARQUEZ_CTE = """
WITH RECURSIVE walk(node, path, depth) AS (
  SELECT CAST(:start AS uuid), ARRAY[CAST(:start AS uuid)], 0
  UNION ALL
  SELECT e.dst_id, w.path || e.dst_id, w.depth + 1
  FROM walk w JOIN lineage_edges e ON e.src_id = w.node
  WHERE NOT (ARRAY[e.dst_id] && w.path) AND w.depth < :raw_depth
)
SELECT count(DISTINCT node) FROM walk
"""


async def run() -> dict:
    t0 = time.perf_counter()
    ds, ps, edges = generate()
    gen_s = time.perf_counter() - t0
    index = dict(enumerate(ds + ps))
    n_nodes = DATASETS + PROCESSES
    src = np.fromiter((s for s, _, _, _ in edges), dtype=np.int32)
    dst = np.fromiter((d for _, d, _, _ in edges), dtype=np.int32)
    csr = csr_matrix((np.ones(len(edges), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
    rng = random.Random(3)
    out_degree = np.bincount(src, minlength=n_nodes)
    hubs = sorted(range(2000), key=lambda i: (-int(out_degree[i]), i))[: STARTS // 2]
    starts = hubs + [rng.randrange(DATASETS // 2) for _ in range(STARTS - len(hubs))]

    # The index below is built after the bulk load (which bypasses the outbox), not at start.
    async with bench_app("lineage", lineage_max_nodes=10**7, lineage_index=False) as (app, _pg):
        org = await bench_org(app)
        t1 = time.perf_counter()
        await load(app, org, ds, ps, edges)
        load_s = time.perf_counter() - t1
        # The bench's own copy of the graph (hundreds of thousands of tuples and UUIDs) is
        # not the server's: kept out of the collector, so its full collections do not land on
        # the requests measured (a server process holds no such Python objects).
        gc.freeze()
        index_figures = await bench_index(app, index, starts, csr, len(edges))
        if QUICK:
            return {
                "graph": {"datasets": DATASETS, "processes": PROCESSES, "edges": len(edges)},
                "quick": "PostgreSQL engine and CTE walks skipped (BENCH_LINEAGE_QUICK=1)",
                **index_figures,
            }
        graph = nx.DiGraph()
        graph.add_edges_from((s, d) for s, d, _, _ in edges)
        engine = PostgresEngine()
        ours, ours_sizes, nx_ms, sp_ms, cte_ms, cte_timeouts = [], [], [], [], [], 0
        for start in starts:
            async with app.state.sessionmaker() as s:
                t = time.perf_counter()
                result, _ = await traverse(
                    engine, engine, s, index[start], "dataset", "downstream", DEPTH, 10**7
                )
                ours.append((time.perf_counter() - t) * 1000)
                ours_sizes.append(len(result.nodes))
            t = time.perf_counter()
            reached = (
                nx.single_source_shortest_path_length(graph, start, cutoff=2 * DEPTH)
                if start in graph
                else {start: 0}
            )
            nx_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            breadth_first_order(csr, start, directed=True, return_predecessors=False)
            sp_ms.append((time.perf_counter() - t) * 1000)
            assert len(reached) >= len(result.nodes) * 0.5 or len(result.nodes) <= 1
            async with app.state.sessionmaker() as s:
                await s.execute(text(f"SET statement_timeout = {CTE_TIMEOUT_MS}"))
                t = time.perf_counter()
                try:
                    await s.execute(
                        text(MARQUEZ_CTE), {"start": str(index[start]), "raw_depth": 2 * DEPTH}
                    )
                    cte_ms.append((time.perf_counter() - t) * 1000)
                except Exception:
                    cte_timeouts += 1
                    cte_ms.append(float(CTE_TIMEOUT_MS))
                    await s.rollback()
        o, n, c = summary(ours), summary(nx_ms), summary(cte_ms)
        return {
            "graph": {"datasets": DATASETS, "processes": PROCESSES, "edges": len(edges)},
            "generate_seconds": round(gen_s, 1),
            "load_seconds": round(load_s, 1),
            "starts": len(starts),
            "reached_nodes_median": sorted(ours_sizes)[len(ours_sizes) // 2],
            "reached_nodes_max": max(ours_sizes),
            "datamesh_postgres_engine": o,
            "networkx_bfs_cutoff": n,
            "scipy_breadth_first_order": summary(sp_ms),
            "marquez_style_path_array_cte": c,
            "marquez_cte_timeouts": f"{cte_timeouts} of {len(starts)} hit the {CTE_TIMEOUT_MS} ms statement timeout (then counted as {CTE_TIMEOUT_MS} ms: a lower bound)",
            "ratio_ours_p95_over_networkx_p95": round(o["p95_ms"] / n["p95_ms"], 2),
            "speedup_over_path_array_cte_p50": round(c["p50_ms"] / max(o["p50_ms"], 0.001), 1),
            "goal": "<= 3x networkx; >= 100x faster than the path-array CTE",
            **index_figures,
        }


QUICK = os.environ.get("BENCH_LINEAGE_QUICK") == "1"
BUILDS = int(os.environ.get("BENCH_LINEAGE_BUILDS", 3))  # 1 for the 4M-edge graph (time)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def bench_catch_up(app, engine: IndexEngine, auth: dict[str, str], hub) -> dict:
    """A 1,000-event OpenLineage batch (5 posts of 200, as producers send them): the time from
    the last response until the index holds every change, pushed by the LISTEN connection's
    NOTIFYs (no walk asked), and the time of the first walk after another such batch (the
    walk's own read-your-writes check, whatever push had done by then). Then, with the
    batches held as changes over the base (not folded yet), the hub's uncut level walk over
    them, and the hub's impact over HTTP then (it folds them first, in a thread)."""
    from bench.ingest import events

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://b", timeout=300
    ) as c:
        key = (
            await c.post(
                "/api/auth/api-keys", json={"name": "ol", "role": "producer"}, headers=auth
            )
        ).json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        out: dict[str, float] = {}
        for label in ("push", "walk"):
            batch = events(f"cu_{label}", 1000)
            for i in range(0, 1000, 200):
                r = await c.post("/api/v1/lineage/batch", json=batch[i : i + 200], headers=headers)
                assert r.status_code in (200, 201, 207), r.text
            t = time.perf_counter()
            async with app.state.sessionmaker() as s:
                head = int((await s.execute(text("SELECT max(seq) FROM events"))).scalar_one())
                node = (
                    await s.execute(
                        text("SELECT id FROM datasets WHERE name = :n"),
                        {"n": f"cu_{label}/in_0"},
                    )
                ).scalar_one()
            if label == "push":
                while engine.index is None or engine.index.position < head:
                    await asyncio.sleep(0.001)
                out["push_ms"] = (time.perf_counter() - t) * 1000
            else:
                async with app.state.sessionmaker() as s:
                    walked = await engine.walk(s, node, "dataset", "downstream", 2, 1000)
                out["walk_ms"] = (time.perf_counter() - t) * 1000
                assert len(walked.nodes) > 1, "the walk sees the batch's lineage"
        ix = engine.index
        out["changes_held"] = ix.delta_size
        if ix.delta_size:
            t = time.perf_counter()
            ix.depths(hub, "dataset", DEPTH)
            out["hub_walk_over_changes_ms"] = (time.perf_counter() - t) * 1000
            # What a reader meets: the impact folds first (in a thread), then searches.
            engine._blasts.clear()
            t = time.perf_counter()
            r = await c.get(
                "/api/lineage/impact", params={"node": str(hub), "limit": 50}, headers=auth
            )
            out["hub_impact_http_right_after_batch_ms"] = (time.perf_counter() - t) * 1000
            assert r.status_code == 200 and ix.delta_size == 0
            t = time.perf_counter()
            ix.depths(hub, "dataset", DEPTH)
            out["hub_walk_after_fold_ms"] = (time.perf_counter() - t) * 1000
        return {k: round(v, 1) for k, v in out.items()}


PEOPLE_USERS = 2_000
OWNED_SHARE = 0.3  # of the datasets, one or two owners each
FOLLOWED_SHARE = 0.1  # of the datasets, one to three followers each
PEOPLE_WALKS = 20  # impacts timed (with as many GETs): a p95 of 5 was their maximum


async def bench_people(app, engine: IndexEngine, c, auth, hub, index, get_ms) -> dict:
    """The hub's impact walked each time once people own and follow the graph: 2,000 users,
    30 % of the datasets with owners, 10 % followed. Owners and followers are read set-based
    for every visible dataset of the blast radius that may have people (the index's bit), so
    this is the figure that grows with the catalog's people, next to the same GET as above."""
    rng = random.Random(11)
    async with app.state.sessionmaker() as s:
        org = (await s.execute(text("SELECT org_id FROM datasets LIMIT 1"))).scalar_one()
    users = [uuid7() for _ in range(PEOPLE_USERS)]
    datasets = [v for k, v in index.items() if k < DATASETS]
    owned = {
        (d, u)
        for d in rng.sample(datasets, int(len(datasets) * OWNED_SHARE))
        for u in rng.sample(users, rng.randint(1, 2))
    }
    followed = {
        (d, u)
        for d in rng.sample(datasets, int(len(datasets) * FOLLOWED_SHARE))
        for u in rng.sample(users, rng.randint(1, 3))
    }
    raw = await asyncpg_conn(app)
    try:
        await raw.copy_records_to_table(
            "users",
            columns=["id", "email", "name", "org_id", "role", "is_platform_admin", "disabled"],
            records=[
                (u, f"person{i}@bench.example", f"Person {i}", org, "viewer", False, False)
                for i, u in enumerate(users)
            ],
        )
        await raw.copy_records_to_table(
            "dataset_owners", columns=["dataset_id", "user_id"], records=sorted(owned)
        )
        await raw.copy_records_to_table(
            "follows", columns=["dataset_id", "user_id"], records=sorted(followed)
        )
        await raw.execute("ANALYZE users; ANALYZE dataset_owners; ANALYZE follows")
    finally:
        await raw.close()
    # The bench's own copies (~70,000 tuples) are not the server's: dropped, so the collector's
    # full passes during the requests scan what a server holds (as after the load, above).
    owner_rows, follow_rows = len(owned), len(followed)
    del owned, followed, datasets, users
    engine.index = None  # the copies bypass the outbox: rebuild so the has-people bits hold
    await engine.start_build()
    walked, gets = [], []
    body: dict = {}
    for _ in range(PEOPLE_WALKS):
        t = time.perf_counter()
        r = await c.get(f"/api/datasets/{hub}", headers=auth)
        gets.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
        engine._blasts.clear()
        t = time.perf_counter()
        r = await c.get("/api/lineage/impact", params={"node": str(hub), "limit": 50}, headers=auth)
        walked.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
        body = r.json()
    assert body["totals"]["people"] > 0, "the blast radius has people to tell"
    w, g = summary(walked), summary(get_ms + gets)
    return {
        "users": PEOPLE_USERS,
        "owner_rows": owner_rows,
        "follow_rows": follow_rows,
        "hub_totals": body["totals"],
        "notify_listed": len(body["notify"]),
        "impact_http_hub_walked_each_time": w,
        "get_dataset_http_before_and_after": g,
        "ratio_walked_p95_over_get_dataset_p95": round(w["p95_ms"] / g["p95_ms"], 2),
    }


async def bench_index(app, index, starts, csr, n_edges: int) -> dict:
    engine = IndexEngine(app.state.sessionmaker)
    app.state.stream_hub.on_notify(engine.wake)
    builds = []
    rss = []
    for _ in range(BUILDS):
        engine.index = None
        before = _rss()
        t = time.perf_counter()
        await engine.start_build()
        builds.append(time.perf_counter() - t)
        rss.append(_rss() - before)
    ix = engine.index
    assert ix is not None and ix.edge_count == n_edges
    walk_ms, sp_ms, sizes = [], [], []
    for _ in range(5):
        for start in starts:
            t = time.perf_counter()
            nodes, _ = ix.depths(index[start], "dataset", DEPTH)
            walk_ms.append((time.perf_counter() - t) * 1000)
            sizes.append(int(nodes.size))
            t = time.perf_counter()
            breadth_first_order(csr, start, directed=True, return_predecessors=False)
            sp_ms.append((time.perf_counter() - t) * 1000)
    app.state.graph_engine = engine  # the API walks the index built above
    hub = index[starts[0]]
    impact_ms, cold_ms, get_ms = [], [], []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://b", timeout=300
    ) as c:
        auth = await bench_auth(c)
        first = await c.get(
            "/api/lineage/impact", params={"node": str(hub), "limit": 50}, headers=auth
        )
        body = first.json()
        assert first.status_code == 200 and body["exact"], body
        for _ in range(10):
            t = time.perf_counter()
            r = await c.get(
                "/api/lineage/impact", params={"node": str(hub), "limit": 50}, headers=auth
            )
            impact_ms.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
            if len(cold_ms) < 5:  # the walk itself each time: no blast radius kept
                engine._blasts.clear()
                t = time.perf_counter()
                r = await c.get(
                    "/api/lineage/impact", params={"node": str(hub), "limit": 50}, headers=auth
                )
                cold_ms.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200
            t = time.perf_counter()
            r = await c.get(f"/api/datasets/{hub}", headers=auth)
            get_ms.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200
        catch_up = await bench_catch_up(app, engine, auth, hub)
        people = await bench_people(app, engine, c, auth, hub, index, get_ms)
    w, sp, im, g = summary(walk_ms), summary(sp_ms), summary(impact_ms), summary(get_ms)
    cold = summary(cold_ms)
    held = ix.nbytes()  # after walks: the search graph is built and counted
    build = sorted(builds)[len(builds) // 2]
    return {
        "index": {
            f"build_seconds_median_of_{BUILDS}": round(build, 2),
            "build_seconds_per_million_edges": round(build / n_edges * 1e6, 2),
            "bytes_per_edge": round(held / n_edges, 1),
            "rss_growth_first_build_per_edge": round(rss[0] / n_edges, 1),
            "catch_up_after_1000_event_openlineage_batch_ms": catch_up,
            "walk_depth20_uncapped": w,
            "scipy_breadth_first_order_same_starts": sp,
            "ratio_walk_p95_over_scipy_p95": round(w["p95_ms"] / sp["p95_ms"], 2),
            "reached_nodes_median": sorted(sizes)[len(sizes) // 2],
            "reached_nodes_max": max(sizes),
            "impact_http_hub_totals_and_first_page": im,
            "impact_http_hub_walked_each_time": cold,
            "ratio_impact_walked_p95_over_get_dataset_p95": round(cold["p95_ms"] / g["p95_ms"], 2),
            "impact_hub_totals": body["totals"],
            "get_dataset_http": g,
            "ratio_impact_p95_over_get_dataset_p95": round(im["p95_ms"] / g["p95_ms"], 2),
            "impact_with_people": people,
            "goals": "walk p95 <= 3x scipy; impact p95 <= 10x GET dataset; <= 48 B/edge; "
            "build <= 10 s per million edges",
        }
    }


def main() -> None:
    save("lineage", asyncio.run(run()))


if __name__ == "__main__":
    main()
