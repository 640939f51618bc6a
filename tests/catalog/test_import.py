"""Bulk import: JSON Lines and CSV, upserting by namespace + name; bad lines reported."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
from typer.testing import CliRunner

from datamesh.cli import app as cli
from datamesh.config import get_settings


def _invoke(args: list[str], db_url: str, data_dir: Path):
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(
            cli, args, env={"DATABASE_URL": db_url, "DATAMESH_DATA_DIR": str(data_dir)}
        )
    finally:
        get_settings.cache_clear()


async def test_jsonl_with_good_and_bad_lines(
    app, db_url: str, tmp_path: Path, raw_conn: asyncpg.Connection
) -> None:
    lines = [
        json.dumps(
            {
                "namespace": "pg://db",
                "name": "public.orders",
                "platform": "postgresql",
                "tags": ["gold"],
            }
        ),
        "{not json",
        json.dumps({"namespace": "pg://db", "name": "public.bad", "platform": "NOT VALID!"}),
        "",
        json.dumps(
            {
                "namespace": "pg://db",
                "name": "public.customers",
                "platform": "postgresql",
                "fields": [{"name": "id", "type": "int"}],
                "database": "ignored-unknown-key",
            }
        ),
        json.dumps(
            {
                "namespace": "pg://db",
                "name": "public.orders",
                "platform": "postgresql",
                "description": "updated by the second line",
            }
        ),
    ]
    path = tmp_path / "datasets.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = await asyncio.to_thread(
        _invoke, ["catalog", "import", str(path), "--org", "Acme"], db_url, tmp_path
    )
    assert result.exit_code == 1  # some lines failed
    assert "line 2: not JSON" in result.output
    assert "line 3: platform" in result.output
    assert "line 5: database" in result.output  # unknown keys are refused, not silently dropped
    assert "1 created, 1 updated, 3 failed" in result.output
    rows = await raw_conn.fetch("SELECT name, description, origin FROM datasets ORDER BY name")
    assert [(r["name"], r["description"], r["origin"]) for r in rows] == [
        ("public.orders", "updated by the second line", "import")
    ]


async def test_csv_import_is_idempotent(
    app, db_url: str, tmp_path: Path, raw_conn: asyncpg.Connection
) -> None:
    path = tmp_path / "datasets.csv"
    path.write_text(
        "namespace,name,platform,description,tags,visibility,database,schema,table\n"
        "snowflake://acme,DB.S.ORDERS,snowflake,All orders,gold;pii,public,DB,S,ORDERS\n"
        "snowflake://acme,DB.S.USERS,snowflake,,,internal,DB,S,USERS\n"
    )
    first = await asyncio.to_thread(
        _invoke, ["catalog", "import", str(path), "--org", "Acme"], db_url, tmp_path
    )
    assert first.exit_code == 0, first.output
    assert "2 created, 0 updated, 0 failed" in first.output
    events_before = await raw_conn.fetchval("SELECT count(*) FROM events")
    again = await asyncio.to_thread(
        _invoke, ["catalog", "import", str(path), "--org", "Acme"], db_url, tmp_path
    )
    assert "0 created, 2 updated, 0 failed" in again.output
    assert await raw_conn.fetchval("SELECT count(*) FROM events") == events_before, (
        "no change, no event"
    )
    row = await raw_conn.fetchrow(
        "SELECT tags, visibility, source_table FROM datasets WHERE name = 'DB.S.ORDERS'"
    )
    assert list(row["tags"]) == ["gold", "pii"]
    assert row["visibility"] == "public"
    assert row["source_table"] == "ORDERS"


async def test_import_writes_only_its_own_orgs_datasets(
    app, db_url: str, tmp_path: Path, raw_conn: asyncpg.Connection
) -> None:
    """A file naming datasets another org has (hidden or public) imports them as the importing
    org's own; the other org's profiles do not change, and no line says the name is taken
    (which told the importer that a hidden table exists)."""
    for org in ("Acme", "Globex"):
        first = tmp_path / f"{org}.jsonl"
        first.write_text(
            json.dumps({"namespace": "pg://db", "name": "own", "platform": "postgresql"}) + "\n"
        )
        result = await asyncio.to_thread(
            _invoke, ["catalog", "import", str(first), "--org", org], db_url, tmp_path
        )
        assert result.exit_code == 0, result.output
    for name, vis in (("secret", "private"), ("open", "public")):
        path = tmp_path / f"acme-{name}.jsonl"
        row = {
            "namespace": "pg://db",
            "name": name,
            "platform": "postgresql",
            "visibility": vis,
            "description": "Acme's",
        }
        path.write_text(json.dumps(row) + "\n")
        result = await asyncio.to_thread(
            _invoke, ["catalog", "import", str(path), "--org", "Acme"], db_url, tmp_path
        )
        assert result.exit_code == 0, result.output
    acme_before = await raw_conn.fetch(
        "SELECT d.* FROM datasets d JOIN organizations o ON o.id = d.org_id "
        "WHERE o.name = 'Acme' ORDER BY d.id"
    )
    path = tmp_path / "globex.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {"namespace": "pg://db", "name": n, "platform": "postgresql", "description": "G"}
            )
            for n in ("secret", "open")
        )
        + "\n"
    )
    result = await asyncio.to_thread(
        _invoke, ["catalog", "import", str(path), "--org", "Globex"], db_url, tmp_path
    )
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 failed" in result.output
    acme_after = await raw_conn.fetch(
        "SELECT d.* FROM datasets d JOIN organizations o ON o.id = d.org_id "
        "WHERE o.name = 'Acme' ORDER BY d.id"
    )
    assert acme_after == acme_before
    rows = await raw_conn.fetch(
        "SELECT d.name, d.description FROM datasets d JOIN organizations o ON o.id = d.org_id "
        "WHERE o.name = 'Globex' ORDER BY d.name"
    )
    assert [tuple(r) for r in rows] == [("open", "G"), ("own", ""), ("secret", "G")]
