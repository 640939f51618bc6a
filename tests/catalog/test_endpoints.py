"""Dataset profiles: publish, get, PATCH merge and ETags, deprecate, validation, audit, events."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI

from tests.factories import Account, signed_in

ORDERS = {
    "namespace": "snowflake://acme.eu-west-1",
    "name": "ANALYTICS.PUBLIC.ORDERS",
    "platform": "snowflake",
    "display_name": "Orders",
    "description": "Every order placed in the **web shop**.",
    "domain": "sales",
    "tags": ["gold", "PII"],
    "source": {"database": "ANALYTICS", "schema": "PUBLIC", "table": "ORDERS"},
    "fields": [
        {"name": "order_id", "type": "NUMBER", "description": "Primary key"},
        {"name": "email", "type": "VARCHAR", "tags": ["pii"]},
    ],
}


async def publish(client: httpx.AsyncClient, who: Account, **overrides: object) -> dict:
    resp = await client.post("/api/datasets", json={**ORDERS, **overrides}, headers=who.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_publish_and_get(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    created = await client.post("/api/datasets", json=ORDERS, headers=prod.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["etag"]
    assert body["visibility"] == "internal"  # the default
    assert body["tags"] == ["gold", "pii"]
    assert body["owners"][0]["email"] == "prod@acme.test"
    assert body["org"]["name"] == "Acme"
    assert body["source"]["schema"] == "PUBLIC"
    got = await client.get(f"/api/datasets/{body['id']}", headers=prod.headers)
    assert got.json() == body
    audit = await raw_conn.fetchrow(
        "SELECT action, actor_name, target_id FROM audit_log WHERE action LIKE 'dataset.%'"
    )
    assert dict(audit) == {
        "action": "dataset.publish",
        "actor_name": "prod@acme.test",
        "target_id": body["id"],
    }
    event = await raw_conn.fetchrow(
        "SELECT type, subject_kind, subject_id FROM events WHERE type LIKE 'dataset.%'"
    )
    assert dict(event) == {
        "type": "dataset.published",
        "subject_kind": "dataset",
        "subject_id": body["id"],
    }


async def test_duplicate_namespace_and_name_is_409(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    await publish(client, prod)
    again = await client.post("/api/datasets", json=ORDERS, headers=prod.headers)
    assert again.status_code == 409


async def test_validation_lists_every_bad_field(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    bad = {
        "namespace": "",
        "platform": "Not A Platform!",
        "visibility": "secret",
        "tags": ["ok", "bad tag"],
        "fields": [{"type": "int"}],
        "unknown": True,
    }
    resp = await client.post("/api/datasets", json=bad, headers=prod.headers)
    assert resp.status_code == 422
    fields = {e["field"] for e in resp.json()["errors"]}
    assert {
        "namespace",
        "name",
        "platform",
        "visibility",
        "tags.1",
        "fields.0.name",
        "unknown",
    } <= fields


async def test_viewers_cannot_publish(app: FastAPI, client: httpx.AsyncClient) -> None:
    viewer = await signed_in(app, client, "v@acme.test", role="viewer")
    assert (
        await client.post("/api/datasets", json=ORDERS, headers=viewer.headers)
    ).status_code == 403


async def test_patch_changes_only_given_fields_and_checks_etag(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    ds = await publish(client, prod)
    first = await client.get(f"/api/datasets/{ds['id']}", headers=prod.headers)
    tag = first.headers["etag"]
    patched = await client.patch(
        f"/api/datasets/{ds['id']}",
        json={"description": "New text"},
        headers={**prod.headers, "If-Match": tag},
    )
    assert patched.status_code == 200
    after = patched.json()
    assert after["description"] == "New text"
    assert (
        after["tags"] == ds["tags"]
        and after["fields"] == ds["fields"]
        and after["domain"] == "sales"
    )
    assert after["version"] == ds["version"] + 1
    stale = await client.patch(
        f"/api/datasets/{ds['id']}",
        json={"domain": "finance"},
        headers={**prod.headers, "If-Match": tag},
    )
    assert stale.status_code == 412
    assert stale.headers["etag"] == patched.headers["etag"]
    event = await raw_conn.fetchrow("SELECT payload FROM events WHERE type = 'dataset.updated'")
    assert '"description"' in event["payload"]
    audit = await raw_conn.fetchrow("SELECT changes FROM audit_log WHERE action = 'dataset.update'")
    assert "Every order placed" in audit["changes"] and "New text" in audit["changes"]


async def test_visibility_change_and_deprecation(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    ds = await publish(client, prod)
    r = await client.patch(
        f"/api/datasets/{ds['id']}", json={"visibility": "public"}, headers=prod.headers
    )
    assert r.json()["visibility"] == "public"
    gone = await client.delete(f"/api/datasets/{ds['id']}", headers=prod.headers)
    assert gone.json()["status"] == "deprecated"
    actions = [
        r["action"]
        for r in await raw_conn.fetch(
            "SELECT action FROM audit_log WHERE target_kind='dataset' ORDER BY seq"
        )
    ]
    assert actions == ["dataset.publish", "dataset.visibility_change", "dataset.deprecate"]
    types = [
        r["type"]
        for r in await raw_conn.fetch(
            "SELECT type FROM events WHERE subject_kind='dataset' ORDER BY seq"
        )
    ]
    assert "dataset.visibility_changed" in types and "dataset.deprecated" in types
    default = (await client.get("/api/datasets", headers=prod.headers)).json()
    assert default["total"] == 0
    assert (
        await client.get("/api/datasets", params={"status": "deprecated"}, headers=prod.headers)
    ).status_code == 403
    admin = await signed_in(app, client, "adm@acme.test", role="admin")
    listed = (
        await client.get("/api/datasets", params={"status": "deprecated"}, headers=admin.headers)
    ).json()
    assert [i["id"] for i in listed["items"]] == [ds["id"]]


async def test_non_owner_producer_cannot_change_visibility(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await signed_in(app, client, "own@acme.test", role="producer")
    other = await signed_in(app, client, "oth@acme.test", role="producer")
    ds = await publish(client, owner)
    assert (
        await client.patch(
            f"/api/datasets/{ds['id']}", json={"description": "x"}, headers=other.headers
        )
    ).status_code == 200
    assert (
        await client.patch(
            f"/api/datasets/{ds['id']}", json={"visibility": "public"}, headers=other.headers
        )
    ).status_code == 403


async def test_owners_must_be_users(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    resp = await client.post(
        "/api/datasets",
        json={**ORDERS, "owners": ["00000000-0000-0000-0000-000000000000"]},
        headers=prod.headers,
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "owners.0"
