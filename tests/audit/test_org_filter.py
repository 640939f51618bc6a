"""The audit log's organization filter: platform admins narrow to one org; others keep theirs."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.audit.test_endpoints import _activity


async def test_platform_admin_narrows_to_one_org(app: FastAPI, client: httpx.AsyncClient) -> None:
    w = await _activity(app, client)
    acme = w["steward"].org_id
    res = await client.get(
        "/api/audit", params={"org_id": acme, "limit": 200}, headers=w["root"].headers
    )
    assert res.status_code == 200
    items = res.json()["items"]
    assert items and all(i["org_id"] == acme for i in items)
    assert any(i["target"]["name"] == "s.orders" for i in items)
    assert not any(i["target"]["name"] == "g.secret" for i in items)
    export = await client.get(
        "/api/audit/export",
        params={"org_id": acme, "format": "jsonl"},
        headers=w["root"].headers,
    )
    assert export.status_code == 200
    assert len(export.text.splitlines()) == len(items)


async def test_others_cannot_read_another_org(app: FastAPI, client: httpx.AsyncClient) -> None:
    w = await _activity(app, client)
    steward = w["steward"]
    own = await client.get("/api/audit", params={"org_id": steward.org_id}, headers=steward.headers)
    assert own.status_code == 200 and own.json()["items"]
    globex = w["other"].org_id
    res = await client.get("/api/audit", params={"org_id": globex}, headers=steward.headers)
    assert res.status_code == 404
    assert "g.secret" not in res.text
    unknown = await client.get(
        "/api/audit/export", params={"org_id": str(uuid.uuid4())}, headers=steward.headers
    )
    assert unknown.status_code == 404
