"""The outbox under several workers, a restart between a failure and its retry, digests, and
one alert per failing run."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from openlineage.client.event_v2 import RunState
from sqlalchemy import text

from datamesh.config import Settings
from tests.alerts.support import dataset, deliveries, own_workers, rule, touch, until
from tests.conftest import client_for, running_app
from tests.factories import signed_in
from tests.fixtures.receiver import Receiver
from tests.monitoring.support import as_json, run, send


async def test_several_workers_send_each_delivery_once(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    """Three workers, each on its own connection pool as separate processes would be, share
    the outbox and the deliveries: every (rule, event) is sent, none twice."""
    quiet = settings.model_copy(update={"alerts_enabled": False})
    async with running_app(quiet, migrate_on_start=False) as app, client_for(app) as client:
        owner = await signed_in(app, client, "own@acme.test", role="producer")
        datasets = [await dataset(client, owner, f"shop.t{i}") for i in range(4)]
        for i in range(3):
            await rule(client, owner, {"kind": "webhook", "url": receiver.url(f"/r{i}")})
        async with own_workers(app, settings, 3, concurrency=8) as workers:
            for w in workers:
                await w.consume_once()  # positions start at the head: what comes next counts
                w.start()
            n = 0
            for round_ in range(10):
                for ds in datasets:
                    await touch(client, owner, ds["id"], f"change {round_}")
                    n += 1
            await until(lambda: len(receiver.received) >= 3 * n, f"{3 * n} deliveries")
            await asyncio.sleep(1.0)  # anything sent twice would arrive by now
        ids = Counter(c.delivery for c in receiver.received)
        assert len(ids) == 3 * n
        assert max(ids.values()) == 1
        per_rule = Counter(c.path for c in receiver.received)
        assert per_rule == {"/r0": n, "/r1": n, "/r2": n}


async def test_a_retry_after_a_restart_keeps_the_delivery_id(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    slow = settings.model_copy(update={"alert_retry_base_seconds": 3.0})
    async with running_app(slow, migrate_on_start=False) as app, client_for(app) as client:
        owner = await signed_in(app, client, "own@acme.test", role="producer")
        ds = await dataset(client, owner, "shop.orders")
        made = await rule(client, owner, {"kind": "webhook", "url": receiver.url()})
        receiver.answer(503)
        await touch(client, owner, ds["id"], "before the restart")
        await until(lambda: receiver.received, "the failed attempt")
    assert [c.status for c in receiver.received] == [503]
    async with running_app(slow, migrate_on_start=False) as app, client_for(app) as client:
        await until(lambda: len(receiver.received) >= 2, "the retry after the restart")
        first, second = receiver.received
        assert second.status == 200 and second.delivery == first.delivery
        assert second.body == first.body
        await until(lambda: _state(app, made["id"]), "recorded as delivered")


async def _state(app: FastAPI, rule_id: str) -> bool:
    async with app.state.sessionmaker() as s:
        row = await s.execute(
            text("SELECT state, attempts FROM alert_deliveries WHERE rule_id = :r"), {"r": rule_id}
        )
        return [tuple(r) for r in row] == [("delivered", 2)]


async def test_events_within_the_window_go_out_as_one_digest(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    windowed = settings.model_copy(update={"alert_digest_seconds": 15})
    async with running_app(windowed, migrate_on_start=False) as app, client_for(app) as client:
        owner = await signed_in(app, client, "own@acme.test", role="producer")
        ds = await dataset(client, owner, "shop.orders")
        made = await rule(client, owner, {"kind": "webhook", "url": receiver.url()})
        for i in range(6):
            await touch(client, owner, ds["id"], f"change {i}")
        await until(lambda: len(receiver.received) >= 2, "the first event and the digest")
        first, digest = receiver.received
        assert first.json()["type"] == "dataset.updated"
        body = digest.json()
        assert digest.headers["x-datamesh-event"] == "alert.digest"
        assert body["type"] == "alert.digest" and len(body["events"]) == 5
        assert all(e["type"] == "dataset.updated" for e in body["events"])
        items = await deliveries(client, owner, made["id"])
        assert sorted(i["kind"] for i in items) == ["digest", "single"]


async def test_the_same_failing_run_alerts_once(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    producer = await signed_in(app, client, "prod@acme.test", role="producer")
    made = await rule(
        client, producer, {"kind": "webhook", "url": receiver.url()}, events=["process.run_failed"]
    )
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    failing = run("load", ["raw.a"], ["shop.a"], start=start, state=RunState.FAIL)
    await send(client, producer, failing)
    # the same run's failure told again (a retried emitter), then ABORT of the same run
    again = as_json(failing)
    again[1]["eventTime"] = (start + timedelta(minutes=9)).isoformat()
    r = await client.post("/api/v1/lineage/batch", json=again, headers=producer.headers)
    assert r.status_code == 200
    other = run(
        "load", ["raw.a"], ["shop.a"], start=start + timedelta(hours=1), state=RunState.FAIL
    )
    await send(client, producer, other)
    await until(lambda: len(receiver.received) >= 2, "two runs, two alerts")
    await asyncio.sleep(1.0)
    runs: list[Any] = [c.json()["subject"]["name"] for c in receiver.received]
    assert runs == ["load", "load"]
    assert len(await deliveries(client, producer, made["id"])) == 2


async def test_a_storm_of_events_loses_none_and_sends_few_deliveries(
    settings: Settings, clean_db: None, receiver: Receiver
) -> None:
    """1,200 events in one commit: the first goes out at once, the rest as digests (at most
    500 events each) at the end of each window (the events' own times span several windows on
    a slow machine); every event is in exactly one delivery, and deliveries are few."""
    from datamesh.auth.principal import Principal
    from datamesh.catalog import service as catalog
    from datamesh.catalog.schemas import DatasetCreate
    from datamesh.db import session_scope

    windowed = settings.model_copy(update={"alert_digest_seconds": 5})
    async with running_app(windowed, migrate_on_start=False) as app, client_for(app) as client:
        owner = await signed_in(app, client, "own@acme.test", role="producer")
        made = await rule(
            client, owner, {"kind": "webhook", "url": receiver.url()}, events=["dataset.published"]
        )
        p = Principal(
            kind="user",
            id=uuid.UUID(owner.id),
            name="own",
            org_id=uuid.UUID(owner.org_id),
            role="producer",
            email=owner.email,
            user_id=uuid.UUID(owner.id),
        )
        async with session_scope(app.state.sessionmaker) as s:
            for i in range(1200):
                await catalog.publish(
                    s,
                    p,
                    DatasetCreate.model_validate(
                        {"namespace": "storm://x", "name": f"t{i}", "platform": "postgresql"}
                    ),
                )

        def events_sent() -> int:
            return sum(len(c.json().get("events") or [c.json()]) for c in receiver.received)

        await until(lambda: events_sent() >= 1200, "every event sent")
        await asyncio.sleep(1.0)
        calls = receiver.received
        bodies = [c.json() for c in calls]
        # The first event went out as itself; sends run concurrently, so a digest made at the
        # end of the window may reach the receiver before it.
        assert any(b["type"] == "dataset.published" for b in bodies)
        assert any(b["type"] == "alert.digest" for b in bodies)
        assert all(len(b.get("events") or [b]) <= 500 for b in bodies)
        sent = [e["id"] for b in bodies for e in (b.get("events") or [b])]
        assert len(sent) == len(set(sent)) == 1200
        assert len({c.delivery for c in calls}) == len(calls) <= 30
        assert len(await deliveries(client, owner, made["id"])) == len(calls)
