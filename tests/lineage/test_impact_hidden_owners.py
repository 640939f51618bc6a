"""Issue 18 §5: the impact of a change on datasets the caller may not see says that some
owners are hidden (a count), instead of "nobody owns the affected datasets", naming nobody."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.catalog.test_search import _ds
from tests.factories import signed_in


async def _edge(c: httpx.AsyncClient, who, src: str, dst: str) -> None:
    r = await c.post("/api/lineage/edges", json={"source": src, "target": dst}, headers=who.headers)
    assert r.status_code == 201, r.text


async def test_hidden_owners_are_counted_not_named(app: FastAPI, client: httpx.AsyncClient) -> None:
    producer = await signed_in(app, client, "producer@acme.test", role="producer")
    keeper = await signed_in(app, client, "keeper@acme.test", role="producer")
    steward = await signed_in(app, client, "steward@acme.test", role="steward")
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    viewer = await signed_in(app, client, "viewer@acme.test")
    src = await _ds(client, producer, "s.orders", visibility="public")
    secret = await _ds(
        client, producer, "s.secret_mart", visibility="private", owners=[keeper.id, steward.id]
    )
    also_secret = await _ds(
        client, producer, "s.secret_daily", visibility="private", owners=[keeper.id]
    )
    for a, b in ((src, secret), (secret, also_secret)):
        await _edge(client, admin, a["id"], b["id"])

    def impact(who) -> httpx.Response:
        return client.get("/api/lineage/impact", params={"node": src["id"]}, headers=who.headers)

    seen = (await impact(viewer)).json()
    assert seen["totals"]["restricted"] == 2
    assert seen["totals"]["people"] == 0 and seen["notify"] == []
    assert seen["totals"]["hidden_owners"] == 2  # keeper and steward, each counted once
    assert "keeper" not in str(seen) and "steward@" not in str(seen)
    # Someone who may see them is told who they are, and nothing is hidden from them.
    full = (await impact(steward)).json()
    assert full["totals"]["hidden_owners"] == 0
    assert {p["email"] for p in full["notify"]} == {"keeper@acme.test", "steward@acme.test"}


async def test_an_owner_already_to_notify_is_not_counted_as_hidden(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    producer = await signed_in(app, client, "producer@acme.test", role="producer")
    viewer = await signed_in(app, client, "viewer@acme.test")
    src = await _ds(client, producer, "s.orders", visibility="public")
    secret = await _ds(client, producer, "s.secret", visibility="private")
    sink = await _ds(client, producer, "s.sink", visibility="public")
    for a, b in ((src, secret), (secret, sink)):
        await _edge(client, producer, a["id"], b["id"])
    seen = (
        await client.get("/api/lineage/impact", params={"node": src["id"]}, headers=viewer.headers)
    ).json()
    assert [p["email"] for p in seen["notify"]] == ["producer@acme.test"]
    assert seen["totals"]["hidden_owners"] == 0
