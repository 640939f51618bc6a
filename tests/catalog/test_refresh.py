"""Schema refresh: a dataset bound to a PostgreSQL node reads its columns from the real server."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from datamesh.embedded_pg import EmbeddedPostgres
from tests.catalog.test_search import _ds
from tests.factories import Account, signed_in


async def bind_to_table(
    client: httpx.AsyncClient,
    admin: Account,
    pg: EmbeddedPostgres,
    monkeypatch: pytest.MonkeyPatch,
    password_env: str = "DM_TEST_REFRESH_PASSWORD",
) -> dict:
    """A source table on the test server, a node pointing at it, a dataset bound to both."""
    source = (
        f"refresh_src_{uuid.uuid4().hex[:8]}"  # unique per call: xdist workers share the server
    )
    pg.create_database(source)
    pg.psql(
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount numeric(12,2), note text); "
        "COMMENT ON COLUMN public.orders.amount IS 'In EUR'",
        source,
    )
    monkeypatch.setenv(password_env, pg.password)
    node = await client.post(
        "/api/nodes",
        json={
            "name": "source db",
            "type": "postgresql",
            "config": {
                "host": "127.0.0.1",
                "port": pg.port,
                "database": source,
                "user": "postgres",
                "sslmode": "disable",
            },
            "secrets": {"password": f"env:{password_env}"},
        },
        headers=admin.headers,
    )
    assert node.status_code == 201, node.text
    return await _ds(
        client,
        admin,
        "public.orders",
        source={"node_id": node.json()["id"], "schema": "public", "table": "orders"},
        fields=[
            {
                "name": "note",
                "type": "text",
                "description": "Written by a human",
                "tags": ["free-text"],
            }
        ],
    )


async def test_refresh_reads_columns(
    app: FastAPI,
    client: httpx.AsyncClient,
    pg: EmbeddedPostgres,
    raw_conn: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    ds = await bind_to_table(client, admin, pg, monkeypatch)
    r = await client.post(f"/api/datasets/{ds['id']}/refresh", headers=admin.headers)
    assert r.status_code == 200, r.text
    fields = r.json()["fields"]
    assert [(f["name"], f["type"]) for f in fields] == [
        ("id", "bigint"),
        ("amount", "numeric(12,2)"),
        ("note", "text"),
    ]
    assert fields[1]["description"] == "In EUR"
    assert fields[2]["description"] == "Written by a human" and fields[2]["tags"] == ["free-text"]
    audit = await raw_conn.fetchrow(
        "SELECT actor_name, details FROM audit_log WHERE action = 'dataset.refresh'"
    )
    assert audit["actor_name"] == "admin@acme.test"
    assert (
        await raw_conn.fetchval("SELECT count(*) FROM events WHERE type = 'dataset.refreshed'") == 1
    )
    assert pg.password not in r.text


async def test_refresh_errors_are_clear_and_secret_free(
    app: FastAPI,
    client: httpx.AsyncClient,
    pg: EmbeddedPostgres,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    ds = await bind_to_table(client, admin, pg, monkeypatch)
    monkeypatch.setenv("DM_TEST_REFRESH_PASSWORD", "wrong-password-canary")
    r = await client.post(f"/api/datasets/{ds['id']}/refresh", headers=admin.headers)
    assert r.status_code == 502
    assert "password authentication failed" in r.json()["detail"]
    assert "wrong-password-canary" not in r.text
    unbound = await _ds(client, admin, "public.unbound")
    r = await client.post(f"/api/datasets/{unbound['id']}/refresh", headers=admin.headers)
    assert r.status_code == 409 and "node" in r.json()["detail"]
    viewer = await signed_in(app, client, "v@acme.test", role="viewer")
    assert (
        await client.post(f"/api/datasets/{ds['id']}/refresh", headers=viewer.headers)
    ).status_code == 403
