"""Audit log search, exports and verification, with role checks."""

from __future__ import annotations

import csv
import io
import json

import asyncpg
import httpx
from fastapi import FastAPI

from tests.catalog.test_search import _ds
from tests.factories import signed_in


async def _activity(app: FastAPI, client: httpx.AsyncClient) -> dict:
    steward = await signed_in(app, client, "steward@acme.test", role="steward")
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    viewer = await signed_in(app, client, "viewer@acme.test", role="viewer")
    other = await signed_in(app, client, "admin@globex.test", role="admin", org="Globex")
    root = await signed_in(
        app, client, "root@globex.test", role="admin", org="Globex", platform_admin=True
    )
    ds = await _ds(client, prod, "s.orders")
    for i in range(3):
        await client.patch(
            f"/api/datasets/{ds['id']}", json={"description": f"v{i}"}, headers=prod.headers
        )
    await _ds(client, other, "g.secret")
    return {
        "steward": steward,
        "prod": prod,
        "viewer": viewer,
        "other": other,
        "root": root,
        "ds": ds,
    }


async def test_roles_and_scope(app: FastAPI, client: httpx.AsyncClient) -> None:
    w = await _activity(app, client)
    assert (await client.get("/api/audit", headers=w["viewer"].headers)).status_code == 403
    assert (await client.get("/api/audit", headers=w["prod"].headers)).status_code == 403
    mine = (
        await client.get("/api/audit", params={"limit": 200}, headers=w["steward"].headers)
    ).json()
    assert mine["items"]
    assert all(i["org_id"] == w["steward"].org_id for i in mine["items"])
    assert "g.secret" not in json.dumps(mine)
    everything = (
        await client.get("/api/audit", params={"limit": 200}, headers=w["root"].headers)
    ).json()
    assert len(everything["items"]) > len(mine["items"])
    assert (await client.get("/api/audit/verify", headers=w["steward"].headers)).status_code == 403
    ok = (await client.get("/api/audit/verify", headers=w["root"].headers)).json()
    assert ok["ok"] is True and ok["checked"] == len(everything["items"])


async def test_filters_and_pagination(app: FastAPI, client: httpx.AsyncClient) -> None:
    w = await _activity(app, client)
    h = w["steward"].headers
    updates = (
        await client.get("/api/audit", params={"action": "dataset.update"}, headers=h)
    ).json()
    assert len(updates["items"]) == 3
    assert [i["changes"]["description"]["after"] for i in updates["items"]] == [
        "v2",
        "v1",
        "v0",
    ]  # newest first
    item = updates["items"][0]
    assert item["actor"] == {"id": w["prod"].id, "name": "prod@acme.test", "kind": "user"}
    assert item["target"]["kind"] == "dataset" and item["target"]["id"] == w["ds"]["id"]
    assert item["request_id"] and item["client"] and len(item["hash"]) == 64
    by_target = (
        await client.get("/api/audit", params={"target": f"dataset:{w['ds']['id']}"}, headers=h)
    ).json()
    assert {i["action"] for i in by_target["items"]} == {"dataset.publish", "dataset.update"}
    prefix = (await client.get("/api/audit", params={"action": "dataset."}, headers=h)).json()
    assert len(prefix["items"]) == 4
    by_actor = (
        await client.get(
            "/api/audit", params={"actor": "PROD@acme.test", "action": "dataset.*"}, headers=h
        )
    ).json()
    assert len(by_actor["items"]) == 4
    text = (await client.get("/api/audit", params={"query": "s.orders"}, headers=h)).json()
    assert len(text["items"]) == 4
    seen, cursor = [], None
    while True:
        page = (
            await client.get(
                "/api/audit",
                params={"limit": 2} | ({"cursor": cursor} if cursor else {}),
                headers=h,
            )
        ).json()
        seen += [i["seq"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    bad = await client.get(
        "/api/audit",
        params={"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"},
        headers=h,
    )
    assert bad.status_code == 400


async def test_exports_match_the_api(app: FastAPI, client: httpx.AsyncClient) -> None:
    w = await _activity(app, client)
    h = w["steward"].headers
    api = (await client.get("/api/audit", params={"limit": 200}, headers=h)).json()["items"]
    jsonl = await client.get("/api/audit/export", params={"format": "jsonl"}, headers=h)
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert lines == api
    raw_csv = await client.get(
        "/api/audit/export", params={"format": "csv", "action": "dataset."}, headers=h
    )
    rows = list(csv.DictReader(io.StringIO(raw_csv.text)))
    assert [r["id"] for r in rows] == [i["id"] for i in api if i["action"].startswith("dataset.")]
    assert "attachment" in raw_csv.headers["content-disposition"]
    assert (await client.get("/api/audit/export", headers=w["viewer"].headers)).status_code == 403


async def test_verify_names_the_tampered_entry(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    w = await _activity(app, client)
    victim = await raw_conn.fetchrow(
        "SELECT id, seq FROM audit_log WHERE action = 'dataset.update' ORDER BY seq LIMIT 1"
    )
    async with raw_conn.transaction():
        await raw_conn.execute("SET LOCAL session_replication_role = replica")
        await raw_conn.execute(
            "UPDATE audit_log SET actor_name = 'someone-else' WHERE id = $1", victim["id"]
        )
    r = (await client.get("/api/audit/verify", headers=w["root"].headers)).json()
    assert r["ok"] is False
    assert r["first_bad_id"] == str(victim["id"]) and r["first_bad_seq"] == victim["seq"]
