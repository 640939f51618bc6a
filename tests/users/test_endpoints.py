"""User management by org admins and platform admins; the users CLI."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from typer.testing import CliRunner

from datamesh.cli import app as cli
from tests.factories import PASSWORD, signed_in


async def test_admin_creates_and_changes_users(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in(app, client, "adm@acme.test", role="admin")
    created = await client.post(
        "/api/auth/users",
        json={"email": "New@Acme.test", "password": "password-123", "role": "producer"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "new@acme.test"
    assert user["org_id"] == admin.org_id
    assert "password" not in created.text
    login = await client.post(
        "/api/auth/login", json={"email": "new@acme.test", "password": "password-123"}
    )
    assert login.status_code == 200
    changed = await client.patch(
        f"/api/auth/users/{user['id']}", json={"role": "steward"}, headers=admin.headers
    )
    assert changed.json()["role"] == "steward"
    listed = await client.get("/api/auth/users", headers=admin.headers)
    assert {u["email"] for u in listed.json()["items"]} == {"adm@acme.test", "new@acme.test"}
    dup = await client.post(
        "/api/auth/users", json={"email": "new@acme.test"}, headers=admin.headers
    )
    assert dup.status_code == 409


async def test_validation_lists_every_bad_field(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in(app, client, "adm@acme.test", role="admin")
    r = await client.post(
        "/api/auth/users",
        json={"email": "not-an-email", "password": "Zq7x", "role": "emperor", "surprise": 1},
        headers=admin.headers,
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"email", "password", "role", "surprise"} <= fields
    assert "Zq7x" not in r.text, "the input (maybe a secret) is never echoed"


async def test_non_admins_cannot_manage(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    assert (await client.get("/api/auth/users", headers=prod.headers)).status_code == 403
    r = await client.post("/api/auth/users", json={"email": "z@acme.test"}, headers=prod.headers)
    assert r.status_code == 403
    assert (await client.get(f"/api/auth/users/{prod.id}", headers=prod.headers)).status_code == 200


async def test_org_admin_is_confined_to_their_org(app: FastAPI, client: httpx.AsyncClient) -> None:
    a = await signed_in(app, client, "a@acme.test", role="admin")
    b = await signed_in(app, client, "b@globex.test", role="viewer", org="Globex")
    assert (await client.get(f"/api/auth/users/{b.id}", headers=a.headers)).status_code == 404
    r = await client.patch(f"/api/auth/users/{b.id}", json={"role": "admin"}, headers=a.headers)
    assert r.status_code == 404
    r = await client.post(
        "/api/auth/users", json={"email": "c@acme.test", "org_id": b.org_id}, headers=a.headers
    )
    assert r.status_code in (403, 404)
    r = await client.post(
        "/api/auth/users",
        json={"email": "c@acme.test", "is_platform_admin": True},
        headers=a.headers,
    )
    assert r.status_code == 403


async def test_admin_cannot_lock_themselves_out(app: FastAPI, client: httpx.AsyncClient) -> None:
    a = await signed_in(app, client, "a@acme.test", role="admin")
    r = await client.patch(f"/api/auth/users/{a.id}", json={"disabled": True}, headers=a.headers)
    assert r.status_code == 409


async def test_cli_creates_user_and_org(
    app: FastAPI, client: httpx.AsyncClient, db_url: str, tmp_path
) -> None:
    from datamesh.config import get_settings

    env = {"DATABASE_URL": db_url, "DATAMESH_DATA_DIR": str(tmp_path)}

    def invoke(args: list[str]):
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, args, env=env)
        finally:
            get_settings.cache_clear()

    result = await asyncio.to_thread(
        invoke,
        [
            "users",
            "create",
            "--email",
            "cli@umbrella.test",
            "--password",
            PASSWORD,
            "--org",
            "Umbrella",
            "--role",
            "steward",
        ],
    )
    assert result.exit_code == 0, result.output
    login = await client.post(
        "/api/auth/login", json={"email": "cli@umbrella.test", "password": PASSWORD}
    )
    assert login.status_code == 200
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["org"]["name"] == "Umbrella"
    assert me.json()["role"] == "steward"
    again = await asyncio.to_thread(
        invoke, ["users", "create", "--email", "cli@umbrella.test", "--org", "Umbrella"]
    )
    assert again.exit_code == 1
    assert "already exists" in again.output
    bad = await asyncio.to_thread(
        invoke, ["users", "create", "--email", "x", "--org", "U", "--role", "king"]
    )
    assert bad.exit_code == 2
