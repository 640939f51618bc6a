"""Issue 18 §5: one platform validation for publish and edit, a readable answer to a body that
is not JSON, and search by a namespace or a full namespace/name."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.catalog.test_search import _ds, _search
from tests.factories import signed_in


async def test_a_made_up_platform_is_refused_by_publish_and_edit_alike(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    made_up = {"namespace": "x://y", "name": "a.b", "platform": "nonexistent-platform"}
    post = await client.post("/api/datasets", json=made_up, headers=producer.headers)
    ds = await _ds(client, producer, "s.a")
    patch = await client.patch(
        f"/api/datasets/{ds['id']}",
        json={"platform": "nonexistent-platform"},
        headers=producer.headers,
    )
    assert post.status_code == patch.status_code == 422
    assert post.json()["errors"] == patch.json()["errors"]
    assert patch.json()["errors"][0]["field"] == "platform"
    assert "not a known platform" in patch.json()["detail"]
    again = await client.get(f"/api/datasets/{ds['id']}", headers=producer.headers)
    assert again.json()["platform"] == "postgresql"
    # A known platform, in any case or by its usual alias, is accepted by both.
    moved = await client.patch(
        f"/api/datasets/{ds['id']}", json={"platform": "Postgres"}, headers=producer.headers
    )
    assert moved.status_code == 200 and moved.json()["platform"] == "postgresql"
    snow = await client.patch(
        f"/api/datasets/{ds['id']}", json={"platform": "snowflake"}, headers=producer.headers
    )
    assert snow.status_code == 200 and snow.json()["platform"] == "snowflake"


async def test_a_body_that_is_not_json_says_where(app: FastAPI, client: httpx.AsyncClient) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    ds = await _ds(client, producer, "s.a")
    headers = {**producer.headers, "Content-Type": "application/json"}
    bad = await client.patch(
        f"/api/datasets/{ds['id']}", content=b'{"description": x}', headers=headers
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    body = bad.json()
    assert body["detail"].startswith("The body is not valid JSON (line 1, column 17)")
    assert body["errors"][0]["field"] == "body"
    assert "JSON decode error" not in bad.text
    multi = await client.post(
        "/api/datasets", content=b'{\n  "name": "a",\n  "x": ,\n}', headers=headers
    )
    assert multi.json()["detail"].startswith("The body is not valid JSON (line 3, column 8)")


async def test_search_by_namespace_or_full_name(app: FastAPI, client: httpx.AsyncClient) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    ns = "snowflake://acme.eu-west-1"
    revenue = await _ds(
        client, producer, "ANALYTICS.MART.DAILY_REVENUE", namespace=ns, platform="snowflake"
    )
    orders = await _ds(
        client, producer, "ANALYTICS.CORE.ORDERS", namespace=ns, platform="snowflake"
    )
    await _ds(client, producer, "ANALYTICS.CORE.ORDERS", namespace="snowflake://other")
    by_namespace = await _search(client, producer, query=ns)
    assert {d["id"] for d in by_namespace["items"]} == {revenue["id"], orders["id"]}
    assert by_namespace["total"] == 2
    full = await _search(client, producer, query=f"{ns}/ANALYTICS.MART.DAILY_REVENUE")
    assert [d["id"] for d in full["items"]] == [revenue["id"]]
    # Names with slashes (object stores) are found by their full address too.
    path = await _ds(
        client, producer, "/warehouse/events/2026", namespace="s3://lake", platform="s3"
    )
    found = await _search(client, producer, query="s3://lake//warehouse/events/2026")
    assert [d["id"] for d in found["items"]] == [path["id"]]
    # Other sorts filter the same way.
    by_name = await _search(client, producer, query=ns, sort="name")
    assert [d["name"] for d in by_name["items"]] == [
        "ANALYTICS.CORE.ORDERS",
        "ANALYTICS.MART.DAILY_REVENUE",
    ]
