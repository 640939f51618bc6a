"""API keys: shown once, stored hashed, capped at the creator's role, revocable."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI

from tests.factories import signed_in


async def test_key_is_shown_once_and_works(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    created = await client.post(
        "/api/auth/api-keys", json={"name": "airflow", "role": "producer"}, headers=prod.headers
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("dm_")
    listed = await client.get("/api/auth/api-keys", headers=prod.headers)
    assert [k["name"] for k in listed.json()] == ["airflow"]
    assert key not in listed.text
    stored = await raw_conn.fetchval("SELECT key_hash FROM api_keys")
    assert key not in stored
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json()["kind"] == "api_key"
    assert me.json()["role"] == "producer"
    assert me.json()["org"]["name"] == "Acme"


async def test_key_role_is_capped(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p2@acme.test", role="producer")
    r = await client.post(
        "/api/auth/api-keys", json={"name": "x", "role": "admin"}, headers=prod.headers
    )
    assert r.status_code == 403
    viewer = await signed_in(app, client, "v@acme.test", role="viewer")
    r = await client.post(
        "/api/auth/api-keys", json={"name": "x", "role": "producer"}, headers=viewer.headers
    )
    assert r.status_code == 403


async def test_keys_cannot_mint_keys(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in(app, client, "a@acme.test", role="admin")
    key = (
        await client.post(
            "/api/auth/api-keys", json={"name": "k", "role": "admin"}, headers=admin.headers
        )
    ).json()["key"]
    r = await client.post(
        "/api/auth/api-keys", json={"name": "k2"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 403


async def test_revoked_key_stops_working(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    admin = await signed_in(app, client, "a2@acme.test", role="admin")
    created = (
        await client.post("/api/auth/api-keys", json={"name": "ci"}, headers=admin.headers)
    ).json()
    bearer = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/api/auth/me", headers=bearer)).status_code == 200
    assert (
        await client.delete(f"/api/auth/api-keys/{created['id']}", headers=admin.headers)
    ).status_code == 204
    assert (await client.get("/api/auth/me", headers=bearer)).status_code == 401
    actions = [
        r["action"] for r in await raw_conn.fetch("SELECT action FROM audit_log ORDER BY seq")
    ]
    assert "api_key.create" in actions
    assert "api_key.revoke" in actions


async def test_other_org_cannot_see_or_revoke(app: FastAPI, client: httpx.AsyncClient) -> None:
    a = await signed_in(app, client, "a3@acme.test", role="admin")
    b = await signed_in(app, client, "b3@globex.test", role="admin", org="Globex")
    created = (
        await client.post("/api/auth/api-keys", json={"name": "ci"}, headers=a.headers)
    ).json()
    assert (await client.get("/api/auth/api-keys", headers=b.headers)).json() == []
    assert (
        await client.delete(f"/api/auth/api-keys/{created['id']}", headers=b.headers)
    ).status_code == 404
