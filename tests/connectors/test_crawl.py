"""Crawls of a real PostgreSQL node with password auth: tables, views, columns and view lineage
become datasets; re-crawls are safe; failures say why and change nothing; secrets never leak."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres
from tests.conftest import client_for, running_app
from tests.factories import Account, signed_in

PASSWORD = f"Crawl-{secrets.token_hex(8)}/+=@%"
PW_ENV = "DM_TEST_CRAWL_PASSWORD"
FINAL = ("succeeded", "partial", "failed")

SOURCE_SQL = """
CREATE TABLE public.customers (
    id serial PRIMARY KEY,
    name text NOT NULL,
    email varchar(200)
);
COMMENT ON TABLE public.customers IS 'People who buy';
COMMENT ON COLUMN public.customers.email IS 'Where receipts go';
CREATE TABLE public.orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES public.customers(id),
    amount numeric(10, 2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.events (id int, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 PARTITION OF public.events
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE VIEW public.customer_orders AS
    SELECT c.id AS customer_id, upper(c.name) AS customer, sum(o.amount) AS total
    FROM public.customers c JOIN public.orders o ON o.customer_id = c.id
    WHERE o.amount > 0 GROUP BY c.id, c.name;
CREATE MATERIALIZED VIEW public.big_orders AS
    SELECT o.id, o.amount FROM public.orders o WHERE o.amount > 100;
CREATE VIEW public.not_parsed AS
    SELECT t.id FROM public.customers t,
    LATERAL ROWS FROM (generate_series(1, t.id), generate_series(1, 2)) AS r(x, y);
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Select" ("Group" int, "Ünïcode col" text, "a""quote" text);
COMMENT ON COLUMN "Odd Schema"."Select"."Group" IS 'a reserved word';
CREATE VIEW "Odd Schema"."Weird View" AS
    SELECT s."Group" AS "The Group", s."a""quote" FROM "Odd Schema"."Select" s;
CREATE SCHEMA hidden;
CREATE TABLE hidden.secret_table (id int);
"""


def _grants(role: str) -> str:
    return f"""
GRANT USAGE ON SCHEMA public, "Odd Schema" TO {role};
GRANT SELECT ON ALL TABLES IN SCHEMA public, "Odd Schema" TO {role};
"""


class Source:
    def __init__(self, pg: EmbeddedPostgres, database: str, role: str, locked: str) -> None:
        self.pg = pg
        self.database = database
        self.role = role
        self.locked_database = locked

    def sql(self, text: str) -> None:
        self.pg.psql(text, database=self.database)

    def url(self) -> str:
        return self.pg.url(self.database, driver="postgresql")


@pytest.fixture(scope="module")
def source(pg: EmbeddedPostgres, worker_id_name: str) -> Iterator[Source]:
    suffix = worker_id_name.replace("-", "_")
    database, locked, role = f"evaldb_{suffix}", f"lockeddb_{suffix}", f"crawler_{suffix}"
    pg.drop_database(database)
    pg.drop_database(locked)
    pg.psql(f"DROP ROLE IF EXISTS {role}")
    pg.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD.replace(chr(39), chr(39) * 2)}'")
    pg.create_database(database)
    pg.create_database(locked)
    pg.psql(f"REVOKE CONNECT ON DATABASE {locked} FROM PUBLIC")
    src = Source(pg, database, role, locked)
    src.sql(SOURCE_SQL + _grants(role))
    yield src
    pg.drop_database(database)
    pg.drop_database(locked)
    pg.psql(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture
def crawl_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv(PW_ENV, PASSWORD)
    return settings.model_copy(
        update={"crawls_enabled": True, "crawl_poll_seconds": 0.2, "crawl_timeout_seconds": 30}
    )


@pytest.fixture
async def capp(crawl_settings: Settings, clean_db: None) -> AsyncIterator[FastAPI]:
    async with running_app(crawl_settings, migrate_on_start=False) as app:
        yield app


@pytest.fixture
async def cclient(capp: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(capp) as c:
        yield c


@pytest.fixture
async def admin(capp: FastAPI, cclient: httpx.AsyncClient) -> Account:
    return await signed_in(capp, cclient, "admin@acme.test", role="admin")


def node_body(src: Source, **config: Any) -> dict[str, Any]:
    return {
        "name": f"warehouse-{uuid.uuid4().hex[:6]}",
        "type": "postgresql",
        "config": {
            "host": "127.0.0.1",
            "port": src.pg.port,
            "database": src.database,
            "user": src.role,
            "sslmode": "disable",
            **config,
        },
        "secrets": {"password": f"env:{PW_ENV}"},
    }


async def create_node(client: httpx.AsyncClient, who: Account, body: dict[str, Any]) -> str:
    r = await client.post("/api/nodes", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def crawl(client: httpx.AsyncClient, who: Account, node_id: str) -> dict[str, Any]:
    """Ask for a crawl and wait for the background worker to finish it."""
    r = await client.post(f"/api/nodes/{node_id}/crawl", headers=who.headers)
    assert r.status_code == 202, r.text
    crawl_id = r.json()["id"]
    assert r.json()["status"] in ("queued", "running")
    for _ in range(3000):  # a cap against a hang, not a timing goal
        r = await client.get(f"/api/nodes/{node_id}/crawls/{crawl_id}", headers=who.headers)
        body: dict[str, Any] = r.json()
        if body["status"] in FINAL:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"crawl never finished: {body}")


async def dataset(client: httpx.AsyncClient, who: Account, namespace: str, name: str) -> Any:
    r = await client.get(
        "/api/lineage/graph",
        params={"node": f"dataset:{namespace}:{name}", "depth": 1},
        headers=who.headers,
    )
    assert r.status_code == 200, r.text
    ds_id = next(n["id"] for n in r.json()["nodes"] if n.get("name") == name)
    r = await client.get(f"/api/datasets/{ds_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def events_of(raw_conn: asyncpg.Connection, kind: str) -> list[Any]:
    return list(await raw_conn.fetch("SELECT * FROM events WHERE type = $1 ORDER BY seq", kind))


async def test_crawl_makes_datasets_with_columns_keys_and_view_lineage(
    cclient: httpx.AsyncClient, admin: Account, source: Source, raw_conn: asyncpg.Connection
) -> None:
    node_id = await create_node(cclient, admin, node_body(source))
    result = await crawl(cclient, admin, node_id)
    ns, db = f"postgres://127.0.0.1:{source.pg.port}", source.database

    assert result["status"] == "succeeded", result
    # customers, orders, events (parent only), 2 views, 1 matview, "Select", "Weird View"
    assert result["counts"] == {"created": 8, "updated": 0, "unchanged": 0, "removed": 0}
    parse_errors = [e for e in result["errors"] if e["kind"] == "parse"]
    assert [e["object"] for e in parse_errors] == [f"{db}.public.not_parsed"]

    odd = await dataset(cclient, admin, ns, f"{db}.Odd Schema.Select")
    assert odd["platform"] == "postgresql" and odd["kind"] == "table"
    assert [f["name"] for f in odd["fields"]] == ["Group", "Ünïcode col", 'a"quote']
    assert odd["fields"][0]["description"] == "a reserved word"

    customers = await dataset(cclient, admin, ns, f"{db}.public.customers")
    assert customers["description"] == "People who buy"
    assert customers["properties"]["primary_key"] == ["id"]
    email = next(f for f in customers["fields"] if f["name"] == "email")
    assert email["type"] == "character varying(200)" and email["nullable"] is True
    assert email["description"] == "Where receipts go"
    orders = await dataset(cclient, admin, ns, f"{db}.public.orders")
    assert orders["properties"]["foreign_keys"][0]["ref_table"] == "customers"
    assert next(f for f in orders["fields"] if f["name"] == "created_at")["default"] == "now()"
    events_parent = await dataset(cclient, admin, ns, f"{db}.public.events")
    assert events_parent["kind"] == "partitioned_table"
    r = await cclient.get("/api/datasets", params={"query": "events_2024"}, headers=admin.headers)
    assert all("events_2024" not in i["name"] for i in r.json()["items"]), "partitions skipped"
    r = await cclient.get("/api/datasets", params={"query": "secret_table"}, headers=admin.headers)
    assert r.json()["items"] == [], "a schema the user may not read is not crawled"

    # Table-level lineage through a process of kind view; column lineage with transformations.
    view = await dataset(cclient, admin, ns, f"{db}.public.customer_orders")
    assert view["kind"] == "view"
    r = await cclient.get(
        "/api/lineage/graph",
        params={"node": view["id"], "direction": "upstream", "depth": 2},
        headers=admin.headers,
    )
    names = {n.get("name") for n in r.json()["nodes"]}
    assert {f"{db}.public.customers", f"{db}.public.orders"} <= names
    proc = await raw_conn.fetchrow(
        "SELECT type, sql FROM processes WHERE name = $1", f"{db}.public.customer_orders"
    )
    assert proc["type"] == "view" and "sum(o.amount)" in proc["sql"]
    r = await cclient.get(f"/api/lineage/assets/{view['id']}/columns", headers=admin.headers)
    assert r.status_code == 200, r.text
    edges = {(e["output_field"], e["input_field"], e["transformation_subtype"]) for e in r.json()}
    assert ("total", "amount", "AGGREGATION") in edges
    assert ("customer", "name", "TRANSFORMATION") in edges
    assert ("customer_id", "id", "IDENTITY") in edges
    weird = await dataset(cclient, admin, ns, f"{db}.Odd Schema.Weird View")
    r = await cclient.get(f"/api/lineage/assets/{weird['id']}/columns", headers=admin.headers)
    assert ("The Group", "Group") in {(e["output_field"], e["input_field"]) for e in r.json()}

    # The same dataset named by OpenLineage later is the same row.
    r = await cclient.post(
        "/api/v1/lineage",
        json={
            "eventType": "COMPLETE",
            "eventTime": "2026-01-01T00:00:00Z",
            "producer": "https://example.test/tests",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
            "run": {"runId": str(uuid.uuid4())},
            "job": {"namespace": "airflow", "name": "load_orders"},
            "outputs": [{"namespace": ns, "name": f"{db}.public.orders"}],
            "inputs": [],
        },
        headers=admin.headers,
    )
    assert r.status_code in (200, 201), r.text
    count = await raw_conn.fetchval(
        "SELECT count(*) FROM datasets WHERE namespace = $1 AND name = $2",
        ns,
        f"{db}.public.orders",
    )
    assert count == 1

    r = await cclient.get("/api/nodes", headers=admin.headers)
    [listed] = [n for n in r.json()["items"] if n["id"] == node_id]
    assert listed["last_crawl"]["status"] == "succeeded"
    assert listed["last_crawl"]["counts"]["created"] == 8 and listed["last_crawl"]["errors"] == 1

    # The node's password is nowhere in what the crawl wrote.
    for table in ("node_crawls", "events", "audit_log", "datasets", "processes"):
        dump = await raw_conn.fetchval(
            f"SELECT coalesce(string_agg(t::text, ''), '') FROM {table} t"
        )
        assert PASSWORD not in dump, table


async def test_recrawl_is_safe_schema_changes_removal_and_restore(
    cclient: httpx.AsyncClient, admin: Account, source: Source, raw_conn: asyncpg.Connection
) -> None:
    source.sql("CREATE TABLE public.scratch (a int, b varchar(50), c text)")
    source.sql(f"GRANT SELECT ON public.scratch TO {source.role}")
    source.sql("CREATE VIEW public.scratch_view AS SELECT s.a, s.b FROM public.scratch s")
    try:
        node_id = await create_node(cclient, admin, node_body(source))
        first = await crawl(cclient, admin, node_id)
        assert first["status"] == "succeeded"
        ns, db = f"postgres://127.0.0.1:{source.pg.port}", source.database
        scratch = await dataset(cclient, admin, ns, f"{db}.public.scratch")
        r = await cclient.patch(
            f"/api/datasets/{scratch['id']}",
            json={"description": "Written by a person"},
            headers={**admin.headers, "If-Match": f'W/"{scratch["id"]}:{scratch["version"]}"'},
        )
        assert r.status_code == 200, r.text

        seq = await raw_conn.fetchval("SELECT coalesce(max(seq), 0) FROM events")
        audits = "SELECT count(*) FROM audit_log WHERE action <> 'node.crawl_request'"
        audited = await raw_conn.fetchval(audits)
        again = await crawl(cclient, admin, node_id)
        assert again["status"] == "succeeded"
        assert again["counts"]["created"] == 0 and again["counts"]["updated"] == 0
        assert again["counts"]["unchanged"] == first["counts"]["created"]
        assert await raw_conn.fetchval("SELECT count(*) FROM events WHERE seq > $1", seq) == 0
        assert await raw_conn.fetchval(audits) == audited, "only the request is audited"

        # A narrowed column and a dropped one: a breaking change with its downstream count.
        source.sql("DROP VIEW public.scratch_view")
        source.sql("ALTER TABLE public.scratch DROP COLUMN c, ALTER COLUMN b TYPE varchar(10)")
        source.sql("CREATE VIEW public.scratch_view AS SELECT s.a, s.b FROM public.scratch s")
        changed = await crawl(cclient, admin, node_id)
        assert changed["counts"]["updated"] >= 1
        ev = [
            e
            for e in await events_of(raw_conn, "dataset.schema_changed")
            if e["subject_id"] == scratch["id"]
        ]
        assert len(ev) == 1
        payload = ev[0]["payload"]
        payload = payload if isinstance(payload, dict) else __import__("json").loads(payload)
        assert payload["breaking"] is True and payload["dropped"] == ["c"]
        assert payload["type_changed"] == [
            {"name": "b", "before": "character varying(50)", "after": "character varying(10)"}
        ]
        assert payload["downstream_count"] == 1  # the view over it
        after = await dataset(cclient, admin, ns, f"{db}.public.scratch")
        assert after["description"] == "Written by a person", "a person's text is kept"
        r = await cclient.get(
            f"/api/datasets/{scratch['id']}/schema/versions", headers=admin.headers
        )
        versions = r.json()["items"]
        assert [v["version"] for v in versions] == [2, 1]
        assert versions[0]["breaking"] is True

        # Gone from a complete crawl: removed (hidden from search, kept); back: restored.
        source.sql("DROP VIEW public.scratch_view")
        source.sql("DROP TABLE public.scratch")
        gone = await crawl(cclient, admin, node_id)
        assert gone["status"] == "succeeded" and gone["counts"]["removed"] == 2
        assert (await dataset(cclient, admin, ns, f"{db}.public.scratch"))["status"] == "removed"
        r = await cclient.get("/api/datasets", params={"query": "scratch"}, headers=admin.headers)
        assert r.json()["items"] == []
        source.sql("CREATE TABLE public.scratch (a int)")
        source.sql(f"GRANT SELECT ON public.scratch TO {source.role}")
        back = await crawl(cclient, admin, node_id)
        assert back["counts"]["removed"] == 0
        restored = await dataset(cclient, admin, ns, f"{db}.public.scratch")
        assert restored["status"] == "active" and restored["id"] == scratch["id"]
    finally:
        source.sql("DROP VIEW IF EXISTS public.scratch_view; DROP TABLE IF EXISTS public.scratch")


async def test_recrawl_writes_only_the_changed_table(
    cclient: httpx.AsyncClient, admin: Account, source: Source, raw_conn: asyncpg.Connection
) -> None:
    """The unlocked pre-compare lets unchanged rows through untouched: one changed table among
    unchanged ones gets the only event, audit entry and version bump."""
    source.sql("CREATE TABLE public.steady (a int); CREATE TABLE public.moving (a int)")
    source.sql(f"GRANT SELECT ON public.steady, public.moving TO {source.role}")
    try:
        node_id = await create_node(cclient, admin, node_body(source))
        first = await crawl(cclient, admin, node_id)
        assert first["status"] == "succeeded"
        ns, db = f"postgres://127.0.0.1:{source.pg.port}", source.database
        steady = await dataset(cclient, admin, ns, f"{db}.public.steady")
        moving = await dataset(cclient, admin, ns, f"{db}.public.moving")
        seq = await raw_conn.fetchval("SELECT coalesce(max(seq), 0) FROM events")
        audits = (
            "SELECT target_id, count(*) AS n FROM audit_log "
            "WHERE action = 'dataset.update' GROUP BY target_id"
        )
        before = {r["target_id"]: r["n"] for r in await raw_conn.fetch(audits)}

        source.sql("ALTER TABLE public.moving ADD COLUMN b text")
        again = await crawl(cclient, admin, node_id)
        assert again["status"] == "succeeded"
        assert again["counts"]["updated"] == 1
        assert again["counts"]["unchanged"] == first["counts"]["created"] - 1
        written = await raw_conn.fetch(
            "SELECT type, subject_id FROM events WHERE seq > $1 AND subject_kind = 'dataset'",
            seq,
        )
        assert {e["subject_id"] for e in written} == {moving["id"]}
        assert sorted(e["type"] for e in written) == [
            "dataset.schema_changed",
            "dataset.updated",
        ]
        after = {r["target_id"]: r["n"] for r in await raw_conn.fetch(audits)}
        grown = {k for k, n in after.items() if n != before.get(k, 0)}
        assert grown == {moving["id"]}
        assert after[moving["id"]] == before.get(moving["id"], 0) + 1
        assert (await dataset(cclient, admin, ns, f"{db}.public.steady"))["version"] == steady[
            "version"
        ]
        assert (await dataset(cclient, admin, ns, f"{db}.public.moving"))["version"] == moving[
            "version"
        ] + 1
    finally:
        source.sql("DROP TABLE IF EXISTS public.steady; DROP TABLE IF EXISTS public.moving")


async def test_partial_crawl_removes_nothing(
    crawl_settings: Settings, clean_db: None, source: Source, raw_conn: asyncpg.Connection
) -> None:
    source.sql("CREATE SCHEMA slow; CREATE TABLE slow.t1 (a int); CREATE TABLE slow.t2 (a int)")
    source.sql(f"GRANT USAGE ON SCHEMA slow TO {source.role}")
    short = crawl_settings.model_copy(update={"crawl_timeout_seconds": 3})
    try:
        async with running_app(short, migrate_on_start=False) as app, client_for(app) as client:
            admin = await signed_in(app, client, "admin@acme.test", role="admin")
            node_id = await create_node(client, admin, node_body(source))
            assert (await crawl(client, admin, node_id))["status"] == "succeeded"
            source.sql("DROP TABLE slow.t2")
            # A long-held lock on the catalog (as a long DDL would hold): reads time out.
            holder = await asyncpg.connect(source.url())
            try:
                tx = holder.transaction()
                await tx.start()
                await holder.execute(
                    "LOCK TABLE pg_catalog.pg_description IN ACCESS EXCLUSIVE MODE"
                )
                result = await crawl(client, admin, node_id)
                await tx.rollback()
            finally:
                await holder.close()
            assert result["status"] == "partial", result
            assert result["counts"]["removed"] == 0
            assert any(
                e["kind"] == "read" and e["object"].endswith(".slow") for e in result["errors"]
            )
            status = await raw_conn.fetchval(
                "SELECT status FROM datasets WHERE name = $1", f"{source.database}.slow.t2"
            )
            assert status == "active", "a partial crawl never marks anything removed"
    finally:
        source.sql("DROP SCHEMA slow CASCADE")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"secret": "env:DM_TEST_CRAWL_WRONG"}, "password authentication failed"),
        ({"port": 1}, "connection refused"),
        ({"database": "LOCKED"}, "permission denied for database"),
    ],
)
async def test_failed_crawls_say_why_and_change_nothing(
    cclient: httpx.AsyncClient,
    admin: Account,
    source: Source,
    raw_conn: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    expected: str,
) -> None:
    wrong = f"Wrong-{secrets.token_hex(6)}"
    monkeypatch.setenv("DM_TEST_CRAWL_WRONG", wrong)
    node_id = await create_node(cclient, admin, node_body(source))
    assert (await crawl(cclient, admin, node_id))["status"] == "succeeded"
    before = await raw_conn.fetch("SELECT id, status, version FROM datasets ORDER BY id")
    patch: dict[str, Any] = {}
    if "secret" in change:
        patch["secrets"] = {"password": change["secret"]}
    if "port" in change:
        patch["config"] = {"port": change["port"]}
    if "database" in change:
        patch["config"] = {"database": source.locked_database}
    r = await cclient.patch(f"/api/nodes/{node_id}", json=patch, headers=admin.headers)
    assert r.status_code == 200, r.text
    result = await crawl(cclient, admin, node_id)
    assert result["status"] == "failed"
    assert result["counts"] == {"created": 0, "updated": 0, "unchanged": 0, "removed": 0}
    assert expected in result["errors"][0]["message"].lower(), result
    assert await raw_conn.fetch("SELECT id, status, version FROM datasets ORDER BY id") == before
    dump = await raw_conn.fetchval("SELECT string_agg(t::text, '') FROM node_crawls t")
    assert PASSWORD not in dump and wrong not in dump


async def test_who_may_crawl(
    cclient: httpx.AsyncClient, capp: FastAPI, admin: Account, source: Source
) -> None:
    node_id = await create_node(cclient, admin, node_body(source))
    viewer = await signed_in(capp, cclient, "viewer@acme.test", role="viewer")
    r = await cclient.post(f"/api/nodes/{node_id}/crawl", headers=viewer.headers)
    assert r.status_code == 403
    outsider = await signed_in(capp, cclient, "admin@globex.test", role="admin", org="Globex")
    r = await cclient.post(f"/api/nodes/{node_id}/crawl", headers=outsider.headers)
    assert r.status_code == 404
    r = await cclient.post(
        "/api/nodes",
        json={"name": "api", "type": "http_api", "config": {"url": "http://127.0.0.1:9/"}},
        headers=admin.headers,
    )
    r = await cclient.post(f"/api/nodes/{r.json()['id']}/crawl", headers=admin.headers)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    steward = await signed_in(capp, cclient, "steward@acme.test", role="steward")
    first = await cclient.post(f"/api/nodes/{node_id}/crawl", headers=steward.headers)
    second = await cclient.post(f"/api/nodes/{node_id}/crawl", headers=steward.headers)
    assert first.status_code == second.status_code == 202
    if second.json()["status"] in ("queued", "running"):
        assert second.json()["id"] == first.json()["id"], "one crawl at a time per node"


async def test_schedule_queues_crawls_and_a_dead_workers_crawl_is_taken_over(
    crawl_settings: Settings, clean_db: None, source: Source, raw_conn: asyncpg.Connection
) -> None:
    """No background worker here: the test plays two workers with their own leases."""
    from datamesh.connectors import crawls as crawl_service
    from datamesh.connectors.crawl_worker import CrawlWorker
    from datamesh.db import session_scope

    quiet = crawl_settings.model_copy(update={"crawls_enabled": False})
    async with running_app(quiet, migrate_on_start=False) as app, client_for(app) as client:
        admin = await signed_in(app, client, "admin@acme.test", role="admin")
        body = {**node_body(source), "crawl_interval_minutes": 60}
        node_id = await create_node(client, admin, body)
        r = await client.get(f"/api/nodes/{node_id}", headers=admin.headers)
        assert r.json()["crawl_interval_minutes"] == 60

        def worker() -> CrawlWorker:
            return CrawlWorker(
                app.state.sessionmaker,
                app.state.connector_runtime,
                poll_seconds=60,
                concurrency=1,
                lease_seconds=60,
            )

        # The schedule queues one crawl (and the next one an interval later).
        async with session_scope(app.state.sessionmaker) as session:
            assert await crawl_service.queue_due(session, 10) == 1
        async with session_scope(app.state.sessionmaker) as session:
            assert await crawl_service.queue_due(session, 10) == 0, "not due again yet"
        # Worker 1 claims it, then dies without a word: its lease runs out.
        async with session_scope(app.state.sessionmaker) as session:
            [(crawl_id, attempt)] = await crawl_service.claim(session, 1, 60, [])
        await raw_conn.execute(
            "UPDATE node_crawls SET lease_until = now() - interval '1 second' WHERE id = $1",
            crawl_id,
        )
        # Worker 2 takes it over and finishes it; the dead attempt can no longer write.
        assert await worker().run_once() == ["succeeded"]
        dead = await crawl_service.run(
            app.state.sessionmaker, app.state.connector_runtime, crawl_id, attempt, lease_seconds=60
        )
        assert dead is None
        r = await client.get(f"/api/nodes/{node_id}/crawls", headers=admin.headers)
        [only] = r.json()["items"]
        assert only["id"] == str(crawl_id) and only["status"] == "succeeded"
        assert only["trigger"] == "schedule" and only["requested_by"] == "schedule"
        assert only["counts"]["created"] > 0
