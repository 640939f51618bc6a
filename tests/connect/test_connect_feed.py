"""Issue 18 §4: the feed is not flooded. Showing Connect code is not a connect; a person's
connects to a dataset within an hour are one feed item (each stays in the audit log); one
PATCH is one feed item."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI

from tests.connect.test_endpoints import _audit, _connect, _ds, _events, _profile
from tests.factories import signed_in


async def _feed_types(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    resp = await client.get("/api/feed", params={"limit": 100}, headers=headers)
    assert resp.status_code == 200, resp.text
    return [i["type"] for i in resp.json()["items"]]


async def test_showing_the_code_records_nothing(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    viewer = await signed_in(app, client, "v@acme.test")
    ds = await _ds(client, producer, "warehouse.sales.orders", visibility="public")
    profile = await _profile(client, viewer, "postgresql")
    follow = await client.put(f"/api/follows/{ds['id']}", headers=producer.headers)
    assert follow.status_code == 200, follow.text
    for _ in range(3):  # opening the Connect tab, switching tabs, coming back
        shown = await client.get(
            f"/api/datasets/{ds['id']}/connect",
            params={"profile_id": profile["id"], "kinds": ["python", "sql"]},
            headers=viewer.headers,
        )
        assert shown.status_code == 200, shown.text
        body = shown.json()
        assert [a["kind"] for a in body["artifacts"]] == ["python", "sql"]
        assert body["profile_id"] == profile["id"]
    assert await _events(raw_conn, "dataset.connected") == []
    assert await _audit(raw_conn, "dataset.connect") == []
    assert "dataset.connected" not in await _feed_types(client, producer.headers)
    # The same checks as a connect: a hidden dataset is 404, a bad kind 422.
    private = await _ds(client, producer, "warehouse.sales.secret", visibility="private")
    hidden = await client.get(f"/api/datasets/{private['id']}/connect", headers=viewer.headers)
    assert hidden.status_code == 404
    bad = await client.get(
        f"/api/datasets/{ds['id']}/connect", params={"kinds": "terraform"}, headers=viewer.headers
    )
    assert bad.status_code == 422


async def test_repeated_connects_within_an_hour_are_one_feed_item(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    viewer = await signed_in(app, client, "v@acme.test")
    colleague = await signed_in(app, client, "c@acme.test")
    ds = await _ds(client, producer, "warehouse.sales.orders", visibility="public")
    await _connect(client, viewer, ds["id"], kinds=["python"], action="copy")
    await _connect(client, viewer, ds["id"], kinds=["sql"], action="copy")
    await _connect(client, viewer, ds["id"], kinds=["dbt"], action="download")
    await _connect(client, colleague, ds["id"], kinds=["python"], action="copy")
    assert (await _feed_types(client, producer.headers)).count("dataset.connected") == 2
    (first, other) = await _events(raw_conn, "dataset.connected")
    assert first["payload"]["action"] == "copy" and first["payload"]["kinds"] == ["python"]
    assert str(first["actor_id"]) == viewer.id and str(other["actor_id"]) == colleague.id
    audited = await _audit(raw_conn, "dataset.connect")
    assert [(a["details"]["action"], a["details"]["kinds"]) for a in audited] == [
        ("copy", ["python"]),
        ("copy", ["sql"]),
        ("download", ["dbt"]),
        ("copy", ["python"]),
    ]
    # An hour later, the same person connecting again is news again.
    await raw_conn.execute("UPDATE events SET occurred_at = occurred_at - interval '61 minutes'")
    await _connect(client, viewer, ds["id"], kinds=["python"], action="copy")
    assert len(await _events(raw_conn, "dataset.connected")) == 3


async def test_one_patch_is_one_feed_item(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    ds = await _ds(client, producer, "warehouse.sales.orders", visibility="internal")
    before = len(await _feed_types(client, producer.headers))
    changed = await client.patch(
        f"/api/datasets/{ds['id']}",
        json={"visibility": "public", "description": "Orders, one row per order."},
        headers=producer.headers,
    )
    assert changed.status_code == 200, changed.text
    types = await _feed_types(client, producer.headers)
    assert len(types) == before + 1
    assert types[0] == "dataset.visibility_changed"
    (event,) = await _events(raw_conn, "dataset.visibility_changed")
    assert event["payload"] == {
        "fields": ["description", "visibility"],
        "before": "internal",
        "after": "public",
    }
    assert await _events(raw_conn, "dataset.updated") == []
    deprecated = await client.patch(
        f"/api/datasets/{ds['id']}",
        json={"status": "deprecated", "visibility": "internal"},
        headers=producer.headers,
    )
    assert deprecated.status_code == 200, deprecated.text
    assert len(await _feed_types(client, producer.headers)) == before + 2
