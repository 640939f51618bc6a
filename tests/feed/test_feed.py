"""The feed: visibility, cursor stability under concurrent inserts, for_you ranking, follows."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from fastapi import FastAPI

from tests.catalog.test_search import _ds
from tests.factories import signed_in


async def _feed(client: httpx.AsyncClient, who, **params) -> dict:
    resp = await client.get("/api/feed", params=params, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_feed_items_shape_and_visibility(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    colleague = await signed_in(app, client, "col@acme.test", role="viewer")
    outsider = await signed_in(app, client, "out@globex.test", role="admin", org="Globex")
    pub = await _ds(client, owner, "s.public_t", visibility="public")
    internal = await _ds(client, owner, "s.internal_t", visibility="internal")
    private = await _ds(client, owner, "s.private_t", visibility="private")
    mine = await _feed(client, owner)
    assert {i["subject"]["id"] for i in mine["items"]} == {pub["id"], internal["id"], private["id"]}
    first = mine["items"][0]
    assert set(first) == {"id", "type", "occurred_at", "actor", "org_id", "subject", "payload"}
    assert first["actor"]["name"] == "owner@acme.test"
    assert first["type"] == "dataset.published"
    assert {i["subject"]["id"] for i in (await _feed(client, colleague))["items"]} == {
        pub["id"],
        internal["id"],
    }
    seen_by_outsider = await _feed(client, outsider)
    assert {i["subject"]["id"] for i in seen_by_outsider["items"]} == {pub["id"]}
    assert "private_t" not in str(seen_by_outsider) and "internal_t" not in str(seen_by_outsider)
    # Administrative events (user creation, sign-ins) never show in the feed.
    assert all(i["subject"]["kind"] == "dataset" for i in mine["items"])


async def test_filters(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    a = await _ds(client, owner, "s.a")
    await _ds(client, owner, "s.b")
    await client.patch(f"/api/datasets/{a['id']}", json={"description": "x"}, headers=owner.headers)
    only_a = await _feed(client, owner, dataset_id=a["id"])
    assert [i["type"] for i in only_a["items"]] == ["dataset.updated", "dataset.published"]
    updates = await _feed(client, owner, type="dataset.updated")
    assert [i["subject"]["id"] for i in updates["items"]] == [a["id"]]


async def test_pagination_is_stable_under_concurrent_inserts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    for i in range(10):
        await _ds(client, owner, f"s.t{i}")
    pages, cursor, seen = 0, None, []
    while True:
        page = await _feed(client, owner, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [i["id"] for i in page["items"]]
        # New events arrive between pages; they must neither shift nor repeat older ones.
        await _ds(client, owner, f"s.new{pages}")
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 10


async def test_follow_toggle_and_for_you(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    reader = await signed_in(app, client, "reader@globex.test", role="viewer", org="Globex")
    followed = await _ds(client, owner, "s.followed", visibility="public")
    other = await _ds(client, owner, "s.other", visibility="public")
    r = await client.post(
        "/api/follows", json={"dataset_id": followed["id"]}, headers=reader.headers
    )
    assert r.json() == {"dataset_id": followed["id"], "following": True, "follower_count": 1}
    profile = await client.get(f"/api/datasets/{followed['id']}", headers=reader.headers)
    assert profile.json()["follower_count"] == 1 and profile.json()["following"] is True
    listed = await client.get("/api/follows", headers=reader.headers)
    assert [f["dataset_id"] for f in listed.json()] == [followed["id"]]
    # Newer activity on the other dataset; for_you still puts the followed one first.
    await client.patch(
        f"/api/datasets/{other['id']}", json={"description": "newer"}, headers=owner.headers
    )
    await client.patch(
        f"/api/datasets/{followed['id']}", json={"description": "older"}, headers=owner.headers
    )
    await client.patch(
        f"/api/datasets/{other['id']}", json={"description": "newest"}, headers=owner.headers
    )
    recent = await _feed(client, reader)
    assert recent["items"][0]["subject"]["id"] == other["id"]
    for_you = await _feed(client, reader, mode="for_you")
    firsts = [i["subject"]["id"] for i in for_you["items"][:3]]
    assert firsts == [followed["id"]] * 3  # updated, followed, published
    off = await client.post(
        "/api/follows", json={"dataset_id": followed["id"]}, headers=reader.headers
    )
    assert off.json()["following"] is False and off.json()["follower_count"] == 0
    types = [
        r["type"]
        for r in await raw_conn.fetch(
            "SELECT type FROM events WHERE type LIKE 'dataset.%follow%' ORDER BY seq"
        )
    ]
    assert types == ["dataset.followed", "dataset.unfollowed"]


async def test_cannot_follow_what_you_cannot_see(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    outsider = await signed_in(app, client, "out@globex.test", role="viewer", org="Globex")
    hidden = await _ds(client, owner, "s.hidden", visibility="internal")
    r = await client.post(
        "/api/follows", json={"dataset_id": hidden["id"]}, headers=outsider.headers
    )
    assert r.status_code == 404


async def test_concurrent_writes_all_appear(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    await asyncio.gather(*[_ds(client, owner, f"c.t{i}") for i in range(8)])
    assert len((await _feed(client, owner, limit=50))["items"]) == 8
