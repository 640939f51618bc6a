"""Follows: POST /api/follows toggles as the seed says; PUT / DELETE /api/follows/{id} are
idempotent, so a retried request never undoes itself."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from fastapi import FastAPI

from tests.catalog.test_search import _ds
from tests.factories import api_key, signed_in


async def _follow_events(raw_conn: asyncpg.Connection) -> list[str]:
    rows = await raw_conn.fetch(
        "SELECT type FROM events WHERE type LIKE 'dataset.%follow%' ORDER BY seq"
    )
    return [r["type"] for r in rows]


async def test_put_and_delete_are_idempotent(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    reader = await signed_in(app, client, "reader@acme.test")
    ds = await _ds(client, owner, "s.followed", visibility="internal")
    url = f"/api/follows/{ds['id']}"
    for _ in range(2):  # a retried follow stays a follow
        r = await client.put(url, headers=reader.headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"dataset_id": ds["id"], "following": True, "follower_count": 1}
    listed = await client.get("/api/follows", headers=reader.headers)
    assert [f["dataset_id"] for f in listed.json()] == [ds["id"]]
    for _ in range(2):
        r = await client.delete(url, headers=reader.headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"dataset_id": ds["id"], "following": False, "follower_count": 0}
    # One event and one audit entry per real change, none for the repeats.
    assert await _follow_events(raw_conn) == ["dataset.followed", "dataset.unfollowed"]
    audited = await raw_conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action IN ('dataset.follow', 'dataset.unfollow')"
    )
    assert audited == 2


async def test_concurrent_follows_are_one_follow(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    reader = await signed_in(app, client, "reader@acme.test")
    ds = await _ds(client, owner, "s.race", visibility="public")
    answers = await asyncio.gather(
        *[client.put(f"/api/follows/{ds['id']}", headers=reader.headers) for _ in range(4)]
    )
    assert {r.json()["following"] for r in answers} == {True}
    assert await _follow_events(raw_conn) == ["dataset.followed"]


async def test_post_still_toggles_as_the_seed_says(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    ds = await _ds(client, owner, "s.toggle", visibility="public")
    body = {"dataset_id": ds["id"]}
    on = await client.post("/api/follows", json=body, headers=owner.headers)
    off = await client.post("/api/follows", json=body, headers=owner.headers)
    assert (on.json()["following"], off.json()["following"]) == (True, False)


async def test_hidden_datasets_and_api_keys(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    outsider = await signed_in(app, client, "out@globex.test", org="Globex")
    hidden = await _ds(client, owner, "s.hidden", visibility="internal")
    for method in ("PUT", "DELETE"):
        r = await client.request(method, f"/api/follows/{hidden['id']}", headers=outsider.headers)
        assert r.status_code == 404
    key = await api_key(client, owner.headers)
    r = await client.put(f"/api/follows/{hidden['id']}", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403
