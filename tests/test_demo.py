"""The demo workspace: built through the API, idempotent, every login works, lineage answers."""

from __future__ import annotations

import json

import asyncpg
import httpx
from fastapi import FastAPI

from datamesh import demo


async def test_demo_builds_once_and_works(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    messages: list[str] = []
    assert await demo.load(app, echo=messages.append) is True
    counts = {
        t: await raw_conn.fetchval(f"SELECT count(*) FROM {t}")
        for t in ("datasets", "processes", "lineage_edges", "events", "audit_log")
    }
    assert counts["datasets"] >= 60 and counts["processes"] == 5 and counts["lineage_edges"] == 11
    profiles = "SELECT count(*) FROM platform_profiles WHERE scope = 'org'"
    assert await raw_conn.fetchval(profiles) == 4
    assert await raw_conn.fetchval("SELECT count(*) FROM nodes WHERE type = 'http_api'") == 1
    assert await demo.load(app, echo=messages.append) is False
    assert {t: await raw_conn.fetchval(f"SELECT count(*) FROM {t}") for t in counts} == counts
    assert messages[-1] == "demo workspace already loaded"
    platforms = {
        r["platform"] for r in await raw_conn.fetch("SELECT DISTINCT platform FROM datasets")
    }
    assert {"snowflake", "databricks", "bigquery", "redshift", "postgresql"} <= platforms
    for login in demo.LOGINS:
        r = await client.post(
            "/api/auth/login", json={"email": login.email, "password": demo.PASSWORD}
        )
        assert r.status_code == 200, login.email
        me = (
            await client.get(
                "/api/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
            )
        ).json()
        assert (me["role"], me["org"]["name"], me["is_platform_admin"]) == (
            login.role,
            login.org,
            login.platform_admin,
        )
        client.cookies.clear()
    token = (
        await client.post(
            "/api/auth/login", json={"email": "producer@acme.test", "password": demo.PASSWORD}
        )
    ).json()["access_token"]
    client.cookies.clear()
    impact = await client.get(
        "/api/lineage/impact",
        params={"node": "dataset:postgres://shop-db:5432:core.orders"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert impact.status_code == 200
    names = {i["name"] for i in impact.json()["items"]}
    assert {
        "ANALYTICS.CORE.ORDERS",
        "ANALYTICS.MART.DAILY_REVENUE",
        "ANALYTICS.MART.SALES_TARGETS",
    } <= names
    # Health: a failed run with its impact, three SLAs (sales targets breached by that failure),
    # and the flow on a dashboard whose nodes are laid out left to right by lineage depth.
    run_failed = await raw_conn.fetchrow(
        "SELECT payload FROM events WHERE type = 'process.run_failed'"
    )
    assert run_failed is not None
    assert "TARGETS_INPUT' does not exist" in json.loads(run_failed["payload"])["error_message"]
    assert await raw_conn.fetchval("SELECT count(*) FROM dataset_slas") == 3
    auth = {"Authorization": f"Bearer {token}"}
    board = (await client.get("/api/dashboards", headers=auth)).json()["items"]
    assert [b["title"] for b in board] == ["Daily sales flow"]
    full = (await client.get(f"/api/dashboards/{board[0]['id']}", headers=auth)).json()
    layout = full["layout"]
    assert len(layout["edges"]) >= 4
    assert not any(e.get("restricted") for e in full["entities"].values())
    xs = {n["position"]["x"] for n in layout["nodes"] if n["kind"] != "note"}
    assert len(xs) >= 5
    assert sum(1 for n in layout["nodes"] if n.get("annotations")) == 3
