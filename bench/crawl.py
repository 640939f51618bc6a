"""Crawl of a generated PostgreSQL database: 5,000 tables, 500 views, 60,000 columns (over ten
schemas), reached over TCP with password auth like any node.

Measured side by side in the same run:
- baseline: a plain ``SELECT`` of the same catalog rows from ``information_schema`` (tables with
  their type, columns with type/nullability/default/comment-free, view definitions) on a
  connection of the same kind;
- the first crawl (read + write: datasets, fields, view lineage, audit entries and events), as
  tables per second and the process's peak memory growth; goal: <= 3x the baseline;
- a no-change re-crawl; goal: <= 0.5x the first crawl.

``BENCH_CRAWL_SCALE`` (default 1.0) shrinks the database for a quick look.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
import uuid
from typing import Any

import asyncpg

from bench.common import bench_app, save
from datamesh.auth.principal import Principal
from datamesh.connectors import crawls
from datamesh.connectors import service as nodes
from datamesh.connectors.crawl_worker import CrawlWorker
from datamesh.connectors.schemas import NodeCreate
from datamesh.db import session_scope
from datamesh.orgs import service as orgs

SCALE = float(os.environ.get("BENCH_CRAWL_SCALE", "1.0"))
SCHEMAS = 10
TABLES = int(5000 * SCALE)
VIEWS = int(500 * SCALE)
COLUMNS_PER_TABLE = 12
PASSWORD = "bench-" + uuid.uuid4().hex
ROLE = "bench_crawler"
DATABASE = "benchsrc"

GENERATE = """
DO $$
DECLARE s int; t int; per int := {per}; vper int := {vper};
BEGIN
  FOR s IN 0..{schemas} - 1 LOOP
    EXECUTE format('CREATE SCHEMA s%s', s);
    FOR t IN 0..per - 1 LOOP
      EXECUTE format(
        'CREATE TABLE s%1$s.t%2$s (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2),'
        ' created_at timestamptz DEFAULT now(), flag boolean, code varchar(20), n1 int, n2 int,'
        ' n3 bigint, note text, ref_id bigint, updated_at timestamp)', s, t);
      EXECUTE format('COMMENT ON TABLE s%1$s.t%2$s IS %3$L', s, t, 'table ' || t);
    END LOOP;
    FOR t IN 0..vper - 1 LOOP
      EXECUTE format(
        'CREATE VIEW s%1$s.v%2$s AS SELECT a.id, a.name, sum(b.amount) AS total'
        ' FROM s%1$s.t%2$s a JOIN s%1$s.t%3$s b ON b.ref_id = a.id WHERE a.flag GROUP BY a.id, a.name',
        s, t, (t + 1) % per);
    END LOOP;
    EXECUTE format('GRANT USAGE ON SCHEMA s%s TO {role}', s);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA s%s TO {role}', s);
  END LOOP;
END $$;
"""

BASELINE = [
    "SELECT table_schema, table_name, table_type FROM information_schema.tables "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    "SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default, "
    "ordinal_position FROM information_schema.columns "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    "SELECT table_schema, table_name, view_definition FROM information_schema.views "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
]


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _baseline(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    conn = await asyncpg.connect(url)
    rows = 0
    try:
        for stmt in BASELINE:
            rows += len(await conn.fetch(stmt))
    finally:
        await conn.close()
    return time.perf_counter() - start, rows


async def run() -> dict[str, Any]:
    async with bench_app("crawl", health_checks_enabled=False, crawls_enabled=False) as (app, pg):
        pg.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        pg.create_database(DATABASE)
        t0 = time.perf_counter()
        pg.psql(
            GENERATE.format(
                per=TABLES // SCHEMAS, vper=VIEWS // SCHEMAS, schemas=SCHEMAS, role=ROLE
            ),
            database=DATABASE,
        )
        pg.psql("ANALYZE", database=DATABASE)
        print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
        os.environ["BENCH_CRAWL_PASSWORD"] = PASSWORD
        async with session_scope(app.state.sessionmaker) as session:
            org = await orgs.get_or_create_by_name(session, "Bench")
            admin = Principal(
                kind="api_key", id=uuid.uuid4(), name="bench", org_id=org.id, role="admin"
            )
            node = await nodes.create_node(
                session,
                admin,
                NodeCreate(
                    name="bench",
                    type="postgresql",
                    config={
                        "host": "127.0.0.1",
                        "port": pg.port,
                        "database": DATABASE,
                        "user": ROLE,
                        "sslmode": "disable",
                    },
                    secrets={"password": "env:BENCH_CRAWL_PASSWORD"},
                ),
            )
            node_id = node.id
        worker = CrawlWorker(
            app.state.sessionmaker,
            app.state.connector_runtime,
            poll_seconds=60,
            concurrency=1,
            lease_seconds=600,
        )
        source_url = f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{pg.port}/{DATABASE}"

        async def crawl_once() -> tuple[float, dict[str, Any]]:
            async with session_scope(app.state.sessionmaker) as session:
                await crawls.request_crawl(session, admin, node_id)
            start = time.perf_counter()
            statuses = await worker.run_once()
            took = time.perf_counter() - start
            async with session_scope(app.state.sessionmaker) as session:
                rows, _ = await crawls.list_crawls(session, admin, node_id, 1, None)
            assert statuses == ["succeeded"], (statuses, rows[0].errors[:3])
            return took, dict(rows[0].counts)

        base1, rows = await _baseline(source_url)
        rss_before = _max_rss_mb()
        first, first_counts = await crawl_once()
        rss_after = _max_rss_mb()
        base2, _ = await _baseline(source_url)
        again, again_counts = await crawl_once()
        base3, _ = await _baseline(source_url)
        baseline = min(base1, base2, base3)
        objects = TABLES + VIEWS
        return {
            "tables": TABLES,
            "views": VIEWS,
            "columns": TABLES * COLUMNS_PER_TABLE + VIEWS * 3,
            "baseline_information_schema_s": round(baseline, 3),
            "baseline_rows": rows,
            "first_crawl_s": round(first, 2),
            "first_crawl_counts": first_counts,
            "first_crawl_objects_per_s": round(objects / first, 1),
            "first_crawl_peak_rss_growth_mb": round(rss_after - rss_before, 1),
            "first_crawl_vs_baseline": round(first / baseline, 2),
            "recrawl_s": round(again, 2),
            "recrawl_counts": again_counts,
            "recrawl_vs_first": round(again / first, 3),
            "goals": {"crawl_vs_baseline": "<= 3", "recrawl_vs_first": "<= 0.5"},
        }


def main() -> None:
    save("crawl", asyncio.run(run()))


if __name__ == "__main__":
    main()
