"""Organizations: platform admins manage them; members see their own; others get 404."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import signed_in


async def test_platform_admin_crud(app: FastAPI, client: httpx.AsyncClient) -> None:
    root = await signed_in(app, client, "root@acme.test", role="admin", platform_admin=True)
    created = await client.post(
        "/api/orgs",
        json={"name": "Initech", "settings": {"default_visibility": "private"}},
        headers=root.headers,
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["slug"] == "initech"
    assert org["settings"]["default_visibility"] == "private"
    dup = await client.post("/api/orgs", json={"name": "initech"}, headers=root.headers)
    assert dup.status_code == 409
    listed = await client.get("/api/orgs", headers=root.headers)
    assert {o["name"] for o in listed.json()["items"]} == {"Acme", "Initech"}
    patched = await client.patch(
        f"/api/orgs/{org['id']}", json={"description": "TPS"}, headers=root.headers
    )
    assert patched.json()["description"] == "TPS"
    assert (await client.delete(f"/api/orgs/{org['id']}", headers=root.headers)).status_code == 204
    assert (await client.get(f"/api/orgs/{org['id']}", headers=root.headers)).status_code == 404


async def test_members_see_only_their_org(app: FastAPI, client: httpx.AsyncClient) -> None:
    a = await signed_in(app, client, "a@acme.test", role="admin")
    b = await signed_in(app, client, "b@globex.test", role="viewer", org="Globex")
    assert (await client.get(f"/api/orgs/{a.org_id}", headers=a.headers)).status_code == 200
    assert (await client.get(f"/api/orgs/{a.org_id}", headers=b.headers)).status_code == 404
    assert [
        o["name"] for o in (await client.get("/api/orgs", headers=b.headers)).json()["items"]
    ] == ["Globex"]
    assert (
        await client.post("/api/orgs", json={"name": "X"}, headers=a.headers)
    ).status_code == 403
    assert (
        await client.patch(f"/api/orgs/{a.org_id}", json={"name": "Renamed"}, headers=a.headers)
    ).status_code == 403
    ok = await client.patch(
        f"/api/orgs/{a.org_id}", json={"description": "ours"}, headers=a.headers
    )
    assert ok.status_code == 200


async def test_org_with_users_cannot_be_deleted(app: FastAPI, client: httpx.AsyncClient) -> None:
    root = await signed_in(app, client, "root@acme.test", role="admin", platform_admin=True)
    other = await signed_in(app, client, "x@globex.test", org="Globex")
    r = await client.delete(f"/api/orgs/{other.org_id}", headers=root.headers)
    assert r.status_code == 409


async def test_pagination_cursor(app: FastAPI, client: httpx.AsyncClient) -> None:
    root = await signed_in(app, client, "root@acme.test", role="admin", platform_admin=True)
    for name in ("B-org", "C-org", "D-org"):
        await client.post("/api/orgs", json={"name": name}, headers=root.headers)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/orgs", params=params, headers=root.headers)).json()
        seen += [o["name"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["Acme", "B-org", "C-org", "D-org"]
    bad = await client.get("/api/orgs", params={"cursor": "garbage!"}, headers=root.headers)
    assert bad.status_code == 400
