"""dbt import from a REAL dbt project: dbt-core + dbt-postgres build it into a real PostgreSQL
(password auth) in a fixture, and DataMesh reads the artifacts dbt wrote."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from datamesh.cli import app as cli_app
from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres
from tests.conftest import client_for, running_app
from tests.factories import Account, make_user, signed_in

PASSWORD = f"Dbt-{secrets.token_hex(8)}"

PROJECT: dict[str, str] = {
    "dbt_project.yml": """
name: shop
version: "1.0.0"
profile: shop
model-paths: ["models"]
seed-paths: ["seeds"]
""",
    "seeds/regions.csv": "region_id,region_name\n1,North\n2,South\n",
    "models/sources.yml": """
version: 2
sources:
  - name: raw
    schema: raw
    tables:
      - name: orders
        description: Orders as the shop writes them
        columns:
          - name: id
            description: Order id
""",
    "models/stg_orders.sql": (
        "select id, customer_id, amount, region_id from {{ source('raw', 'orders') }} "
        "where amount > 0\n"
    ),
    "models/customer_totals.sql": """
select o.customer_id, r.region_name, sum(o.amount) as total
from {{ ref('stg_orders') }} o join {{ ref('regions') }} r on r.region_id = o.region_id
group by 1, 2
""",
    "models/broken.sql": "select no_such_column from {{ ref('stg_orders') }}\n",
    "models/schema.yml": """
version: 2
models:
  - name: customer_totals
    description: Money per customer
    meta:
      owner: producer@acme.test
    config:
      tags: [finance]
    columns:
      - name: total
        description: Sum of amounts
""",
}


@dataclass(frozen=True)
class DbtBuild:
    target: Path
    database: str
    port: int

    @property
    def namespace(self) -> str:
        return f"postgres://127.0.0.1:{self.port}"

    def artifact(self, name: str) -> bytes:
        return (self.target / f"{name}.json").read_bytes()


@pytest.fixture(scope="module")
def dbt_build(pg: EmbeddedPostgres, worker_id_name: str) -> Iterator[DbtBuild]:
    suffix = worker_id_name.replace("-", "_")
    database, role = f"shopdb_{suffix}", f"dbt_{suffix}"
    pg.drop_database(database)
    pg.psql(f"DROP ROLE IF EXISTS {role}")
    pg.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    pg.create_database(database)
    pg.psql(f"ALTER DATABASE {database} OWNER TO {role}")
    pg.psql(
        f"CREATE SCHEMA raw AUTHORIZATION {role}; SET ROLE {role}; "
        "CREATE TABLE raw.orders (id int, customer_id int, amount numeric, region_id int)",
        database=database,
    )
    root = Path(tempfile.mkdtemp(prefix="datamesh-dbt-"))
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "profiles.yml").write_text(
        f"""shop:
  target: dev
  outputs:
    dev:
      type: postgres
      host: 127.0.0.1
      port: {pg.port}
      user: {role}
      password: "{{{{ env_var('DBT_TEST_PASSWORD') }}}}"
      dbname: {database}
      schema: analytics
      threads: 1
"""
    )
    env = {
        **os.environ,
        "DBT_TEST_PASSWORD": PASSWORD,
        "DBT_PROFILES_DIR": str(root),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = str(Path(sys.executable).parent / "dbt")
    try:
        build = subprocess.run(
            [dbt, "build"], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        assert build.returncode == 1, build.stdout[-3000:]  # the broken model fails, as meant
        assert "PASS=3" in build.stdout and "ERROR=1" in build.stdout, build.stdout[-3000:]
        # `docs generate` writes catalog.json and its own run_results.json: keep the build's.
        shutil.copy(root / "target/run_results.json", root / "build_results.json")
        docs = subprocess.run(
            [dbt, "docs", "generate"], cwd=root, env=env, capture_output=True, text=True
        )
        assert docs.returncode == 0, docs.stdout[-3000:]
        shutil.copy(root / "build_results.json", root / "target/run_results.json")
        yield DbtBuild(root / "target", database, pg.port)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        pg.drop_database(database)
        pg.psql(f"DROP ROLE IF EXISTS {role}")


def _cli(args: list[str], env: dict[str, str]) -> Any:
    from datamesh.config import get_settings

    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli_app, args, env=env)
    finally:
        get_settings.cache_clear()


async def _count(raw_conn: asyncpg.Connection, table: str) -> int:
    return int(await raw_conn.fetchval(f"SELECT count(*) FROM {table}"))


async def test_cli_imports_a_real_dbt_project(
    app: FastAPI,
    dbt_build: DbtBuild,
    pg: EmbeddedPostgres,
    db_name: str,
    raw_conn: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    producer = await make_user(app, "producer@acme.test", role="producer")
    env = {
        "DATABASE_URL": pg.url(db_name, driver="postgresql"),
        "DATAMESH_DATA_DIR": str(tmp_path),
    }
    args = ["dbt", "import", str(dbt_build.target), "--org", "Acme"]
    args += ["--namespace", dbt_build.namespace]
    result = await asyncio.to_thread(_cli, args, env)
    assert result.exit_code == 0, result.output
    assert "5 datasets (5 new" in result.output, result.output

    db = dbt_build.database
    rows = {
        r["name"]: r
        for r in await raw_conn.fetch(
            "SELECT * FROM datasets WHERE namespace = $1", dbt_build.namespace
        )
    }
    assert set(rows) == {
        f"{db}.analytics.customer_totals",
        f"{db}.analytics.stg_orders",
        f"{db}.analytics.broken",
        f"{db}.analytics.regions",
        f"{db}.raw.orders",
    }
    totals = rows[f"{db}.analytics.customer_totals"]
    assert totals["description"] == "Money per customer"
    assert totals["tags"] == ["finance"]
    fields = json.loads(totals["fields"]) if isinstance(totals["fields"], str) else totals["fields"]
    assert {f["name"]: f["description"] for f in fields}["total"] == "Sum of amounts"
    assert {f["name"]: f["type"] for f in fields}["total"] == "numeric", "types from catalog.json"
    owners = await raw_conn.fetch(
        "SELECT user_id FROM dataset_owners WHERE dataset_id = $1", totals["id"]
    )
    assert [str(o["user_id"]) for o in owners] == [producer.id]
    assert rows[f"{db}.raw.orders"]["description"] == "Orders as the shop writes them"

    proc = await raw_conn.fetchrow(
        "SELECT * FROM processes WHERE namespace = 'dbt' AND name = 'model.shop.customer_totals'"
    )
    assert proc is not None and proc["type"] == "dbt"
    inputs = {
        r["name"]
        for r in await raw_conn.fetch(
            "SELECT d.name FROM lineage_edges e JOIN datasets d ON d.id = e.src_id "
            "WHERE e.dst_id = $1",
            proc["id"],
        )
    }
    assert inputs == {f"{db}.analytics.stg_orders", f"{db}.analytics.regions"}
    col = await raw_conn.fetch(
        "SELECT c.output_field, d.name, c.input_field, c.transformation_subtype "
        "FROM column_edges c JOIN datasets d ON d.id = c.input_dataset_id "
        "WHERE c.output_dataset_id = $1 AND c.output_field <> ''",
        totals["id"],
    )
    assert ("total", f"{db}.analytics.stg_orders", "amount", "AGGREGATION") in {
        tuple(r) for r in col
    }

    # run_results: the failed model raises the run-failure event with its impact.
    failed = await raw_conn.fetch("SELECT payload FROM events WHERE type = 'process.run_failed'")
    assert len(failed) == 1
    payload = failed[0]["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload["process_name"] == "model.shop.broken"

    # The same artifacts again write nothing new.
    counts = {t: await _count(raw_conn, t) for t in ("events", "audit_log", "runs", "datasets")}
    again = await asyncio.to_thread(_cli, args, env)
    assert again.exit_code == 0, again.output
    assert "0 new, 0 updated, 5 unchanged" in again.output
    assert {t: await _count(raw_conn, t) for t in counts} == counts


async def test_api_import_reuses_crawled_rows_and_rejects_bad_artifacts(
    app: FastAPI, client: httpx.AsyncClient, dbt_build: DbtBuild, raw_conn: asyncpg.Connection
) -> None:
    producer: Account = await signed_in(app, client, "producer@acme.test", role="producer")
    ns = dbt_build.namespace
    # A table OpenLineage (or a crawl) already named is the row dbt describes.
    r = await client.post(
        "/api/lineage/assets",
        json={
            "namespace": ns,
            "name": f"{dbt_build.database}.raw.orders",
            "platform": "postgresql",
        },
        headers=producer.headers,
    )
    assert r.status_code == 201, r.text
    files = {
        "manifest": ("manifest.json", dbt_build.artifact("manifest")),
        "catalog": ("catalog.json", dbt_build.artifact("catalog")),
        "run_results": ("run_results.json", dbt_build.artifact("run_results")),
    }
    r = await client.post(
        "/api/dbt/import", files=files, data={"namespace": ns}, headers=producer.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["datasets"] == 5 and r.json()["created"] == 4 and r.json()["processes"] == 3
    count = await raw_conn.fetchval(
        "SELECT count(*) FROM datasets WHERE name = $1", f"{dbt_build.database}.raw.orders"
    )
    assert count == 1

    truncated = dbt_build.artifact("manifest")[:500]
    r = await client.post(
        "/api/dbt/import",
        files={"manifest": ("manifest.json", truncated)},
        data={"namespace": ns},
        headers=producer.headers,
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "not valid JSON" in r.json()["detail"]
    old = json.loads(dbt_build.artifact("manifest"))
    old["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v9.json"
    r = await client.post(
        "/api/dbt/import",
        files={"manifest": ("manifest.json", json.dumps(old).encode())},
        data={"namespace": ns},
        headers=producer.headers,
    )
    assert r.status_code == 422 and "v9" in r.json()["detail"]
    viewer = await signed_in(app, client, "viewer@acme.test", role="viewer")
    r = await client.post(
        "/api/dbt/import", files=files, data={"namespace": ns}, headers=viewer.headers
    )
    assert r.status_code == 403


@pytest.fixture
async def crawling_app(settings: Settings, clean_db: None) -> AsyncIterator[FastAPI]:
    on = settings.model_copy(update={"crawls_enabled": True, "crawl_poll_seconds": 0.2})
    async with running_app(on, migrate_on_start=False) as app:
        yield app


async def test_crawl_and_dbt_describe_the_same_rows_without_undoing_each_other(
    crawling_app: FastAPI,
    dbt_build: DbtBuild,
    raw_conn: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DM_TEST_DBT_PASSWORD", PASSWORD)
    async with client_for(crawling_app) as client:
        await _crawl_and_import(crawling_app, client, dbt_build, raw_conn)


async def _crawl_and_import(
    app: FastAPI, client: httpx.AsyncClient, dbt_build: DbtBuild, raw_conn: asyncpg.Connection
) -> None:
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    role = "dbt_" + dbt_build.database.removeprefix("shopdb_")
    r = await client.post(
        "/api/nodes",
        json={
            "name": "shop",
            "type": "postgresql",
            "config": {
                "host": "127.0.0.1",
                "port": dbt_build.port,
                "database": dbt_build.database,
                "user": role,
                "sslmode": "disable",
            },
            "secrets": {"password": "env:DM_TEST_DBT_PASSWORD"},
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    node_id = r.json()["id"]

    async def crawl() -> dict[str, Any]:
        r = await client.post(f"/api/nodes/{node_id}/crawl", headers=admin.headers)
        assert r.status_code == 202, r.text
        for _ in range(3000):  # a cap against a hang, not a timing goal
            body: dict[str, Any] = (
                await client.get(
                    f"/api/nodes/{node_id}/crawls/{r.json()['id']}", headers=admin.headers
                )
            ).json()
            if body["status"] not in ("queued", "running"):
                return body
            await asyncio.sleep(0.1)
        raise AssertionError(body)

    async def dbt_import() -> dict[str, Any]:
        files = {
            "manifest": ("manifest.json", dbt_build.artifact("manifest")),
            "catalog": ("catalog.json", dbt_build.artifact("catalog")),
        }
        r = await client.post(
            "/api/dbt/import",
            files=files,
            data={"namespace": dbt_build.namespace},
            headers=admin.headers,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    first = await crawl()
    assert first["status"] == "succeeded", first
    crawled = await _count(raw_conn, "datasets")
    imported = await dbt_import()
    assert imported["created"] == 1, "only the failed model's view is missing from the database"
    assert await _count(raw_conn, "datasets") == crawled + 1
    name = f"{dbt_build.database}.analytics.customer_totals"
    row = await raw_conn.fetchrow("SELECT description, kind FROM datasets WHERE name = $1", name)
    assert row["description"] == "Money per customer" and row["kind"] == "view"
    # Each source again: nothing changes (neither undoes what the other said).
    again = await crawl()
    assert again["counts"]["updated"] == 0 and again["counts"]["created"] == 0, again
    assert (await dbt_import())["updated"] == 0
    assert (await crawl())["counts"]["updated"] == 0
