"""Alert rules through the API: validation, secrets as references only, the SSRF guard at
creation, who owns and sees which rules."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI

from tests.alerts.support import dataset, rule
from tests.factories import api_key, signed_in

HOOK = {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "env:ALERT_SECRET"}
RAW = "s3cr3t-raw-value-never-stored"


async def _everywhere(raw: asyncpg.Connection, needle: str) -> list[str]:
    found = []
    for table in ("alert_rules", "alert_deliveries", "audit_log", "events"):
        rows = await raw.fetch(f"SELECT row_to_json(x)::text AS j FROM {table} x")
        if any(needle in r["j"] for r in rows):
            found.append(table)
    return found


async def test_a_person_creates_reads_changes_and_deletes_a_rule(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    me = await signed_in(app, client, "ann@acme.test", role="viewer")
    made = await rule(client, me, HOOK, events=["process.run_failed", "dataset.sla_breached"])
    assert made["enabled"] is True and made["org_rule"] is False
    assert made["channel"] == {
        "kind": "webhook",
        "url": HOOK["url"],
        "secret": "env:ALERT_SECRET",
        "to": None,
    }
    r = await client.get("/api/alerts", headers=me.headers)
    assert [x["id"] for x in r.json()["items"]] == [made["id"]]
    r = await client.patch(
        f"/api/alerts/{made['id']}", json={"enabled": False, "name": "quiet"}, headers=me.headers
    )
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["name"] == "quiet"
    r = await client.delete(f"/api/alerts/{made['id']}", headers=me.headers)
    assert r.status_code == 204
    r = await client.get(f"/api/alerts/{made['id']}", headers=me.headers)
    assert r.status_code == 404


async def test_unknown_event_types_are_refused_with_the_known_list(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    me = await signed_in(app, client, "ann@acme.test")
    r = await client.post(
        "/api/alerts",
        json={"name": "x", "events": ["process.run_failed", "dataset.exploded"], "channel": HOOK},
        headers=me.headers,
    )
    assert r.status_code == 422
    assert "dataset.exploded" in r.text and "dataset.sla_breached" in r.text


async def test_a_raw_secret_is_refused_and_never_stored(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    me = await signed_in(app, client, "ann@acme.test")
    r = await client.post(
        "/api/alerts",
        json={"name": "x", "events": ["dataset.updated"], "channel": {**HOOK, "secret": RAW}},
        headers=me.headers,
    )
    assert r.status_code == 422
    assert RAW not in r.text and "env:" in r.text
    made = await rule(client, me, HOOK)
    r = await client.patch(
        f"/api/alerts/{made['id']}", json={"channel": {**HOOK, "secret": RAW}}, headers=me.headers
    )
    assert r.status_code == 422 and RAW not in r.text
    assert await _everywhere(raw_conn, RAW) == []


async def test_cloud_metadata_and_credentials_in_urls_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    me = await signed_in(app, client, "ann@acme.test")
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:169.254.169.254]/",
    ):
        r = await client.post(
            "/api/alerts",
            json={
                "name": "x",
                "events": ["dataset.updated"],
                "channel": {"kind": "slack", "url": url},
            },
            headers=me.headers,
        )
        assert r.status_code == 422, (url, r.text)
        assert "refused" in r.json()["detail"]
    for url in ("ftp://example.com/x", "http://user:pw@127.0.0.1:9/x", "not a url"):
        r = await client.post(
            "/api/alerts",
            json={
                "name": "x",
                "events": ["dataset.updated"],
                "channel": {"kind": "webhook", "url": url},
            },
            headers=me.headers,
        )
        assert r.status_code == 422, (url, r.text)


async def test_org_rules_are_made_and_seen_by_admins_and_stewards_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    steward = await signed_in(app, client, "st@acme.test", role="steward")
    viewer = await signed_in(app, client, "vi@acme.test", role="viewer")
    r = await client.post(
        "/api/alerts",
        json={"name": "x", "events": ["dataset.updated"], "channel": HOOK, "org_rule": True},
        headers=viewer.headers,
    )
    assert r.status_code == 403
    org_rule = await rule(client, steward, HOOK, org_rule=True)
    assert org_rule["org_rule"] is True and org_rule["owner_id"] is None
    mine = await rule(client, viewer, HOOK)
    assert (
        await client.get(f"/api/alerts/{org_rule['id']}", headers=viewer.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/alerts/{mine['id']}", headers=steward.headers)
    ).status_code == 404
    listed = (await client.get("/api/alerts", headers=steward.headers)).json()["items"]
    assert [x["id"] for x in listed] == [org_rule["id"]]
    # personal scopes need a person
    r = await client.post(
        "/api/alerts",
        json={
            "name": "x",
            "events": ["dataset.updated"],
            "channel": HOOK,
            "org_rule": True,
            "scope": {"owned_by_me": True},
        },
        headers=steward.headers,
    )
    assert r.status_code == 422
    key = await api_key(client, steward.headers, role="steward")
    r = await client.post(
        "/api/alerts",
        json={"name": "x", "events": ["dataset.updated"], "channel": HOOK},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 403


async def test_scope_references_resolve_and_hidden_ones_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await signed_in(app, client, "own@acme.test", role="producer")
    other = await signed_in(app, client, "out@globex.test", org="Globex", role="producer")
    ds = await dataset(client, owner, "shop.orders", visibility="public")
    hidden = await dataset(client, owner, "shop.secret", visibility="private")
    typed = f"dataset:postgres://db:5432:{ds['name']}"
    made = await rule(
        client, other, HOOK, scope={"affects": {"node": typed, "depth": 3}, "tags": ["finance"]}
    )
    assert made["scope"] == {
        "affects": {"node": ds["id"], "kind": "dataset", "depth": 3},
        "tags": ["finance"],
    }
    for scope in (
        {"affects": {"node": hidden["id"]}},
        {"datasets": [hidden["id"]]},
        {"datasets": ["dataset:postgres://db:5432:no.such"]},
        {"processes": [ds["id"]]},
    ):
        r = await client.post(
            "/api/alerts",
            json={"name": "x", "events": ["dataset.updated"], "channel": HOOK, "scope": scope},
            headers=other.headers,
        )
        assert r.status_code == 422, (scope, r.text)
        assert "shop.secret" not in r.text
