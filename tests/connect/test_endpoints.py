"""Platform profiles and Connect over the API, against the real database and, for the live
connection test, a second embedded PostgreSQL on loopback. Nothing here is mocked."""

from __future__ import annotations

import ast
import json
from typing import Any

import asyncpg
import httpx
import pytest
import sqlglot
import yaml
from fastapi import FastAPI
from sqlglot import exp

from datamesh.config import Settings
from tests.connectors.conftest import TargetDatabase, target_db  # noqa: F401 - a fixture
from tests.factories import Account, signed_in

PROFILE_KEYS = {
    "id",
    "name",
    "platform",
    "settings",
    "secrets",
    "is_default",
    "scope",
    "created_at",
    "updated_at",
}
CONNECT_KEYS = {
    "dataset_id",
    "platform",
    "profile_id",
    "artifacts",
    "connection_test",
    "warnings",
}
SQLGLOT_DIALECT = {
    "snowflake": "snowflake",
    "databricks": "databricks",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "postgresql": "postgres",
}
PG_ENV = "DM_TEST_CONNECT_PG_PASSWORD"
RAW_SECRET = "Raw-Secret-9f1c2e77-hunter2"

# A complete profile per platform: settings and the secret reference the code must look up.
PROFILES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "snowflake": (
        {
            "account": "myorg-myaccount",
            "user": "alice",
            "role": "ANALYST",
            "warehouse": "WH",
            "authenticator": "snowflake",
        },
        {"password": "env:DM_SF_PASSWORD"},
    ),
    "databricks": (
        {
            "workspace_host": "adb-1234567890123456.7.azuredatabricks.net",
            "http_path": "/sql/1.0/warehouses/abc123",
            "catalog": "main",
        },
        {"token": "vault:secret/datamesh/databricks#token"},
    ),
    "bigquery": (
        {"project": "billing-proj", "location": "EU", "credentials_method": "service_account_file"},
        {"credentials_file": "file:/run/secrets/bq-key.json"},
    ),
    "redshift": (
        {
            "host": "c1.abc123.us-east-1.redshift.amazonaws.com",
            "port": 5439,
            "database": "dev",
            "user": "alice",
            "iam": False,
        },
        {"password": "env:DM_RS_PASSWORD"},
    ),
    "postgresql": (
        {"host": "db.example.com", "port": 5432, "database": "app", "user": "alice"},
        {"password": "env:DM_PG_PASSWORD"},
    ),
}
SECRET_LOOKUP = {
    "snowflake": 'password=os.environ["DM_SF_PASSWORD"]',
    "databricks": 'vault_secret("secret", "datamesh/databricks", "token")',
    "bigquery": 'from_service_account_file("/run/secrets/bq-key.json")',
    "redshift": 'password=os.environ["DM_RS_PASSWORD"]',
    "postgresql": 'password=os.environ["DM_PG_PASSWORD"]',
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No background node checks: event and audit counts stay exact.
    return settings.model_copy(update={"health_checks_enabled": False})


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch, target_db: TargetDatabase) -> str:  # noqa: F811
    monkeypatch.setenv(PG_ENV, target_db.password)
    return f"env:{PG_ENV}"


# -- helpers -----------------------------------------------------------------------------------
async def _ds(client: httpx.AsyncClient, who: Account, name: str, **kw: Any) -> dict:
    body = {
        "namespace": kw.pop("namespace", "postgres://db:5432"),
        "name": name,
        "platform": kw.pop("platform", "postgresql"),
        **kw,
    }
    resp = await client.post("/api/datasets", json=body, headers=who.headers)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def _profile(
    client: httpx.AsyncClient, who: Account, platform: str, name: str | None = None, **kw: Any
) -> dict:
    settings, secrets = PROFILES[platform]
    body = {
        "name": name or f"{platform} profile",
        "platform": platform,
        "settings": kw.pop("settings", settings),
        "secrets": kw.pop("secrets", secrets),
        **kw,
    }
    resp = await client.post("/api/platform-profiles", json=body, headers=who.headers)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def _connect(
    client: httpx.AsyncClient, who: Account, dataset_id: str, status: int = 200, **body: Any
) -> dict:
    resp = await client.post(f"/api/datasets/{dataset_id}/connect", json=body, headers=who.headers)
    assert resp.status_code == status, resp.text
    return dict(resp.json())


async def _events(raw_conn: asyncpg.Connection, type_: str) -> list[dict]:
    rows = await raw_conn.fetch(
        "SELECT subject_kind, subject_id, actor_id, org_id, payload FROM events "
        "WHERE type = $1 ORDER BY seq",
        type_,
    )
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]


async def _audit(raw_conn: asyncpg.Connection, action: str) -> list[dict]:
    rows = await raw_conn.fetch(
        "SELECT target_kind, target_id, actor_id, org_id, changes, details FROM audit_log "
        "WHERE action = $1 ORDER BY seq",
        action,
    )
    return [
        {**dict(r), "changes": json.loads(r["changes"]), "details": json.loads(r["details"])}
        for r in rows
    ]


async def _everything_stored(raw_conn: asyncpg.Connection) -> str:
    """Every row of the tables a secret could leak into, as text."""
    parts = []
    for table in ("platform_profiles", "audit_log", "events"):
        rows = await raw_conn.fetch(f"SELECT t::text AS row FROM {table} t")
        parts += [r["row"] for r in rows]
    return "\n".join(parts)


def _single_table(sql: str, dialect: str) -> exp.Table:
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    assert len(statements) == 1, sql
    assert isinstance(statements[0], exp.Select), sql
    tables = list(statements[0].find_all(exp.Table))
    assert len(tables) == 1, sql
    return tables[0]


def _constants(tree: ast.Module) -> dict[str, Any]:
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }


def _check_artifacts(platform: str, result: dict, table: str, schema: str) -> None:
    """Every artifact parses in its language and reads the dataset's table."""
    dialect = SQLGLOT_DIALECT[platform]
    kinds = [a["kind"] for a in result["artifacts"]]
    assert kinds == ["python", "sql", "pyspark", "jdbc", "dbt"]
    for artifact in result["artifacts"]:
        content = artifact["content"]
        assert set(artifact) == {"kind", "language", "filename", "content"}
        if artifact["language"] == "python":
            tree = ast.parse(content)
            consts = _constants(tree)
            if "QUERY" in consts:
                found = _single_table(consts["QUERY"], dialect)
                assert (found.name, found.db) == (table, schema)
        elif artifact["kind"] == "sql":
            found = _single_table(content, dialect)
            assert (found.name, found.db) == (table, schema)
        elif artifact["kind"] == "dbt":
            doc = yaml.safe_load(content)
            (source,) = doc["sources"]
            assert source["schema"] == schema
            assert source["tables"][0]["identifier"] == table
        else:
            assert content.startswith("jdbc:") and content.count("\n") == 1


# == profiles ===================================================================================
async def test_profile_crud_with_audit_and_events(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    alice = await signed_in(app, client, "alice@acme.test", role="producer")
    assert (await client.get("/api/platform-profiles")).status_code == 401
    created = await _profile(client, alice, "postgresql", "Warehouse")
    assert set(created) == PROFILE_KEYS
    assert created["secrets"] == {"password": "env:DM_PG_PASSWORD"}, "references come back as is"
    assert (created["scope"], created["platform"]) == ("user", "postgresql")
    assert created["is_default"] is True, "the first profile of a platform becomes its default"
    got = await client.get(f"/api/platform-profiles/{created['id']}", headers=alice.headers)
    assert got.status_code == 200 and got.json() == created
    listed = await client.get("/api/platform-profiles", headers=alice.headers)
    assert [p["id"] for p in listed.json()["items"]] == [created["id"]]

    patched = await client.patch(
        f"/api/platform-profiles/{created['id']}",
        json={
            "name": "Warehouse (replica)",
            "settings": {"port": 6543, "sslmode": "require"},
            "secrets": {"password": "vault:secret/pg#password"},
        },
        headers=alice.headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "Warehouse (replica)"
    assert body["settings"] == {**PROFILES["postgresql"][0], "port": 6543, "sslmode": "require"}
    assert body["secrets"] == {"password": "vault:secret/pg#password"}
    removed = await client.patch(
        f"/api/platform-profiles/{created['id']}",
        json={"settings": {"sslmode": None}},
        headers=alice.headers,
    )
    assert "sslmode" not in removed.json()["settings"], "a key set to null is removed"

    # Another user neither sees nor changes it: 404, not 403.
    bob = await signed_in(app, client, "bob@acme.test", role="admin")
    for method in ("GET", "PATCH", "DELETE"):
        r = await client.request(
            method,
            f"/api/platform-profiles/{created['id']}",
            headers=bob.headers,
            **({"json": {"name": "mine"}} if method == "PATCH" else {}),
        )
        assert r.status_code == 404, (method, r.text)
    assert (await client.get("/api/platform-profiles", headers=bob.headers)).json()["items"] == []

    deleted = await client.delete(f"/api/platform-profiles/{created['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/platform-profiles/{created['id']}", headers=alice.headers)
    assert gone.status_code == 404

    audits = {
        a: await _audit(raw_conn, f"platform_profile.{a}") for a in ("create", "update", "delete")
    }
    (create,) = audits["create"]
    assert create["target_id"] == created["id"]
    assert create["changes"]["secrets.password"] == {"before": None, "after": "[changed]"}
    assert create["changes"]["settings"]["after"]["host"] == "db.example.com"
    first_update = audits["update"][0]
    assert first_update["changes"]["secrets.password"] == {"before": None, "after": "[changed]"}
    assert first_update["changes"]["name"] == {
        "before": "Warehouse",
        "after": "Warehouse (replica)",
    }
    (delete,) = audits["delete"]
    assert delete["changes"]["secrets.password"] == {"before": None, "after": "[changed]"}
    stored = await _everything_stored(raw_conn)
    assert "env:DM_PG_PASSWORD" not in stored and "vault:secret/pg#password" not in stored, (
        "references appear in no audit entry or event (the profile row is gone)"
    )
    types = [
        r["type"]
        for r in await raw_conn.fetch(
            "SELECT type FROM events WHERE subject_kind = 'platform_profile' ORDER BY seq"
        )
    ]
    assert types == [
        "platform_profile.created",
        "platform_profile.updated",
        "platform_profile.updated",
        "platform_profile.deleted",
    ]


async def test_settings_are_validated_per_platform_naming_each_field(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await signed_in(app, client, "alice@acme.test")

    async def refused(body: dict) -> dict[str, str]:
        r = await client.post("/api/platform-profiles", json=body, headers=alice.headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        return {e["field"]: e["msg"] for e in r.json()["errors"]}

    oracle = await refused({"name": "x", "platform": "oracle", "settings": {}})
    assert "oracle" not in oracle["platform"] and "snowflake" in oracle["platform"]
    snowflake = await refused(
        {
            "name": "sf",
            "platform": "snowflake",
            "settings": {
                "account": "myorg.snowflakecomputing.com",
                "warehouse": "",
                "colour": "blue",
            },
        }
    )
    assert set(snowflake) == {"settings.account", "settings.warehouse", "settings.colour"}
    assert "without .snowflakecomputing.com" in snowflake["settings.account"]
    pg = await refused(
        {"name": "pg", "platform": "postgresql", "settings": {"host": "db", "port": 70000}}
    )
    assert set(pg) == {"settings.port", "settings.database", "settings.user"}
    redshift = await refused(
        {
            "name": "rs",
            "platform": "redshift",
            "settings": {"database": "dev", "host": "h.example.com", "workgroup": "wg-1"},
        }
    )
    assert "either host" in redshift["settings"]
    unknown_secret = await refused(
        {
            "name": "db",
            "platform": "databricks",
            "settings": {"workspace_host": "adb-1.azuredatabricks.net"},
            "secrets": {"password": "env:X"},
        }
    )
    assert "known: token" in unknown_secret["secrets.password"]
    # The schema says OK, but the host name goes into URLs: the renderer's stricter check runs too.
    strict = await refused(
        {
            "name": "pg",
            "platform": "postgresql",
            "settings": {"host": "db_1", "database": "d", "user": "u"},
        }
    )
    assert set(strict) == {"settings.host"}


async def test_raw_secret_is_refused_and_never_stored_or_echoed(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    alice = await signed_in(app, client, "alice@acme.test", role="producer")
    settings, _ = PROFILES["postgresql"]
    responses = []
    for secrets in (
        {"password": RAW_SECRET},
        {"password": f"env:{RAW_SECRET}"},  # not a variable name
        {"password": f"file:relative/{RAW_SECRET}"},
    ):
        r = await client.post(
            "/api/platform-profiles",
            json={"name": "pg", "platform": "postgresql", "settings": settings, "secrets": secrets},
            headers=alice.headers,
        )
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["secrets.password"]
        assert "reference" in r.json()["errors"][0]["msg"]
        responses.append(r.text)
    # A secret pasted into a setting is refused too (no such setting), without echo.
    misplaced = await client.post(
        "/api/platform-profiles",
        json={
            "name": "pg",
            "platform": "postgresql",
            "settings": {**settings, "password": RAW_SECRET},
        },
        headers=alice.headers,
    )
    assert misplaced.status_code == 422
    responses.append(misplaced.text)
    # And on update.
    profile = await _profile(client, alice, "postgresql")
    for patch in ({"secrets": {"password": RAW_SECRET}}, {"settings": {"token": RAW_SECRET}}):
        r = await client.patch(
            f"/api/platform-profiles/{profile['id']}", json=patch, headers=alice.headers
        )
        assert r.status_code == 422, r.text
        responses.append(r.text)
    assert all(RAW_SECRET not in text for text in responses)
    assert RAW_SECRET not in await _everything_stored(raw_conn)
    still = await client.get(f"/api/platform-profiles/{profile['id']}", headers=alice.headers)
    assert still.json()["secrets"] == PROFILES["postgresql"][1]


async def test_one_default_per_platform_and_org_wide_defaults(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    alice = await signed_in(app, client, "alice@acme.test", role="producer")
    outsider = await signed_in(app, client, "eve@other.test", role="admin", org="Other")

    first = await _profile(client, alice, "postgresql", "first")
    second = await _profile(client, alice, "postgresql", "second")
    assert (first["is_default"], second["is_default"]) == (True, False)
    await _profile(client, alice, "postgresql", "third", is_default=True)
    sf = await _profile(client, alice, "snowflake", "sf")
    assert sf["is_default"] is True, "defaults are per platform"

    async def defaults(who: Account) -> dict[str, str]:
        r = await client.get("/api/platform-profiles", headers=who.headers)
        assert r.status_code == 200, r.text
        return {p["name"]: p["scope"] for p in r.json()["items"] if p["is_default"]}

    assert await defaults(alice) == {"third": "user", "sf": "user"}
    r = await client.post(f"/api/platform-profiles/{first['id']}/default", headers=alice.headers)
    assert r.status_code == 200 and r.json()["is_default"] is True
    assert await defaults(alice) == {"first": "user", "sf": "user"}
    r = await client.patch(
        f"/api/platform-profiles/{first['id']}", json={"is_default": False}, headers=alice.headers
    )
    assert r.json()["is_default"] is False
    assert await defaults(alice) == {"sf": "user"}
    dup = await client.post(
        "/api/platform-profiles",
        json={"name": "FIRST", "platform": "postgresql", "settings": PROFILES["postgresql"][0]},
        headers=alice.headers,
    )
    assert dup.status_code == 409

    # Org-wide profiles: admins create them, every member sees them, only admins change them.
    org_body = {
        "name": "Acme warehouse",
        "platform": "redshift",
        "settings": PROFILES["redshift"][0],
        "scope": "org",
    }
    denied = await client.post("/api/platform-profiles", json=org_body, headers=alice.headers)
    assert denied.status_code == 403
    org_rs = await client.post("/api/platform-profiles", json=org_body, headers=admin.headers)
    assert org_rs.status_code == 201, org_rs.text
    org_profile = org_rs.json()
    assert (org_profile["scope"], org_profile["is_default"]) == ("org", True)
    assert await defaults(alice) == {"sf": "user", "Acme warehouse": "org"}
    r = await client.get("/api/platform-profiles", params={"scope": "org"}, headers=alice.headers)
    assert [p["name"] for p in r.json()["items"]] == ["Acme warehouse"]
    r = await client.get(
        "/api/platform-profiles",
        params={"platform": "postgresql", "limit": 2},
        headers=alice.headers,
    )
    assert [p["name"] for p in r.json()["items"]] == ["first", "second"]
    r = await client.get(
        "/api/platform-profiles",
        params={"platform": "postgresql", "limit": 2, "cursor": r.json()["next_cursor"]},
        headers=alice.headers,
    )
    assert [p["name"] for p in r.json()["items"]] == ["third"]
    assert r.json()["next_cursor"] is None
    change = await client.patch(
        f"/api/platform-profiles/{org_profile['id']}", json={"name": "x"}, headers=alice.headers
    )
    assert change.status_code == 403
    assert (
        await client.get(f"/api/platform-profiles/{org_profile['id']}", headers=outsider.headers)
    ).status_code == 404

    # Connect picks: the profile named, else your default, else the org's, else none.
    ds = await _ds(
        client,
        admin,
        "dev.public.orders",
        platform="redshift",
        namespace="redshift://x",
        visibility="public",
    )
    assert (await _connect(client, alice, ds["id"]))["profile_id"] == org_profile["id"]
    mine = await _profile(client, alice, "redshift", "my redshift")
    assert mine["is_default"] is True, "the org default is not yours: your first one is"
    assert (await _connect(client, alice, ds["id"]))["profile_id"] == mine["id"]
    named = await _connect(client, alice, ds["id"], profile_id=org_profile["id"])
    assert named["profile_id"] == org_profile["id"]
    none = await _connect(client, outsider, ds["id"])
    assert none["profile_id"] is None
    assert "no Amazon Redshift profile" in none["warnings"][0]
    python = none["artifacts"][0]["content"]
    assert 'host=os.environ["REDSHIFT_HOST"]' in python
    ast.parse(python)


# == Connect ====================================================================================
@pytest.mark.parametrize("platform", ["snowflake", "databricks", "bigquery", "redshift"])
async def test_connect_gives_parseable_code_for_each_platform(
    app: FastAPI, client: httpx.AsyncClient, platform: str
) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    table, schema = 'order "items"; drop table x', "sales"
    database = "analytics-1" if platform == "bigquery" else "analytics"
    ds = await _ds(
        client,
        producer,
        f"{database}.{schema}.order_items",
        platform=platform,
        namespace=f"{platform}://example",
        source={"database": database, "schema": schema, "table": table},
        fields=[{"name": "id", "type": "bigint"}, {"name": "when", "type": "timestamp"}],
    )
    profile = await _profile(client, producer, platform)
    result = await _connect(client, producer, ds["id"])
    assert set(result) == CONNECT_KEYS
    assert (result["dataset_id"], result["platform"]) == (ds["id"], platform)
    assert result["profile_id"] == profile["id"]
    assert result["connection_test"] is None
    _check_artifacts(platform, result, table, schema)
    python = result["artifacts"][0]["content"]
    assert SECRET_LOOKUP[platform] in python, "the secret is looked up where its reference says"
    # Settings from the profile are in the code; nothing asks for them from the environment.
    assert not any("environment variable instead" in w for w in result["warnings"]), result
    only = await _connect(client, producer, ds["id"], kinds=["sql", "dbt"])
    assert [a["kind"] for a in only["artifacts"]] == ["sql", "dbt"]
    bad = await client.post(
        f"/api/datasets/{ds['id']}/connect", json={"kinds": ["terraform"]}, headers=producer.headers
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "kinds.0"


async def test_connect_writes_one_event_and_one_audit_entry(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    viewer = await signed_in(app, client, "v@other.test", org="Other")
    ds = await _ds(client, producer, "warehouse.sales.orders", visibility="public")
    profile = await _profile(client, viewer, "postgresql")
    result = await _connect(client, viewer, ds["id"], kinds=["python", "sql"])
    assert result["profile_id"] == profile["id"]
    (event,) = await _events(raw_conn, "dataset.connected")
    assert (event["subject_kind"], event["subject_id"]) == ("dataset", ds["id"])
    assert str(event["actor_id"]) == viewer.id
    assert str(event["org_id"]) == ds["org"]["id"], "it belongs with the dataset's events"
    assert event["payload"] == {
        "platform": "postgresql",
        "kinds": ["python", "sql"],
        "tested": False,
        "action": "get",
    }
    (entry,) = await _audit(raw_conn, "dataset.connect")
    assert (entry["target_kind"], entry["target_id"]) == ("dataset", ds["id"])
    assert str(entry["actor_id"]) == viewer.id
    assert entry["details"] == {
        "platform": "postgresql",
        "kinds": ["python", "sql"],
        "action": "get",
        "profile_id": None,  # the viewer is of another org: the dataset's org (which reads
        "profile_scope": "user",  # this audit log) is not told its profile's id
        "test_requested": False,
        "test_ran": False,
        "test_ok": None,
    }
    # The feed shows it like any event of the dataset.
    feed = await client.get("/api/feed", headers=producer.headers)
    assert feed.status_code == 200, feed.text
    assert "dataset.connected" in [i["type"] for i in feed.json()["items"]]
    # A refused connect writes nothing.
    await _connect(client, viewer, ds["id"], status=422, kinds=["nope"])
    assert len(await _events(raw_conn, "dataset.connected")) == 1
    assert len(await _audit(raw_conn, "dataset.connect")) == 1


async def test_platform_mismatch_is_a_clear_conflict(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    ds = await _ds(client, producer, "warehouse.sales.orders", platform="postgres")
    sf = await _profile(client, producer, "snowflake")
    wrong = await client.post(
        f"/api/datasets/{ds['id']}/connect", json={"profile_id": sf["id"]}, headers=producer.headers
    )
    assert wrong.status_code == 409
    detail = wrong.json()["detail"]
    assert "Snowflake" in detail and "PostgreSQL" in detail and "profile_id" in detail
    asked = await client.post(
        f"/api/datasets/{ds['id']}/connect", json={"platform": "bigquery"}, headers=producer.headers
    )
    assert asked.status_code == 409
    assert "leave out platform" in asked.json()["detail"]
    # "postgres" (the OpenLineage spelling) is PostgreSQL.
    same = await _connect(client, producer, ds["id"], platform="postgresql")
    assert same["platform"] == "postgresql"
    kafka = await _ds(client, producer, "clicks", platform="kafka", namespace="kafka://b:9092")
    unsupported = await client.post(
        f"/api/datasets/{kafka['id']}/connect", json={}, headers=producer.headers
    )
    assert unsupported.status_code == 409
    assert "kafka" in unsupported.json()["detail"]
    missing = await client.post(
        f"/api/datasets/{ds['id']}/connect",
        json={"profile_id": "00000000-0000-0000-0000-000000000000"},
        headers=producer.headers,
    )
    assert missing.status_code == 404


async def test_hidden_dataset_is_not_found(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in(app, client, "p@acme.test", role="producer")
    colleague = await signed_in(app, client, "v@acme.test")
    outsider = await signed_in(app, client, "x@other.test", role="admin", org="Other")
    private = await _ds(client, owner, "secret.sales.orders", visibility="private")
    internal = await _ds(client, owner, "team.sales.orders", visibility="internal")
    for who, ds in ((colleague, private), (outsider, private), (outsider, internal)):
        r = await client.post(f"/api/datasets/{ds['id']}/connect", json={}, headers=who.headers)
        assert r.status_code == 404, r.text
        assert r.json()["detail"] == "No such dataset."
    assert (await _connect(client, owner, private["id"]))["dataset_id"] == private["id"]
    no_body = await client.post(f"/api/datasets/{private['id']}/connect", headers=owner.headers)
    assert no_body.status_code == 200, "the body is optional"
    assert (await _connect(client, colleague, internal["id"]))["dataset_id"] == internal["id"]


async def test_live_connection_test_against_a_real_postgresql(
    app: FastAPI,
    client: httpx.AsyncClient,
    raw_conn: asyncpg.Connection,
    target_db: TargetDatabase,  # noqa: F811
    pg_env: str,
) -> None:
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    viewer = await signed_in(app, client, "v@acme.test")
    ds = await _ds(
        client,
        producer,
        f"{target_db.database}.public.orders",
        namespace="postgres://127.0.0.1",
    )
    settings = {
        "host": "127.0.0.1",
        "port": target_db.port,
        "database": "postgres",  # the dataset names its own database: that one is tested
        "user": target_db.user,
        "sslmode": "disable",
    }
    for who in (producer, viewer):
        await _profile(client, who, "postgresql", settings=settings, secrets={"password": pg_env})

    # A personal profile's references are not resolved on the server for a producer: it could
    # point a server-side secret at a host its author controls.
    personal = await _connect(client, producer, ds["id"], test=True)
    assert personal["connection_test"] is None
    assert any("org-wide profiles" in w for w in personal["warnings"])
    shared = await _profile(
        client,
        admin,
        "postgresql",
        name="shared pg",
        settings=settings,
        secrets={"password": pg_env},
        scope="org",
    )

    result = await _connect(client, producer, ds["id"], test=True, profile_id=shared["id"])
    test = result["connection_test"]
    assert test is not None, result["warnings"]
    assert set(test) == {"ok", "message", "latency_ms"}
    assert test["ok"] is True, test
    assert test["message"].startswith("PostgreSQL ")
    assert test["latency_ms"] > 0
    assert target_db.password not in json.dumps(result)
    _check_artifacts("postgresql", result, "orders", "public")
    entry = (await _audit(raw_conn, "dataset.connect"))[-1]
    assert (entry["details"]["test_ran"], entry["details"]["test_ok"]) == (True, True)
    # The producer's second connect within the hour is in the audit log, not a second feed item.
    assert len(await _events(raw_conn, "dataset.connected")) == 1
    assert target_db.password not in await _everything_stored(raw_conn)

    # A viewer gets the code, not a test, and is told why.
    as_viewer = await _connect(client, viewer, ds["id"], test=True)
    assert as_viewer["connection_test"] is None
    assert any("producer, steward or admin" in w for w in as_viewer["warnings"])

    # The organization can turn tests off.
    org = await client.patch(
        f"/api/orgs/{admin.org_id}",
        json={"settings": {"allow_connection_tests": False}},
        headers=admin.headers,
    )
    assert org.status_code == 200, org.text
    off = await _connect(client, producer, ds["id"], test=True, profile_id=shared["id"])
    assert off["connection_test"] is None
    assert any("allow_connection_tests" in w for w in off["warnings"])
    audits = await _audit(raw_conn, "dataset.connect")
    assert [(a["details"]["test_requested"], a["details"]["test_ran"]) for a in audits] == [
        (True, False),
        (True, True),
        (True, False),
        (True, False),
    ]


async def test_connection_test_reports_failures_and_platforms_without_a_tester(
    app: FastAPI,
    client: httpx.AsyncClient,
    target_db: TargetDatabase,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An admin: personal profiles are tested live only for admins (see the test above).
    producer = await signed_in(app, client, "p@acme.test", role="admin")
    monkeypatch.setenv("DM_TEST_CONNECT_WRONG", "not-the-password")
    pg = await _ds(client, producer, f"{target_db.database}.public.orders")
    await _profile(
        client,
        producer,
        "postgresql",
        settings={
            "host": "127.0.0.1",
            "port": target_db.port,
            "database": target_db.database,
            "user": target_db.user,
            "sslmode": "disable",
        },
        secrets={"password": "env:DM_TEST_CONNECT_WRONG"},
    )
    failed = (await _connect(client, producer, pg["id"], test=True))["connection_test"]
    assert failed["ok"] is False
    assert "password authentication failed" in failed["message"]
    assert "not-the-password" not in failed["message"]

    sf = await _ds(client, producer, "DB.PUBLIC.T", platform="snowflake", namespace="snowflake://x")
    await _profile(client, producer, "snowflake")
    untested = await _connect(client, producer, sf["id"], test=True)
    assert untested["connection_test"] is None
    assert any(
        "Snowflake has no live connection test" in w and "only PostgreSQL" in w
        for w in untested["warnings"]
    ), untested["warnings"]
    # Without a profile there is nothing to test.
    rs = await _ds(client, producer, "dev.public.t", platform="redshift", namespace="redshift://x")
    bare = await _connect(client, producer, rs["id"], test=True)
    assert bare["connection_test"] is None
