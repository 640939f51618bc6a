"""SLA evaluation on schedule with a clock the test controls: breach, recovery, the feed,
system-actor audit entries, a single announcement with two evaluators, and the live stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from datamesh.config import Settings
from datamesh.monitoring.evaluator import SlaEvaluator
from datamesh.monitoring.service import due_after, evaluate_one
from tests.factories import PASSWORD, make_user, signed_in
from tests.fixtures.live import live_server, sse
from tests.monitoring.support import Clock, dataset_id, run, send

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def test_deadlines() -> None:
    # daily_by: the first HH:MM at least a day after the refresh
    assert due_after("daily_by", "07:00", None, at(20, 6, 5)) == at(21, 7)
    assert due_after("daily_by", "07:00", None, at(20, 7)) == at(21, 7)
    assert due_after("daily_by", "07:00", None, at(20, 8)) == at(22, 7)
    assert due_after("daily_by", "00:00", None, at(20, 23, 59)) == at(22, 0)
    assert due_after("max_age", None, 6, at(20, 6, 5)) == at(20, 12, 5)
    # with no complete run, deadlines count from when the SLA was set
    assert evaluate_one("max_age", None, 2, at(20, 6), None, at(20, 7)).state == "unknown"
    late = evaluate_one("max_age", None, 2, at(20, 6), None, at(20, 9))
    assert (late.state, late.breached_since) == ("breached", at(20, 8))
    ok = evaluate_one("daily_by", "07:00", None, at(20, 6), at(20, 6, 5), at(21, 7))
    assert (ok.state, ok.due_at) == ("ok", at(21, 7))
    assert evaluate_one(
        "daily_by", "07:00", None, at(20, 6), at(20, 6, 5), at(21, 7, 0, 1)
    ).state == ("breached")


async def _feed(c: httpx.AsyncClient, who, type_: str) -> list[dict]:
    r = await c.get("/api/feed", params={"type": type_}, headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_breach_then_recovery_on_schedule(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    clock = Clock(at(20, 6, 30))
    app.state.clock = clock
    evaluator: SlaEvaluator = app.state.sla_evaluator
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    fan = await signed_in(app, client, "fan@acme.test", role="viewer")
    await send(client, prod, run("load_orders", [], ["orders"], start=T0))
    ds = await dataset_id(client, prod, "orders")
    assert (await client.post("/api/follows", json={"dataset_id": ds}, headers=fan.headers)).json()[
        "following"
    ]
    r = await client.put(
        f"/api/datasets/{ds}/sla", json={"kind": "daily_by", "at": "07:00"}, headers=prod.headers
    )
    assert r.json()["state"] == "ok"

    clock.set(at(21, 6, 59))  # before the deadline: nothing happens
    assert await evaluator.run_once() == []
    clock.set(at(21, 7, 0, 1))
    moved = await evaluator.run_once()
    assert [(t.before, t.after) for t in moved] == [("ok", "breached")]
    assert await evaluator.run_once() == []  # announced once

    sla = (await client.get(f"/api/datasets/{ds}/sla", headers=fan.headers)).json()
    assert (sla["state"], sla["breached_since"], sla["due_at"]) == (
        "breached",
        "2026-11-21T07:00:00Z",
        "2026-11-21T07:00:00Z",
    )
    [item] = await _feed(client, fan, "dataset.sla_breached")
    assert item["subject"]["id"] == ds
    assert item["actor"]["kind"] == "system"
    assert item["payload"] == {
        "dataset_id": ds,
        "dataset_name": "orders",
        "kind": "daily_by",
        "due_at": "2026-11-21T07:00:00+00:00",
        "last_complete_at": "2026-11-20T06:05:00+00:00",
    }
    status = (
        await client.get("/api/monitoring/status", params={"ids": ds}, headers=fan.headers)
    ).json()
    assert status[ds]["health"] == "breached" and status[ds]["sla_state"] == "breached"

    # the late load lands at 07:30; the next pass sees it and the dataset recovers
    await send(client, prod, run("load_orders", [], ["orders"], start=at(21, 7, 25)))
    clock.set(at(21, 7, 31))
    moved = await evaluator.run_once()
    assert [(t.before, t.after) for t in moved] == [("breached", "ok")]
    [item] = await _feed(client, fan, "dataset.sla_recovered")
    assert item["payload"]["last_complete_at"] == "2026-11-21T07:30:00+00:00"
    # 07:30 on the 21st already meets 07:00 on the 22nd; the next one to meet is the 23rd's
    assert item["payload"]["due_at"] == "2026-11-23T07:00:00+00:00"
    sla = (await client.get(f"/api/datasets/{ds}/sla", headers=fan.headers)).json()
    assert (sla["state"], sla["breached_since"]) == ("ok", None)

    rows = await raw_conn.fetch(
        "SELECT action, actor_kind, actor_name, changes FROM audit_log "
        "WHERE action IN ('dataset.sla_breached', 'dataset.sla_recovered') ORDER BY seq"
    )
    assert [(r["action"], r["actor_kind"], r["actor_name"]) for r in rows] == [
        ("dataset.sla_breached", "system", "sla-evaluator"),
        ("dataset.sla_recovered", "system", "sla-evaluator"),
    ]


async def test_never_refreshed_dataset_breaches_after_its_max_age(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    clock = Clock(at(20, 8))
    app.state.clock = clock
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    r = await client.post(
        "/api/datasets",
        json={"namespace": "pg://x", "name": "manual.table", "platform": "postgresql"},
        headers=prod.headers,
    )
    ds = r.json()["id"]
    sla = (
        await client.put(
            f"/api/datasets/{ds}/sla", json={"kind": "max_age", "hours": 2}, headers=prod.headers
        )
    ).json()
    assert (sla["state"], sla["last_complete_at"], sla["due_at"]) == (
        "unknown",
        None,
        "2026-11-20T10:00:00Z",
    )
    clock.set(at(20, 10, 1))
    moved = await app.state.sla_evaluator.run_once()
    assert [(t.before, t.after) for t in moved] == [("unknown", "breached")]


async def test_two_evaluators_announce_a_breach_once(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    clock = Clock(at(20, 6, 30))
    app.state.clock = clock
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    await send(client, prod, run("load_orders", [], ["orders"], start=T0))
    names = [f"t{i}" for i in range(5)]
    await send(client, prod, run("load_many", [], names, start=T0))
    for name in ["orders", *names]:
        ds = await dataset_id(client, prod, name)
        r = await client.put(
            f"/api/datasets/{ds}/sla", json={"kind": "max_age", "hours": 1}, headers=prod.headers
        )
        assert r.status_code == 200
    clock.set(at(20, 8))
    replicas = [SlaEvaluator(app.state.sessionmaker, clock, 0) for _ in range(4)]
    results = await asyncio.gather(*(e.run_once() for e in replicas))
    assert sum(len(moved) for moved in results) == 6
    count = await raw_conn.fetchval(
        "SELECT count(*) FROM events WHERE type = 'dataset.sla_breached'"
    )
    assert count == 6
    assert sum(len(moved) for moved in await asyncio.gather(*(e.run_once() for e in replicas))) == 0


# -- the loop in a live server, and a follower's stream -----------------------------------------
@pytest.fixture
async def live(settings: Settings, clean_db: None) -> AsyncIterator[tuple[str, FastAPI]]:
    fast = settings.model_copy(update={"sla_check_interval_seconds": 0.05})
    async with live_server(fast, migrate_on_start=False) as (url, app):
        yield url, app


async def _login(c: httpx.AsyncClient, app: FastAPI, email: str, role: str):
    acct = await make_user(app, email, role=role)
    r = await c.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    acct.token = r.json()["access_token"]
    c.cookies.clear()
    return acct


async def test_breach_reaches_a_followers_live_stream(live) -> None:
    url, app = live
    clock = Clock(at(20, 6, 30))
    app.state.clock = clock
    async with httpx.AsyncClient(base_url=url) as c:
        prod = await _login(c, app, "prod@acme.test", "producer")
        fan = await _login(c, app, "fan@acme.test", "viewer")
        await send(c, prod, run("load_orders", [], ["orders"], start=T0))
        ds = await dataset_id(c, prod, "orders")
        await c.post("/api/follows", json={"dataset_id": ds}, headers=fan.headers)
        r = await c.put(
            f"/api/datasets/{ds}/sla", json={"kind": "max_age", "hours": 3}, headers=prod.headers
        )
        assert r.json()["state"] == "ok"
        async with sse(c, "/api/feed/stream?following=true", headers=fan.headers) as stream:
            clock.set(clock.now + timedelta(hours=4))  # the loop notices on its own
            msg = await stream.wait_for(lambda m: m.event == "dataset.sla_breached")
            item = msg.json()
            assert item["subject"]["id"] == ds
            assert item["payload"]["due_at"] == "2026-11-20T09:05:00+00:00"
            await send(c, prod, run("load_orders", [], ["orders"], start=clock.now))
            msg = await stream.wait_for(lambda m: m.event == "dataset.sla_recovered")
            assert msg.json()["payload"]["dataset_name"] == "orders"
        assert [m.event for m in stream.messages].count("dataset.sla_breached") == 1
