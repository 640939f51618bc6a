"""Run health: a FAIL sent by the real OpenLineage client becomes a process.run_failed feed item
with the number of datasets downstream; replays add nothing; a process's run history."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import attr
import httpx
import pytest
from fastapi import FastAPI
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Run, RunEvent, RunState
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from datamesh.config import Settings
from tests.factories import PASSWORD, api_key, make_user
from tests.fixtures.live import live_server
from tests.lineage.pipeline import SF, pipeline_events

DAY1 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@pytest.fixture
async def live(settings: Settings, clean_db: None) -> AsyncIterator[tuple[str, FastAPI]]:
    async with live_server(settings, migrate_on_start=False) as (url, app):
        yield url, app


def _fresh_runs(events: list[RunEvent]) -> list[RunEvent]:
    """The sample pipeline reuses run ids; each day is a new run of every job."""
    ids: dict[str, str] = {}
    return [
        attr.evolve(e, run=Run(runId=ids.setdefault(e.run.runId, str(uuid.uuid4()))))
        for e in events
    ]


def _emit(url: str, key: str, events: list[RunEvent]) -> None:
    client = OpenLineageClient(
        transport=HttpTransport(HttpConfig(url=url, auth=ApiKeyTokenProvider({"apiKey": key})))
    )
    for event in events:
        client.emit(event)


async def _member(c: httpx.AsyncClient, app: FastAPI, email: str, **kw) -> dict[str, str]:
    await make_user(app, email, **kw)
    r = await c.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    c.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_failed_run_reaches_the_feed_with_its_impact(live) -> None:
    url, app = live
    async with httpx.AsyncClient(base_url=url) as c:
        etl = await _member(c, app, "etl@acme.test", role="producer")
        viewer = await _member(c, app, "viewer@acme.test", role="viewer")
        outsider = await _member(c, app, "admin@globex.test", org="Globex", role="admin")
        key = await api_key(c, etl)
        day1 = _fresh_runs(pipeline_events(DAY1))
        day2 = _fresh_runs(pipeline_events(DAY1 + timedelta(days=1), fail_job="clean_orders"))
        await asyncio.to_thread(_emit, url, key, day1)
        await asyncio.to_thread(_emit, url, key, day2)

        feed = (
            await c.get("/api/feed", params={"type": "process.run_failed"}, headers=viewer)
        ).json()["items"]
        assert len(feed) == 1
        item = feed[0]
        fail = next(e for e in day2 if e.eventType == RunState.FAIL)
        assert item["subject"]["kind"] == "process"
        assert item["subject"]["name"] == "clean_orders"
        payload = item["payload"]
        assert payload["process_id"] == item["subject"]["id"]
        assert (payload["process_name"], payload["namespace"]) == ("clean_orders", "spark")
        assert payload["run_id"] == fail.run.runId
        assert datetime.fromisoformat(payload["failed_at"]) == datetime.fromisoformat(
            fail.eventTime
        )
        # clean_orders feeds ORDERS_CLEAN -> fct_sales -> FCT_SALES -> SALES_BY_REGION
        assert payload["impact_count"] == 3
        impact = (
            await c.get(
                "/api/lineage/impact", params={"node": "job:spark:clean_orders"}, headers=etl
            )
        ).json()
        assert impact["totals"]["datasets"] == payload["impact_count"]

        # replaying the same events (a producer retrying) announces nothing new
        await asyncio.to_thread(_emit, url, key, day2)
        again = (
            await c.get("/api/feed", params={"type": "process.run_failed"}, headers=viewer)
        ).json()["items"]
        assert [i["id"] for i in again] == [item["id"]]

        # another org never hears about this org's jobs
        other = (
            await c.get("/api/feed", params={"type": "process.run_failed"}, headers=outsider)
        ).json()["items"]
        assert other == []

        # the process's run history, newest first, page by page
        proc = payload["process_id"]
        page1 = (
            await c.get(f"/api/lineage/processes/{proc}/runs", params={"limit": 1}, headers=viewer)
        ).json()
        assert [(r["run_id"], r["state"]) for r in page1["items"]] == [(fail.run.runId, "FAIL")]
        assert page1["items"][0]["started_at"] is not None
        assert page1["items"][0]["ended_at"] is not None
        page2 = (
            await c.get(
                f"/api/lineage/processes/{proc}/runs",
                params={"limit": 1, "cursor": page1["next_cursor"]},
                headers=viewer,
            )
        ).json()
        assert [r["state"] for r in page2["items"]] == ["COMPLETE"]
        assert page2["next_cursor"] is None
        r = await c.get(f"/api/lineage/processes/{proc}/runs", headers=outsider)
        assert r.status_code == 404

        # health for colouring nodes: the job fails, so does the table it writes
        clean = (
            await c.get(
                "/api/lineage/graph",
                params={"node": f"dataset:{SF}:ANALYTICS.STAGING.ORDERS_CLEAN", "depth": 0},
                headers=viewer,
            )
        ).json()["nodes"][0]["id"]
        status = (
            await c.get("/api/monitoring/status", params={"ids": f"{proc},{clean}"}, headers=viewer)
        ).json()
        assert status[proc] == {
            "kind": "process",
            "health": "failing",
            "latest_run_state": "FAIL",
            "sla_state": None,
        }
        assert status[clean]["health"] == "failing"
        overview = (await c.get("/api/monitoring/overview", headers=viewer)).json()
        assert [
            (f["process"]["name"], f["run_id"], f["impact_count"]) for f in overview["failed_runs"]
        ] == [("clean_orders", fail.run.runId, 3)]
        assert (await c.get("/api/monitoring/overview", headers=outsider)).json()[
            "failed_runs"
        ] == []
