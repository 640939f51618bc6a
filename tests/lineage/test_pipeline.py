"""A real pipeline sent through the real OpenLineage client, then graph, impact, columns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.serde import Serde
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from datamesh.config import Settings
from tests.factories import PASSWORD, make_user
from tests.fixtures.live import live_server
from tests.lineage.pipeline import PG, SF, pipeline_events


@pytest.fixture
async def live(settings: Settings, clean_db: None) -> AsyncIterator[tuple[str, object]]:
    async with live_server(settings, migrate_on_start=False) as (url, app):
        yield url, app


async def _api_key(
    c: httpx.AsyncClient, app, email: str = "etl@acme.test", role: str = "producer"
) -> tuple[str, dict]:
    await make_user(app, email, role=role)
    tok = (await c.post("/api/auth/login", json={"email": email, "password": PASSWORD})).json()[
        "access_token"
    ]
    c.cookies.clear()
    headers = {"Authorization": f"Bearer {tok}"}
    key = (
        await c.post(
            "/api/auth/api-keys", json={"name": "openlineage", "role": role}, headers=headers
        )
    ).json()["key"]
    return key, headers


def _emit_all(url: str, key: str, events: list) -> None:
    client = OpenLineageClient(
        transport=HttpTransport(HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": key})))
    )
    for event in events:
        client.emit(event)


async def _ingested(live) -> tuple[httpx.AsyncClient, dict, object]:
    url, app = live
    c = httpx.AsyncClient(base_url=url)
    key, headers = await _api_key(c, app)
    await asyncio.to_thread(_emit_all, url, key, pipeline_events())
    return c, headers, app


async def test_pipeline_builds_the_graph(live) -> None:
    c, headers, _ = await _ingested(live)
    async with aclosing(c):
        g = (
            await c.get(
                "/api/lineage/graph",
                params={
                    "node": f"dataset:{PG}:public.orders",
                    "direction": "downstream",
                    "depth": 10,
                },
                headers=headers,
            )
        ).json()
        by_name = {n["name"]: n for n in g["nodes"]}
        assert {n: by_name[n]["depth"] for n in by_name} == {
            "public.orders": 0,
            "daily_sales.extract_orders": 1,
            "orders": 1,
            "clean_orders": 2,
            "ANALYTICS.STAGING.ORDERS_CLEAN": 2,
            "model.shop.fct_sales": 3,
            "ANALYTICS.MARTS.FCT_SALES": 3,
            "model.shop.sales_by_region": 4,
            "ANALYTICS.MARTS.SALES_BY_REGION": 4,
        }
        assert by_name["clean_orders"]["kind"] == "process"
        assert by_name["clean_orders"]["health"] == "ok"  # its last run completed
        assert by_name["ANALYTICS.MARTS.FCT_SALES"]["platform"] == "snowflake"
        assert len(g["edges"]) == 8
        assert g["truncated"] is False
        # Depth control: one hop only.
        one = (
            await c.get(
                "/api/lineage/graph",
                params={
                    "node": f"dataset:{PG}:public.orders",
                    "direction": "downstream",
                    "depth": 1,
                },
                headers=headers,
            )
        ).json()
        assert {n["name"] for n in one["nodes"]} == {
            "public.orders",
            "daily_sales.extract_orders",
            "orders",
        }
        up = (
            await c.get(
                "/api/lineage/graph",
                params={
                    "node": f"dataset:{SF}:ANALYTICS.STAGING.ORDERS_CLEAN",
                    "direction": "upstream",
                    "depth": 2,
                },
                headers=headers,
            )
        ).json()
        assert {n["name"] for n in up["nodes"] if n["depth"] == 2} == {
            "public.orders",
            "public.customers",
            "daily_sales.extract_orders",
            "daily_sales.extract_customers",
        }


async def test_impact_answers_what_breaks(live) -> None:
    c, headers, _ = await _ingested(live)
    async with aclosing(c):
        # Someone follows the mart: they must be told.
        mart = (
            await c.get("/api/datasets", params={"query": "SALES_BY_REGION"}, headers=headers)
        ).json()["items"][0]
        await c.post("/api/follows", json={"dataset_id": mart["id"]}, headers=headers)
        impact = (
            await c.get(
                "/api/lineage/impact",
                params={"node": f"dataset:{PG}:public.orders"},
                headers=headers,
            )
        ).json()
        assert impact["totals"] == {
            "datasets": 4,
            "processes": 4,
            "restricted": 0,
            "people": 1,
            "hidden_owners": 0,
        }
        distances = {i["name"]: i["distance"] for i in impact["items"]}
        assert distances["ANALYTICS.MARTS.SALES_BY_REGION"] == 4
        assert impact["notify"][0]["email"] == "etl@acme.test"
        assert any(
            r == "follows ANALYTICS.MARTS.SALES_BY_REGION" for r in impact["notify"][0]["reasons"]
        )
        job = (
            await c.get(
                "/api/lineage/impact",
                params={"node": "job:spark:clean_orders", "depth": 1},
                headers=headers,
            )
        ).json()
        assert [i["name"] for i in job["items"]] == ["ANALYTICS.STAGING.ORDERS_CLEAN"]


async def test_schema_and_column_lineage(live) -> None:
    c, headers, _ = await _ingested(live)
    async with aclosing(c):
        clean = (
            await c.get("/api/datasets", params={"query": "ORDERS_CLEAN"}, headers=headers)
        ).json()["items"][0]
        profile = (await c.get(f"/api/datasets/{clean['id']}", headers=headers)).json()
        assert [f["name"] for f in profile["fields"]] == [
            "order_id",
            "order_total",
            "customer_email",
            "region",
        ]
        assert profile["origin"] == "lineage"
        assert profile["visibility"] == "internal"  # the org's default
        cols = (await c.get(f"/api/lineage/assets/{clean['id']}/columns", headers=headers)).json()
        pairs = {(e["output_field"], e["input_field"], e["transformation_type"]) for e in cols}
        assert pairs == {
            ("order_total", "amount", "IDENTITY"),
            ("customer_email", "email", "TRANSFORMED"),
        }
        procs = (
            await c.get("/api/lineage/processes", params={"q": "clean"}, headers=headers)
        ).json()["items"]
        assert procs[0]["type"] == "spark"
        assert procs[0]["source_code"]["url"].endswith("clean_orders.py")
        fct = (
            await c.get("/api/lineage/processes", params={"q": "fct_sales"}, headers=headers)
        ).json()["items"][0]
        detail = (await c.get(f"/api/lineage/processes/{fct['id']}", headers=headers)).json()
        assert detail["type"] == "dbt"
        assert "ref('orders_clean')" in detail["sql"]
        assert detail["runs"][0]["state"] == "COMPLETE"
        assert detail["runs"][0]["started_at"] and detail["runs"][0]["ended_at"]


async def test_replaying_events_changes_nothing(live, raw_conn) -> None:
    c, _, app = await _ingested(live)
    url = live[0]
    async with aclosing(c):
        counts = [
            await raw_conn.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("datasets", "processes", "runs", "lineage_edges", "column_edges", "events")
        ]
        key, _ = await _api_key(c, app, "etl2@acme.test")
        await asyncio.to_thread(_emit_all, url, key, pipeline_events())
        after = [
            await raw_conn.fetchval(f"SELECT count(*) FROM {t}")
            for t in ("datasets", "processes", "runs", "lineage_edges", "column_edges", "events")
        ]
        assert after[:5] == counts[:5]
        # Only the second user's sign-up and key creation add events; no lineage.changed.
        assert after[5] - counts[5] == 2


async def test_batch_with_a_bad_event_keeps_the_good_ones(live) -> None:
    url, app = live
    async with httpx.AsyncClient(base_url=url) as c:
        key, _ = await _api_key(c, app)
        auth = {"Authorization": f"Bearer {key}"}
        good = [Serde.to_dict(e) for e in pipeline_events()[:2]]
        bad = {"eventType": "START", "job": {"namespace": "x"}, "run": {"runId": "1"}}
        resp = await c.post("/api/v1/lineage/batch", json=[good[0], bad, good[1]], headers=auth)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["accepted"] == 2 and body["failed"] == 1
        assert body["errors"][0]["index"] == 1
        single = await c.post("/api/v1/lineage", json=bad, headers=auth)
        assert single.status_code == 400
        assert "eventTime" in single.json()["detail"] or "name" in single.json()["detail"]
        viewer_key, _ = await _api_key(c, app, "v@acme.test", role="viewer")
        refused = await c.post(
            "/api/v1/lineage", json=good[0], headers={"Authorization": f"Bearer {viewer_key}"}
        )
        assert refused.status_code == 403
        anon = await c.post("/api/v1/lineage", json=good[0])
        assert anon.status_code == 401


async def test_tolerant_ingestion(live) -> None:
    url, app = live
    async with httpx.AsyncClient(base_url=url) as c:
        key, headers = await _api_key(c, app)
        auth = {"Authorization": f"Bearer {key}"}
        odd = [
            {
                "eventTime": "2026-11-20T06:00:00Z",
                "producer": "custom",
                "run": {"runId": "not-a-uuid"},
                "job": {"namespace": "cron", "name": "nightly"},
                "outputs": [{"namespace": "file", "name": "/data/out.csv"}],
                "customTopLevel": {"x": 1},
            },
            {
                "eventType": "RUNNING",
                "eventTime": "2026-11-20T06:01:00Z",
                "producer": "custom",
                "run": {"runId": "not-a-uuid"},
                "job": {"namespace": "cron", "name": "nightly"},
                "inputs": [
                    {"namespace": "file", "name": "/data/in.csv", "facets": {"myFacet": {"a": 1}}}
                ],
            },
            {
                "eventType": "OTHER",
                "eventTime": "2026-11-20T06:02:00Z",
                "producer": "custom",
                "dataset": {"namespace": "file", "name": "/data/standalone.csv"},
            },
        ]
        r = await c.post("/api/v1/lineage/batch", json=odd, headers=auth)
        assert r.json()["accepted"] == 3, r.text
        g = (
            await c.get(
                "/api/lineage/graph",
                params={"node": "job:cron:nightly", "depth": 1},
                headers=headers,
            )
        ).json()
        assert {n["name"] for n in g["nodes"]} == {"nightly", "/data/out.csv", "/data/in.csv"}


async def test_marquez_shape(live) -> None:
    c, headers, _ = await _ingested(live)
    async with aclosing(c):
        r = (
            await c.get(
                "/api/v1/lineage",
                params={"nodeId": "job:spark:clean_orders", "depth": 1},
                headers=headers,
            )
        ).json()
        ids = {n["id"] for n in r["graph"]}
        assert "job:spark:clean_orders" in ids
        assert "dataset:snowflake://acme.eu-west-1:ANALYTICS.STAGING.ORDERS_CLEAN" in ids
        job = next(n for n in r["graph"] if n["id"] == "job:spark:clean_orders")
        assert job["type"] == "JOB"
        assert {e["origin"] for e in job["inEdges"]} == {
            "dataset:s3://raw-zone:orders",
            "dataset:s3://raw-zone:customers",
        }
