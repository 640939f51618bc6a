"""Crawl of a generated PostgreSQL database: 5,000 tables, 500 views, 60,000 columns (over ten
schemas), reached over TCP with password auth like any node.

Measured side by side in the same run:
- baseline: a plain ``SELECT`` of the same catalog rows from ``information_schema`` (tables with
  their type, columns with type/nullability/default/comment-free, view definitions) on a
  connection of the same kind;
- the first crawl (read + write: datasets, fields, view lineage, audit entries and events), as
  tables per second and the process's peak memory growth; goal: <= 3x the baseline;
- a no-change re-crawl; goal: <= 0.5x the first crawl.

``BENCH_CRAWL_SCALE`` (default 1.0) shrinks the database for a quick look;
``BENCH_CRAWL_PHASES=1`` adds the wall time of each phase of both crawls (the read, view SQL
lineage, name resolution, writing, commit, garbage collection) to the figures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import os
import resource
import time
import uuid
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import bench_app, save
from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.connectors import crawls, registry
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


class _Phases:
    """Wall time per phase of a crawl, by wrapping the functions a crawl calls (bench only)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._gc_start = 0.0

    def add(self, name: str, seconds: float) -> None:
        self.times[name] = self.times.get(name, 0.0) + seconds

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        original = getattr(owner, attr)
        add = self.add
        if asyncio.iscoroutinefunction(original):

            @functools.wraps(original)
            async def timed_async(*args: Any, **kw: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await original(*args, **kw)
                finally:
                    add(name, time.perf_counter() - start)

            setattr(owner, attr, timed_async)
        else:

            @functools.wraps(original)
            def timed(*args: Any, **kw: Any) -> Any:
                start = time.perf_counter()
                try:
                    return original(*args, **kw)
                finally:
                    add(name, time.perf_counter() - start)

            setattr(owner, attr, timed)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.add(f"gc (generation {info['generation']})", time.perf_counter() - self._gc_start)
            self.add(f"gc (generation {info['generation']}) count", 1)

    def install(self) -> None:
        get = registry.get

        def timed_get(type_id: str) -> Any:
            ctype = get(type_id)
            if ctype.crawler is None:
                return ctype
            crawler = ctype.crawler

            async def read(*args: Any, **kw: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await crawler(*args, **kw)
                finally:
                    self.add("read the source", time.perf_counter() - start)

            return dataclasses.replace(ctype, crawler=read)

        registry.get = timed_get  # type: ignore[assignment]
        self.wrap(crawls, "_view_lineage", "view SQL lineage")
        self.wrap(crawls.lineage, "derived_sql", "stored view SQL")
        self.wrap(crawls.lineage_ingest, "resolve_datasets", "name resolution")
        self.wrap(crawls.lineage, "apply_derived", "view edges")
        self.wrap(catalog, "_first_sight", "write: new datasets")
        self.wrap(catalog, "apply_observations", "write: all datasets (incl. new)")
        self.wrap(catalog, "mark_removed", "mark removed")
        self.wrap(catalog.repo, "insert_named", "  insert of new rows (in name resolution)")
        self.wrap(catalog.repo, "fill_created", "  content of new rows (UPDATE)")
        self.wrap(catalog.repo, "add_schema_versions", "  schema versions")
        self.wrap(catalog.audit, "record_many", "  audit entries (pending)")
        self.wrap(catalog.events, "emit_many", "  events")
        self.wrap(AsyncSession, "commit", "commit (audit chain and its insert)")
        self.wrap(crawls, "apply", "apply (all writing)")
        self.wrap(crawls, "_close", "close the crawl")
        self.wrap(crawls, "_run", "crawl end to end (incl. commit)")
        gc.callbacks.append(self._gc)

    def take(self) -> dict[str, float]:
        out = {k: round(v, 3) for k, v in sorted(self.times.items(), key=lambda kv: -kv[1])}
        self.times = {}
        return out


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
    phases = _Phases() if os.environ.get("BENCH_CRAWL_PHASES") == "1" else None
    if phases is not None:
        phases.install()
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
        first_phases = phases.take() if phases else None
        rss_after = _max_rss_mb()
        base2, _ = await _baseline(source_url)
        again, again_counts = await crawl_once()
        again_phases = phases.take() if phases else None
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
            **({"phases": {"first": first_phases, "recrawl": again_phases}} if phases else {}),
        }


def main() -> None:
    save("crawl", asyncio.run(run()))


if __name__ == "__main__":
    main()
