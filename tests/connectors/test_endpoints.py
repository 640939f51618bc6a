"""Connector types and nodes over the API, against real targets on loopback: a second embedded
PostgreSQL, a stdlib HTTP server and an OpenBao dev server. Nothing here is mocked."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from datamesh.config import Settings
from tests.conftest import client_for, running_app
from tests.connectors.conftest import HTTP_TOKEN, TargetDatabase
from tests.factories import Account, signed_in
from tests.fixtures.http_target import HttpTarget
from tests.fixtures.openbao import OpenBaoServer

BUILTINS = {"bigquery", "databricks", "http_api", "postgresql", "redshift", "snowflake"}
PG_ENV = "DM_TEST_NODES_PG_PASSWORD"
NODE_KEYS = {
    "id",
    "name",
    "type",
    "config",
    "secrets",
    "tags",
    "status",
    "last_checked_at",
    "crawl_interval_minutes",
    "last_crawl",
    "last_latency_ms",
    "last_message",
    "check_interval_seconds",
    "created_at",
    "updated_at",
}
RESULT_KEYS = {"ok", "status", "message", "latency_ms", "checked_at"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No background checks here (test_health covers them): pool and event counts stay exact.
    return settings.model_copy(update={"health_checks_enabled": False})


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch, target_db: TargetDatabase) -> str:
    monkeypatch.setenv(PG_ENV, target_db.password)
    return f"env:{PG_ENV}"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_config(target_db: TargetDatabase, **over: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": target_db.port,
        "database": target_db.database,
        "user": target_db.user,
        "sslmode": "disable",
        **over,
    }


def pg_node(target_db: TargetDatabase, ref: str, name: str = "warehouse", **kw: Any) -> dict:
    return {
        "name": name,
        "type": "postgresql",
        "config": pg_config(target_db),
        "secrets": {"password": ref},
        **kw,
    }


async def _admin(app: FastAPI, client: httpx.AsyncClient, org: str = "Acme") -> Account:
    return await signed_in(app, client, f"admin@{org.lower()}.test", role="admin", org=org)


async def _create(client: httpx.AsyncClient, who: Account, body: dict) -> dict:
    r = await client.post("/api/nodes", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _events(raw_conn: asyncpg.Connection, type_: str, node_id: str) -> list[dict]:
    rows = await raw_conn.fetch(
        "SELECT payload, actor_kind, actor_name, trace_id, org_id FROM events "
        "WHERE type = $1 AND subject_id = $2 ORDER BY seq",
        type_,
        node_id,
    )
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]


async def _audit(raw_conn: asyncpg.Connection, action: str) -> list[dict]:
    rows = await raw_conn.fetch(
        "SELECT target_id, changes, details FROM audit_log WHERE action = $1 ORDER BY seq", action
    )
    return [
        {
            "target_id": r["target_id"],
            "changes": json.loads(r["changes"]),
            **json.loads(r["details"]),
        }
        for r in rows
    ]


# == connector types ============================================================================
async def test_connectors_lists_the_six_types(app: FastAPI, client: httpx.AsyncClient) -> None:
    viewer = await signed_in(app, client, "v@acme.test")
    assert (await client.get("/api/connectors")).status_code == 401
    r = await client.get("/api/connectors", headers=viewer.headers)
    assert r.status_code == 200, r.text
    items = {c["type"]: c for c in r.json()["items"]}
    assert set(items) == BUILTINS
    pg = items["postgresql"]
    assert pg["capabilities"] == {
        "test_connection": True,
        "connect_snippets": True,
        "schema_refresh": True,
        "crawl": True,
    }
    assert items["redshift"]["capabilities"]["crawl"] is True, "through the PostgreSQL crawler"
    assert items["snowflake"]["capabilities"]["crawl"] is False
    assert [s["name"] for s in pg["secret_fields"]] == ["password"]
    assert pg["config_schema_ref"] == "/api/connectors/postgresql#/config_schema"
    assert items["snowflake"]["capabilities"]["test_connection"] is False
    one = await client.get("/api/connectors/postgresql", headers=viewer.headers)
    assert one.status_code == 200
    schema = one.json()["config_schema"]
    assert schema["type"] == "object"
    assert {"host", "port", "database", "user", "sslmode"} <= set(schema["properties"])
    missing = await client.get("/api/connectors/oracle", headers=viewer.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_connector_seed_form_test(
    app: FastAPI, client: httpx.AsyncClient, http_target: HttpTarget, raw_conn: asyncpg.Connection
) -> None:
    admin = await _admin(app, client)
    ok = await client.post(
        "/api/connectors/http_api/test",
        json={"config": {"url": http_target.url("/ok")}},
        headers=admin.headers,
    )
    assert ok.status_code == 200, ok.text
    assert set(ok.json()) == RESULT_KEYS
    assert ok.json()["ok"] is True
    assert ok.json()["status"] == "ok"
    unknown_type = await client.post(
        "/api/connectors/oracle/test", json={"config": {}}, headers=admin.headers
    )
    assert unknown_type.status_code == 404
    audits = await _audit(raw_conn, "connector.test")
    assert [(a["target_id"], a["ok"]) for a in audits] == [("http_api", True)]
    assert audits[0]["target"] == http_target.url("/ok")


# == nodes: CRUD, validation, roles =============================================================
async def test_admin_creates_reads_updates_and_deletes_a_node(
    app: FastAPI,
    client: httpx.AsyncClient,
    target_db: TargetDatabase,
    raw_conn: asyncpg.Connection,
) -> None:
    admin = await _admin(app, client)
    node = await _create(
        client,
        admin,
        pg_node(target_db, "env:PG_PASSWORD", tags=["Prod", "finance", "prod"]),
    )
    assert set(node) == NODE_KEYS
    assert node["secrets"] == {"password": "env:PG_PASSWORD"}, "references are returned as is"
    assert node["tags"] == ["prod", "finance"]
    assert node["status"] == "unknown"
    assert node["last_checked_at"] is None
    assert node["check_interval_seconds"] is None
    got = await client.get(f"/api/nodes/{node['id']}", headers=admin.headers)
    assert got.json() == node
    listed = await client.get("/api/nodes", headers=admin.headers)
    assert [n["id"] for n in listed.json()["items"]] == [node["id"]]

    patched = await client.patch(
        f"/api/nodes/{node['id']}",
        json={
            "name": "Warehouse (primary)",
            "config": {"port": 6543, "sslmode": None},
            "secrets": {"password": "vault:secret/db#password"},
            "check_interval_seconds": 60,
        },
        headers=admin.headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "Warehouse (primary)"
    assert body["config"]["port"] == 6543
    assert "sslmode" not in body["config"], "null removes a config key"
    assert body["config"]["host"] == "127.0.0.1", "other keys are kept"
    assert body["secrets"] == {"password": "vault:secret/db#password"}
    assert body["check_interval_seconds"] == 60
    off = await client.patch(
        f"/api/nodes/{node['id']}", json={"check_interval_seconds": None}, headers=admin.headers
    )
    assert off.json()["check_interval_seconds"] is None
    same = await client.patch(f"/api/nodes/{node['id']}", json={}, headers=admin.headers)
    assert same.status_code == 200

    assert (
        await client.delete(f"/api/nodes/{node['id']}", headers=admin.headers)
    ).status_code == 204
    assert (await client.get(f"/api/nodes/{node['id']}", headers=admin.headers)).status_code == 404

    created = await _audit(raw_conn, "node.create")
    assert created[0]["changes"]["secrets.password"] == {"before": None, "after": "[changed]"}
    assert created[0]["changes"]["name"] == {"before": None, "after": "warehouse"}
    updates = await _audit(raw_conn, "node.update")
    assert len(updates) == 2, "an empty PATCH writes no audit entry"
    first = updates[0]["changes"]
    assert first["secrets.password"] == {"before": None, "after": "[changed]"}
    assert first["config"]["after"]["port"] == 6543
    assert first["check_interval_seconds"] == {"before": None, "after": 60}
    deleted = await _audit(raw_conn, "node.delete")
    assert deleted[0]["changes"]["secrets.password"] == {"before": None, "after": "[changed]"}
    dump = json.dumps([created, updates, deleted])
    assert "env:PG_PASSWORD" not in dump and "vault:secret/db" not in dump
    types = [
        r["type"]
        for r in await raw_conn.fetch(
            "SELECT type FROM events WHERE subject_id = $1 ORDER BY seq", node["id"]
        )
    ]
    assert types == ["node.created", "node.updated", "node.updated", "node.deleted"]


async def test_config_and_secrets_are_validated_with_field_paths(
    app: FastAPI, client: httpx.AsyncClient, target_db: TargetDatabase
) -> None:
    admin = await _admin(app, client)
    pasted = "Zq7x-hunter2-pasted-secret"
    r = await client.post(
        "/api/nodes",
        json={
            "name": "bad",
            "type": "postgresql",
            "config": {"port": "5432", "database": "x", "user": "u", "colour": "red"},
            "secrets": {"password": pasted, "token": "env:X"},
        },
        headers=admin.headers,
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    errors = {e["field"]: e["msg"] for e in r.json()["errors"]}
    assert errors["config.host"] == "is required"
    assert errors["config.port"] == "must be an integer"
    assert errors["config.colour"] == "is not a known field"
    assert errors["secrets.password"].startswith("must be a secret reference")
    assert "is not a secret of postgresql" in errors["secrets.token"]
    assert pasted not in r.text, "a value pasted where a reference belongs is never echoed"

    # jsonschema's own message for some keywords quotes the whole value: never sent back.
    headers = {f"X-Extra-{i}": f"{pasted}-{i}" for i in range(25)}
    r = await client.post(
        "/api/nodes",
        json={
            "name": "h",
            "type": "http_api",
            "config": {"url": "http://x.test/", "headers": headers},
        },
        headers=admin.headers,
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"config.headers"}
    assert pasted not in r.text

    unknown = await client.post(
        "/api/nodes", json={"name": "o", "type": "oracle", "config": {}}, headers=admin.headers
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "type"
    bad_interval = await client.post(
        "/api/nodes",
        json={**pg_node(target_db, "env:P"), "check_interval_seconds": 1},
        headers=admin.headers,
    )
    assert bad_interval.status_code == 422

    node = await _create(client, admin, pg_node(target_db, "env:P"))
    dup = await client.post(
        "/api/nodes", json=pg_node(target_db, "env:P", name="WAREHOUSE"), headers=admin.headers
    )
    assert dup.status_code == 409
    other = await _create(client, admin, pg_node(target_db, "env:P", name="other"))
    rename = await client.patch(
        f"/api/nodes/{other['id']}", json={"name": "Warehouse"}, headers=admin.headers
    )
    assert rename.status_code == 409
    bad_patch = await client.patch(
        f"/api/nodes/{node['id']}",
        json={"config": {"host": None}, "secrets": {"password": pasted}},
        headers=admin.headers,
    )
    assert bad_patch.status_code == 422
    assert {e["field"] for e in bad_patch.json()["errors"]} == {"config.host", "secrets.password"}
    assert pasted not in bad_patch.text
    type_change = await client.patch(
        f"/api/nodes/{node['id']}", json={"type": "http_api"}, headers=admin.headers
    )
    assert type_change.status_code == 422


async def test_roles_and_organizations(
    app: FastAPI, client: httpx.AsyncClient, target_db: TargetDatabase, pg_env: str
) -> None:
    admin = await _admin(app, client)
    viewer = await signed_in(app, client, "viewer@acme.test", role="viewer")
    producer = await signed_in(app, client, "producer@acme.test", role="producer")
    outsider = await _admin(app, client, org="Globex")
    node = await _create(client, admin, pg_node(target_db, pg_env))
    url = f"/api/nodes/{node['id']}"

    for member in (viewer, producer):
        assert (await client.get(url, headers=member.headers)).status_code == 200
        listed = await client.get("/api/nodes", headers=member.headers)
        assert [n["id"] for n in listed.json()["items"]] == [node["id"]]
        assert (
            await client.post(
                "/api/nodes", json=pg_node(target_db, pg_env, name="x"), headers=member.headers
            )
        ).status_code == 403
        assert (
            await client.patch(url, json={"tags": ["x"]}, headers=member.headers)
        ).status_code == 403
        assert (await client.delete(url, headers=member.headers)).status_code == 403
        unsaved = await client.post(
            "/api/nodes/test",
            json={"type": "postgresql", "config": pg_config(target_db), "secrets": {}},
            headers=member.headers,
        )
        assert unsaved.status_code == 403, "only admins point the server at new targets"
        # Members may re-check a saved node: its target was chosen by an admin.
        tested = await client.post(f"{url}/test", headers=member.headers)
        assert tested.status_code == 200
        assert tested.json()["ok"] is True, tested.json()

    for method, path in (
        ("GET", url),
        ("PATCH", url),
        ("DELETE", url),
        ("POST", f"{url}/test"),
        ("GET", f"{url}/checks"),
    ):
        r = await client.request(
            method, path, json={} if method == "PATCH" else None, headers=outsider.headers
        )
        assert r.status_code == 404, (method, path, r.text)
    assert (await client.get("/api/nodes", headers=outsider.headers)).json()["items"] == []
    # The same name is free in another organization.
    await _create(client, outsider, pg_node(target_db, pg_env))


async def test_list_filters_sorts_and_pages(
    app: FastAPI,
    client: httpx.AsyncClient,
    target_db: TargetDatabase,
    http_target: HttpTarget,
    raw_conn: asyncpg.Connection,
) -> None:
    admin = await _admin(app, client)
    ids = {}
    for name, tags in (("Orders DB", ["sales"]), ("billing", ["finance", "pii"]), ("crm", [])):
        ids[name] = (await _create(client, admin, pg_node(target_db, "env:P", name, tags=tags)))[
            "id"
        ]
    for name in ("status-api", "Search_API"):
        body = {"name": name, "type": "http_api", "config": {"url": http_target.url("/ok")}}
        ids[name] = (await _create(client, admin, body))["id"]
    await raw_conn.execute("UPDATE nodes SET status = 'error' WHERE name = 'crm'")
    await raw_conn.execute("UPDATE nodes SET status = 'ok' WHERE name = 'status-api'")

    async def names(**params: Any) -> list[str]:
        r = await client.get("/api/nodes", params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        return [n["name"] for n in r.json()["items"]]

    assert await names() == ["billing", "crm", "Orders DB", "Search_API", "status-api"]
    assert await names(type="http_api") == ["Search_API", "status-api"]
    assert await names(status="error") == ["crm"]
    assert await names(q="ORDERS") == ["Orders DB"]
    assert await names(q="pii") == ["billing"], "q matches tags too"
    assert await names(q="_") == ["Search_API"], "LIKE wildcards are literal"
    assert await names(tag="finance") == ["billing"]
    assert await names(sort="status") == ["crm", "status-api", "billing", "Orders DB", "Search_API"]
    await client.patch(f"/api/nodes/{ids['crm']}", json={"tags": ["x"]}, headers=admin.headers)
    assert (await names(sort="updated"))[0] == "crm"
    assert (
        await client.get("/api/nodes", params={"sort": "size"}, headers=admin.headers)
    ).status_code == 422

    for sort in ("name", "updated", "status"):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, "sort": sort} | (
                {"cursor": cursor} if cursor else {}
            )
            page = (await client.get("/api/nodes", params=params, headers=admin.headers)).json()
            seen += [n["name"] for n in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == await names(sort=sort), sort
    first = (await client.get("/api/nodes", params={"limit": 2}, headers=admin.headers)).json()
    wrong = await client.get(
        "/api/nodes",
        params={"cursor": first["next_cursor"], "sort": "updated"},
        headers=admin.headers,
    )
    assert wrong.status_code == 400
    garbage = await client.get("/api/nodes", params={"cursor": "nope!"}, headers=admin.headers)
    assert garbage.status_code == 400


# == test connection ============================================================================
async def test_unsaved_settings_are_tested_for_real(
    app: FastAPI,
    client: httpx.AsyncClient,
    target_db: TargetDatabase,
    http_target: HttpTarget,
    pg_env: str,
    monkeypatch: pytest.MonkeyPatch,
    raw_conn: asyncpg.Connection,
) -> None:
    admin = await _admin(app, client)
    monkeypatch.setenv("DM_TEST_WRONG_PASSWORD", "not-the-password")
    monkeypatch.setenv("DM_TEST_HTTP_TOKEN", HTTP_TOKEN)

    async def test(type_: str, config: dict, secrets: dict | None = None) -> dict:
        r = await client.post(
            "/api/nodes/test",
            json={"type": type_, "config": config, "secrets": secrets or {}},
            headers=admin.headers,
        )
        assert r.status_code == 200, r.text
        assert set(r.json()) == RESULT_KEYS
        return dict(r.json())

    good = await test("postgresql", pg_config(target_db), {"password": pg_env})
    assert (good["ok"], good["status"]) == (True, "ok")
    assert good["message"].startswith("PostgreSQL ")
    assert good["latency_ms"] > 0
    wrong = await test(
        "postgresql", pg_config(target_db), {"password": "env:DM_TEST_WRONG_PASSWORD"}
    )
    assert (wrong["ok"], wrong["status"]) == (False, "error")
    assert "password authentication failed" in wrong["message"]
    closed = await test(
        "postgresql", pg_config(target_db, port=_closed_port()), {"password": pg_env}
    )
    assert (closed["ok"], closed["status"]) == (False, "error")
    assert "refused" in closed["message"]
    assert closed["latency_ms"] < 5000
    unset = await test("postgresql", pg_config(target_db), {"password": "env:DM_TEST_NOT_SET"})
    assert unset["status"] == "error"
    assert unset["message"] == "secret password: env:DM_TEST_NOT_SET is not set"
    api = await test(
        "http_api", {"url": http_target.url("/auth")}, {"token": "env:DM_TEST_HTTP_TOKEN"}
    )
    assert api["ok"] is True, api
    assert http_target.seen[-1].authorization == f"Bearer {HTTP_TOKEN}"
    denied = await test("http_api", {"url": "http://169.254.169.254/latest/meta-data/"})
    assert denied["status"] == "error"
    assert "refused" in denied["message"]
    snowflake = await test("snowflake", {"account": "myorg-myaccount"}, {"password": pg_env})
    assert snowflake["ok"] is False
    assert snowflake["status"] == "unknown"
    assert snowflake["message"].startswith("snowflake has no live connection test in DataMesh; ")
    assert snowflake["latency_ms"] is None

    invalid = await client.post(
        "/api/nodes/test",
        json={"type": "postgresql", "config": {"host": "db"}, "secrets": {}},
        headers=admin.headers,
    )
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.json()["errors"]} == {"config.database", "config.user"}

    audits = await _audit(raw_conn, "connector.test")
    assert [(a["target_id"], a["status"]) for a in audits] == [
        ("postgresql", "ok"),
        ("postgresql", "error"),
        ("postgresql", "error"),
        ("postgresql", "error"),
        ("http_api", "ok"),
        ("http_api", "error"),
        ("snowflake", "unknown"),
    ]
    assert "password authentication failed" in audits[1]["message"]
    assert (await raw_conn.fetchval("SELECT count(*) FROM node_checks")) == 0


async def test_saved_node_test_records_its_health(
    app: FastAPI,
    client: httpx.AsyncClient,
    target_db: TargetDatabase,
    pg_env: str,
    raw_conn: asyncpg.Connection,
) -> None:
    admin = await _admin(app, client)
    node = await _create(client, admin, pg_node(target_db, pg_env))
    r = await client.post(f"/api/nodes/{node['id']}/test", headers=admin.headers)
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["ok"], result["status"]) == (True, "ok")
    after = (await client.get(f"/api/nodes/{node['id']}", headers=admin.headers)).json()
    assert after["status"] == "ok"
    assert after["last_checked_at"] == result["checked_at"]
    assert after["last_latency_ms"] == result["latency_ms"]
    assert after["last_message"] == result["message"]
    assert after["updated_at"] == node["updated_at"], "a check is not an edit"
    checks = (await client.get(f"/api/nodes/{node['id']}/checks", headers=admin.headers)).json()
    assert [(c["status"], c["trigger"]) for c in checks["items"]] == [("ok", "manual")]
    audits = await _audit(raw_conn, "node.test")
    assert len(audits) == 1
    assert audits[0]["changes"] == {"status": {"before": "unknown", "after": "ok"}}
    assert audits[0]["recorded"] is True

    # A type without a tester says so and changes nothing.
    sf = await _create(
        client,
        admin,
        {"name": "sf", "type": "snowflake", "config": {"account": "myorg-acct"}},
    )
    r = await client.post(f"/api/nodes/{sf['id']}/test", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "unknown"
    assert "has no live connection test" in r.json()["message"]
    assert (await client.get(f"/api/nodes/{sf['id']}", headers=admin.headers)).json()[
        "last_checked_at"
    ] is None
    assert len(await _audit(raw_conn, "node.test")) == 2


async def test_target_down_and_back_emits_exactly_two_status_events(
    app: FastAPI,
    client: httpx.AsyncClient,
    target_db: TargetDatabase,
    pg_env: str,
    raw_conn: asyncpg.Connection,
) -> None:
    admin = await _admin(app, client)
    node = await _create(client, admin, pg_node(target_db, pg_env))

    async def check() -> dict:
        r = await client.post(f"/api/nodes/{node['id']}/test", headers=admin.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())

    assert (await check())["status"] == "ok"
    before = len(await _events(raw_conn, "node.status_changed", node["id"]))
    assert (await check())["status"] == "ok"
    assert len(await _events(raw_conn, "node.status_changed", node["id"])) == before
    target_db.pg.stop()
    try:
        down = await check()
        assert down["status"] == "error"
        assert "refused" in down["message"]
        assert (await check())["status"] == "error", "still down: no new event"
    finally:
        target_db.pg.start()
    assert (await check())["status"] == "ok"

    changes = await _events(raw_conn, "node.status_changed", node["id"])
    assert [(e["payload"]["from"], e["payload"]["to"]) for e in changes] == [
        ("unknown", "ok"),
        ("ok", "error"),
        ("error", "ok"),
    ]
    went_down = changes[1]
    assert went_down["payload"]["message"] == down["message"]
    assert went_down["payload"]["latency_ms"] == down["latency_ms"]
    assert went_down["actor_name"] == admin.email
    assert str(went_down["org_id"]) == admin.org_id
    # The check was traced; the event carries that trace, and so does the history row.
    assert all(e["trace_id"] and len(e["trace_id"]) == 32 for e in changes)
    traces = await raw_conn.fetch(
        "SELECT trace_id FROM node_checks WHERE node_id = $1 AND status = 'error' "
        "ORDER BY checked_at",
        node["id"],
    )
    assert traces[0]["trace_id"] == went_down["trace_id"]
    feed_types = await raw_conn.fetch(
        "SELECT count(*) FROM events WHERE subject_id = $1 AND type = 'node.status_changed'",
        node["id"],
    )
    assert feed_types[0][0] == 3
    statuses = (await client.get(f"/api/nodes/{node['id']}/checks", headers=admin.headers)).json()
    assert [c["status"] for c in statuses["items"]] == ["ok", "error", "error", "ok", "ok"]


async def test_the_test_holds_no_connection_or_lock_while_it_waits(
    app: FastAPI,
    client: httpx.AsyncClient,
    http_target: HttpTarget,
    raw_conn: asyncpg.Connection,
    db_name: str,
) -> None:
    admin = await _admin(app, client)
    saved_key, unsaved_key = f"saved-{uuid.uuid4()}", f"unsaved-{uuid.uuid4()}"
    saved_config = {"url": http_target.url(f"/hold?key={saved_key}")}
    node = await _create(
        client, admin, {"name": "slow", "type": "http_api", "config": saved_config}
    )
    engine = app.state.engine

    async def during(call: Any, key: str) -> dict:
        task = asyncio.create_task(call)
        try:
            while http_target.held(key) == 0:  # the test is waiting for its target now
                assert not task.done(), (await task).text
                await asyncio.sleep(0.02)
            await nothing_held_for(node["id"])
        finally:
            http_target.release(key)
        r = await task
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def nothing_held_for(node_id: str) -> None:
        assert engine.sync_engine.pool.checkedout() == 0, "no pooled connection is held"
        idle = await raw_conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
            "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()",
            db_name,
        )
        assert idle == 0
        async with raw_conn.transaction():
            locked = await raw_conn.fetchval(
                "SELECT id FROM nodes WHERE id = $1 FOR UPDATE NOWAIT", node_id
            )
            assert str(locked) == node_id, "the node's row is not locked during the test"

    saved = await during(
        client.post(f"/api/nodes/{node['id']}/test", headers=admin.headers), saved_key
    )
    assert saved["ok"] is True
    unsaved_config = {"url": http_target.url(f"/hold?key={unsaved_key}")}
    unsaved = await during(
        client.post(
            "/api/nodes/test",
            json={"type": "http_api", "config": unsaved_config, "secrets": {}},
            headers=admin.headers,
        ),
        unsaved_key,
    )
    assert unsaved["ok"] is True


async def test_references_to_datamesh_own_secrets_are_refused(
    app: FastAPI, client: httpx.AsyncClient, http_target: HttpTarget, settings: Settings
) -> None:
    admin = await _admin(app, client)
    key_file = settings.data_dir / "secret.key"
    seen = len(http_target.seen)
    for ref in ("env:DATAMESH_SECRET_KEY", f"file:{key_file}", "file:/proc/self/environ"):
        r = await client.post(
            "/api/nodes/test",
            json={
                "type": "http_api",
                "config": {"url": http_target.url("/auth")},
                "secrets": {"token": ref},
            },
            headers=admin.headers,
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "error"
        assert "DataMesh's own configuration" in r.json()["message"], ref
    assert len(http_target.seen) == seen, "nothing was sent"


# == the canary: a secret never leaves the resolver ============================================
@pytest.fixture
async def vault_app(
    settings: Settings, clean_db: None, openbao: OpenBaoServer
) -> AsyncIterator[FastAPI]:
    vault_settings = settings.model_copy(
        update={
            "vault_url": openbao.url,
            "vault_token": openbao.root_token,
            "health_checks_enabled": True,
            "health_check_poll_seconds": 0.1,
        }
    )
    async with running_app(vault_settings, migrate_on_start=False) as app:
        yield app


async def test_canary_secret_never_appears_anywhere(
    vault_app: FastAPI,
    canary: str,
    target_db: TargetDatabase,
    http_target: HttpTarget,
    openbao: OpenBaoServer,
    raw_conn: asyncpg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    app = vault_app
    monkeypatch.setenv("DM_TEST_CANARY", canary)
    secret_file = tmp_path / "canary"
    secret_file.write_text(canary + "\n")
    openbao.write_secret("secret/nodes/canary", {"password": canary})
    refs = {
        "env": "env:DM_TEST_CANARY",
        "file": f"file:{secret_file}",
        "vault": "vault:secret/nodes/canary#password",
    }
    bodies: list[str] = []

    async def call(method: str, url: str, who: Account, body: Any = None) -> httpx.Response:
        r = await client.request(method, url, json=body, headers=who.headers)
        bodies.append(r.text)
        return r

    metadata = str(
        httpx.URL(http_target.url("/redirect"), params={"to": "http://169.254.169.254/latest/"})
    )
    async with client_for(app) as client:
        admin = await _admin(app, client)
        viewer = await signed_in(app, client, "viewer@acme.test")
        results = []
        for scheme, ref in refs.items():
            variants = {
                "good": pg_config(target_db),
                "wrong-user": pg_config(target_db, user="postgres"),
                "no-db": pg_config(target_db, database="nope_db"),
                "closed": pg_config(target_db, port=_closed_port()),
            }
            for label, config in variants.items():
                body = {"type": "postgresql", "config": config, "secrets": {"password": ref}}
                results.append((await call("POST", "/api/nodes/test", admin, body)).json())
                node = (
                    await call(
                        "POST",
                        "/api/nodes",
                        admin,
                        {**body, "name": f"{scheme}-{label}", "check_interval_seconds": 10},
                    )
                ).json()
                results.append((await call("POST", f"/api/nodes/{node['id']}/test", viewer)).json())
                await call("GET", f"/api/nodes/{node['id']}", viewer)
                await call("GET", f"/api/nodes/{node['id']}/checks", viewer)
            for url in (http_target.url("/auth"), http_target.url("/fail"), metadata):
                body = {"type": "http_api", "config": {"url": url}, "secrets": {"token": ref}}
                results.append((await call("POST", "/api/nodes/test", admin, body)).json())
                results.append(
                    (
                        await call(
                            "POST",
                            "/api/connectors/http_api/test",
                            admin,
                            {"config": body["config"], "secrets": body["secrets"]},
                        )
                    ).json()
                )
            node_id = (await call("GET", "/api/nodes", viewer)).json()["items"][0]["id"]
            await call(
                "PATCH", f"/api/nodes/{node_id}", admin, {"secrets": {"password": refs["env"]}}
            )
        # A value pasted where a reference belongs, in a create, a test and an update.
        pasted = {
            "type": "postgresql",
            "config": pg_config(target_db),
            "secrets": {"password": canary},
        }
        assert (await call("POST", "/api/nodes/test", admin, pasted)).status_code == 422
        assert (
            await call("POST", "/api/nodes", admin, {**pasted, "name": "pasted"})
        ).status_code == 422
        assert (
            await call("PATCH", f"/api/nodes/{node_id}", admin, {"secrets": {"password": canary}})
        ).status_code == 422
        bad_port = {**pasted, "config": pg_config(target_db, port=canary), "secrets": {}}
        assert (await call("POST", "/api/nodes/test", admin, bad_port)).status_code == 422
        # Let the background checker have a go at every node (due now, manual tests or not).
        await raw_conn.execute("UPDATE nodes SET next_check_at = now()")
        for _ in range(100):
            pending = await raw_conn.fetchval(
                "SELECT count(*) FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM node_checks c "
                "WHERE c.node_id = n.id AND c.trigger = 'schedule')"
            )
            if pending == 0:
                break
            await asyncio.sleep(0.1)
        assert pending == 0, "the background checker checked every node"
        await call("GET", "/api/nodes?limit=200", viewer)

    assert any(r["ok"] for r in results) and any(not r["ok"] for r in results)
    assert sum(1 for r in results if r["ok"]) >= 6, results
    stored = []
    for table in ("audit_log", "events", "nodes", "node_checks"):
        rows = await raw_conn.fetch(f"SELECT row_to_json(t)::text AS j FROM {table} t")
        assert rows, table
        stored += [r["j"] for r in rows]
    logs = (
        [caplog.text]
        + [r.getMessage() for r in caplog.records]
        + [repr(r.args) for r in caplog.records]
    )
    forms = {canary, quote(canary, safe=""), quote_plus(canary), json.dumps(canary)[1:-1]}
    for where, texts in (("response", bodies), ("database", stored), ("log", logs)):
        for text in texts:
            for form in forms:
                assert form not in text, f"the canary leaked into a {where}"
