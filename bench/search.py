"""Catalog search at 100,000 datasets: ranked top-20 next to an unranked ``@@ ... LIMIT 20``,
and ``GET /api/datasets/{id}`` throughput next to a bare Starlette endpoint doing the same
single-row query. Goals: ranked p95 <= 3x unranked and <= 50 ms; GET >= 0.5x bare."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import httpx
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.common import bench_app, save, summary
from datamesh.auth.principal import Principal
from datamesh.catalog import repository as repo
from datamesh.catalog.repository import SearchQuery

N = 100_000
WORDS = [
    "orders",
    "customers",
    "invoices",
    "payments",
    "refunds",
    "shipments",
    "inventory",
    "campaigns",
    "sessions",
    "events",
    "revenue",
    "churn",
    "leads",
    "accounts",
    "products",
    "suppliers",
    "ledger",
    "budget",
    "forecast",
    "returns",
    "clicks",
    "impressions",
    "subscriptions",
    "tickets",
    "reviews",
]
QUALIFIERS = [
    "daily",
    "weekly",
    "monthly",
    "raw",
    "clean",
    "agg",
    "archive",
    "snapshot",
    "latest",
    "v2",
]
QUERIES = [
    "orders",
    "customer",
    "ord",
    "invoic",
    "ordres",
    "custmers",
    "daily revenue",
    "churn weekly",
    "payments -refunds",
    '"monthly budget"',
    "ledger",
    "sessions",
    "clicks or impressions",
    "subscriptions",
    "tickets",
    "forecast",
    "revenue",
    "shipments",
    "inventory snapshot",
    "leads",
]

GENERATE = """
INSERT INTO datasets (id, org_id, namespace, name, display_name, description, platform, domain,
                      tags, visibility, status, origin, fields, version)
SELECT gen_random_uuid(), :org, 'bench://ns' || (g % 50),
       w1 || '_' || w2 || '_' || q || '_' || g,
       initcap(w1 || ' ' || w2),
       'Dataset about ' || w1 || ' and ' || w3 || ' kept by the ' || d || ' team; ' ||
       'refreshed ' || q || '. Contains ' || w2 || ' for reporting.',
       (ARRAY['snowflake','databricks','bigquery','redshift','postgresql'])[1 + g % 5],
       d, ARRAY[(ARRAY['gold','silver','bronze'])[1 + g % 3], q],
       (ARRAY['public','internal','internal','private'])[1 + g % 4], 'active', 'import',
       jsonb_build_array(jsonb_build_object('name', w2 || '_id', 'type', 'bigint'),
                         jsonb_build_object('name', 'created_at', 'type', 'timestamp')),
       1
FROM (
  SELECT g,
         (CAST(:words AS text[]))[1 + (g * 7) % :nw] AS w1, (CAST(:words AS text[]))[1 + (g * 13) % :nw] AS w2,
         (CAST(:words AS text[]))[1 + (g * 17) % :nw] AS w3, (CAST(:quals AS text[]))[1 + (g * 3) % :nq] AS q,
         (ARRAY['sales','marketing','product','finance','ops'])[1 + g % 5] AS d
  FROM generate_series(1, :n) AS g
) s
"""


async def run() -> dict:
    async with bench_app("search") as (app, pg):
        async with app.state.sessionmaker() as s:
            org = (
                await s.execute(
                    text(
                        "INSERT INTO organizations (id, name, slug, description, settings) "
                        "VALUES (gen_random_uuid(), 'Bench', 'bench', '', '{}') RETURNING id"
                    )
                )
            ).scalar_one()
            await s.commit()
            t0 = time.perf_counter()
            await s.execute(
                text(GENERATE),
                {
                    "org": org,
                    "words": WORDS,
                    "nw": len(WORDS),
                    "quals": QUALIFIERS,
                    "nq": len(QUALIFIERS),
                    "n": N,
                },
            )
            await s.commit()
            gen_s = time.perf_counter() - t0
            await s.execute(text("ANALYZE datasets"))
            await s.commit()
        p = Principal(
            kind="user",
            id=uuid.uuid4(),
            name="bench",
            org_id=org,
            role="viewer",
            user_id=uuid.uuid4(),
        )

        ranked, unranked, full = [], [], []
        rounds = 5
        for _ in range(rounds):
            for q in QUERIES:
                async with app.state.sessionmaker() as s:
                    t = time.perf_counter()
                    conds = repo._filters(SearchQuery(text=q), p)
                    terms = repo._text_terms(q)
                    await repo.text_search_settings(s)
                    await repo._page(s, conds, terms, SearchQuery(text=q, limit=20))
                    ranked.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    await s.execute(
                        text(
                            "SELECT id FROM datasets WHERE search @@ websearch_to_tsquery('english', :q) LIMIT 20"
                        ),
                        {"q": q},
                    )
                    unranked.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    await repo.search(s, p, SearchQuery(text=q, limit=20))
                    full.append((time.perf_counter() - t) * 1000)

        get_result = await _get_throughput(app, pg, org)
        r, u = summary(ranked), summary(unranked)
        return {
            "datasets": N,
            "generate_seconds": round(gen_s, 1),
            "ranked_top20": r,
            "unranked_top20": u,
            "search_with_total_and_facets": summary(full),
            "ratio_ranked_p95_over_unranked_p95": round(r["p95_ms"] / u["p95_ms"], 2),
            "goal": "ranked p95 <= 3x unranked and <= 50 ms",
            **get_result,
        }


async def _get_throughput(app, pg, org) -> dict:
    from datamesh.users import service as users
    from datamesh.users.schemas import UserCreate

    async with app.state.sessionmaker() as s:
        await users.create_user(
            s,
            None,
            UserCreate(email="bench@bench.test", password="bench-password", role="viewer"),
            org_name="Bench",
        )
        await s.commit()
        ids = [
            str(r[0])
            for r in (
                await s.execute(
                    text("SELECT id FROM datasets WHERE visibility = 'public' LIMIT 2000")
                )
            ).all()
        ]
    engine = app.state.engine

    async def bare(request):
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT id, name, description FROM datasets WHERE id = :id"),
                    {"id": request.path_params["id"]},
                )
            ).first()
        return JSONResponse({"id": str(row[0]), "name": row[1], "description": row[2]})

    bare_app = Starlette(routes=[Route("/d/{id}", bare)])
    concurrency, requests = 20, 2000

    async def drive(client: httpx.AsyncClient, path: str, headers: dict) -> float:
        rng = random.Random(1)
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                r = await client.get(path.format(id=rng.choice(ids)), headers=headers)
                assert r.status_code == 200, r.text

        t = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(requests)])
        return requests / (time.perf_counter() - t)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        tok = (
            await c.post(
                "/api/auth/login", json={"email": "bench@bench.test", "password": "bench-password"}
            )
        ).json()["access_token"]
        c.cookies.clear()
        headers = {"Authorization": f"Bearer {tok}"}
        await drive(c, "/api/datasets/{id}", headers)  # warm up
        ours = await drive(c, "/api/datasets/{id}", headers)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=bare_app), base_url="http://b"
    ) as c:
        await drive(c, "/d/{id}", {})
        bare_rps = await drive(c, "/d/{id}", {})
    return {
        "get_dataset_rps": round(ours, 1),
        "bare_starlette_rps": round(bare_rps, 1),
        "ratio_get_over_bare": round(ours / bare_rps, 2),
        "get_goal": ">= 0.5x the bare endpoint (in-process ASGI, 20 concurrent, same single-row query)",
    }


def main() -> None:
    save("search", asyncio.run(run()))


if __name__ == "__main__":
    main()
