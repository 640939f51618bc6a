"""Column-level impact (``GET /api/lineage/columns/impact``, issue 20) over HTTP on 10,000
columns (100 datasets x 100 fields), two shapes: a chain (each column feeds the next: the worst
case for a level-by-level walk, one statement per level) and a forward DAG full of diamonds
(each column feeds 3 of the next 50). Side by side in the same run: a plain recursive CTE on
the same table (``UNION`` over (column, depth), depth-bounded, least depth per column) and a
plain ``GET /api/datasets/{id}`` as the floor of an HTTP request."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import httpx

from bench.common import bench_app, bench_auth, bench_org, save, summary
from bench.lineage import asyncpg_conn
from datamesh.kit.ids import uuid7

DATASETS, FIELDS = 100, 100
COLUMNS = DATASETS * FIELDS
RUNS = 7

CTE = """
WITH RECURSIVE walk(ds, field, depth) AS (
  SELECT $1::uuid, $2::text, 0
  UNION
  SELECT c.output_dataset_id, c.output_field, w.depth + 1
  FROM walk w JOIN column_edges c ON c.input_dataset_id = w.ds AND c.input_field = w.field
  WHERE w.depth < $3
)
SELECT count(*) FROM (SELECT ds, field, min(depth) FROM walk GROUP BY ds, field) AS reached
"""


def _column(k: int, ds: list[uuid.UUID]) -> tuple[uuid.UUID, str]:
    return ds[k // FIELDS], f"c{k % FIELDS}"


async def _load(app, org: uuid.UUID, shape: str) -> list[uuid.UUID]:
    ds = [uuid7() for _ in range(DATASETS)]
    rng = random.Random(7)
    if shape == "chain":
        pairs = [(k, k + 1) for k in range(COLUMNS - 1)]
    else:
        pairs = sorted(
            {
                (k, min(COLUMNS - 1, k + rng.randint(1, 50)))
                for k in range(COLUMNS - 1)
                for _ in "abc"
            }
        )
    raw = await asyncpg_conn(app)
    try:
        await raw.copy_records_to_table(
            "datasets",
            columns=["id", "org_id", "namespace", "name", "platform", "visibility", "status",
                     "origin", "display_name", "description", "tags", "fields", "version"],
            records=[
                (d, org, f"bench://{shape}", f"t{i}", "postgresql", "public", "active",
                 "lineage", "", "", [], "[]", 1)
                for i, d in enumerate(ds)
            ],
        )  # fmt: skip
        rows = []
        for a, b in pairs:
            (in_ds, in_f), (out_ds, out_f) = _column(a, ds), _column(b, ds)
            rows.append((uuid7(), out_ds, out_f, in_ds, in_f, "DIRECT", "IDENTITY"))
        await raw.copy_records_to_table(
            "column_edges",
            columns=["id", "output_dataset_id", "output_field", "input_dataset_id",
                     "input_field", "transformation_type", "transformation_subtype"],
            records=rows,
        )  # fmt: skip
        await raw.execute("ANALYZE datasets; ANALYZE column_edges")
    finally:
        await raw.close()
    return ds


async def run() -> dict:
    out: dict = {"columns": COLUMNS, "runs": RUNS}
    async with bench_app("columns", lineage_max_depth=1000) as (app, _pg):
        org = await bench_org(app)
        shapes = {shape: await _load(app, org, shape) for shape in ("chain", "dag")}
        raw = await asyncpg_conn(app)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://b", timeout=300
        ) as c:
            auth = await bench_auth(c)
            for shape, depth in (("chain", 20), ("chain", 1000), ("dag", 20)):
                ds = shapes[shape]
                params = {"dataset": str(ds[0]), "field": "c0", "depth": depth}
                api_ms, cte_ms, get_ms = [], [], []
                reached = cte_reached = 0
                for _ in range(RUNS):
                    t = time.perf_counter()
                    r = await c.get("/api/lineage/columns/impact", params=params, headers=auth)
                    api_ms.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, r.text
                    reached = r.json()["totals"]["columns"]
                    t = time.perf_counter()
                    cte_reached = await raw.fetchval(CTE, ds[0], "c0", depth) - 1
                    cte_ms.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    g = await c.get(f"/api/datasets/{ds[0]}", headers=auth)
                    get_ms.append((time.perf_counter() - t) * 1000)
                    assert g.status_code == 200
                assert reached == cte_reached, (shape, depth, reached, cte_reached)
                a, b, g_ = summary(api_ms), summary(cte_ms), summary(get_ms)
                out[f"{shape}_depth_{depth}"] = {
                    "columns_reached": reached,
                    "column_impact_http": a,
                    "recursive_cte_sql_only": b,
                    "get_dataset_http": g_,
                    "ratio_api_p50_over_cte_p50": round(a["p50_ms"] / b["p50_ms"], 2),
                    "ratio_api_p50_over_get_dataset_p50": round(a["p50_ms"] / g_["p50_ms"], 2),
                }
        await raw.close()
    return out


def main() -> None:
    save("columns", asyncio.run(run()))


if __name__ == "__main__":
    main()
