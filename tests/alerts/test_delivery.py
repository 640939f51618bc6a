"""Delivery from the outbox to a real webhook receiver on loopback: the contract (headers,
signature, the impact by the impact endpoint's code), retries that keep the delivery id, 410,
the retry window and Redeliver, visibility checked at delivery, hangs and redirects."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from openlineage.client.event_v2 import RunEvent, RunState

from datamesh.config import Settings
from tests.alerts.support import dataset, deliveries, rule, touch, until
from tests.conftest import client_for, running_app
from tests.factories import signed_in
from tests.fixtures.receiver import Receiver
from tests.monitoring.support import run, send

SECRET = "hook-secret-value-0123456789"


def _hook(receiver: Receiver, path: str = "/hook", **kw: Any) -> dict[str, Any]:
    return {"kind": "webhook", "url": receiver.url(path), **kw}


def _load_orders_fails(start: datetime) -> list[RunEvent]:
    """The next run of load_orders (raw.orders -> shop.orders), an hour later, failing."""
    return run(
        "load_orders",
        ["raw.orders"],
        ["shop.orders"],
        start=start + timedelta(hours=1),
        state=RunState.FAIL,
    )


async def test_a_run_failure_reaches_the_webhook_signed_with_its_blast_radius(
    app: FastAPI,
    client: httpx.AsyncClient,
    receiver: Receiver,
    raw_conn: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ALERT_HOOK_SECRET", SECRET)
    producer = await signed_in(app, client, "prod@acme.test", role="producer")
    ann = await signed_in(app, client, "ann@acme.test", role="viewer")
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    await send(client, producer, run("load_orders", ["raw.orders"], ["shop.orders"], start=start))
    await send(client, producer, run("revenue", ["shop.orders"], ["mart.revenue"], start=start))
    typed = "dataset:postgres://warehouse:5432:mart.revenue"
    made = await rule(
        client,
        ann,
        _hook(receiver, secret="env:ALERT_HOOK_SECRET"),
        events=["process.run_failed"],
        scope={"affects": {"node": typed, "depth": 5}},
    )
    await send(client, producer, _load_orders_fails(start))
    got = await until(lambda: receiver.received, "the webhook call")
    assert len(got) == 1
    call = got[0]
    body = call.json()
    assert call.headers["x-datamesh-event"] == "process.run_failed"
    expected = "sha256=" + hmac.new(SECRET.encode(), call.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(call.headers["x-datamesh-signature"], expected)
    assert body["type"] == "process.run_failed"
    assert body["subject"]["kind"] == "process" and body["subject"]["name"] == "load_orders"
    assert body["org"]["name"] == "Acme"
    assert "failed" in body["summary"] and body["link"].endswith(body["subject"]["id"])
    # the same blast radius the impact endpoint shows the rule's owner
    r = await client.get(
        "/api/lineage/impact", params={"node": body["subject"]["id"]}, headers=ann.headers
    )
    impact = r.json()
    assert body["impact"]["datasets"] == impact["totals"]["datasets"] == 2
    assert body["impact"]["processes"] == impact["totals"]["processes"]
    assert body["impact"]["people"] == impact["totals"]["people"]
    assert {t["name"] for t in body["impact"]["top"]} >= {"shop.orders", "mart.revenue"}
    log = await until(lambda: _delivered(client, ann, made["id"]), "the delivery marked delivered")
    assert log[0]["id"] == call.delivery and log[0]["attempts"] == 1
    assert log[0]["log"][0]["status_code"] == 200
    assert [e["type"] for e in log[0]["events"]] == ["process.run_failed"]
    # the secret is in no table, event, audit row, delivery record or log line
    for table in ("alert_rules", "alert_deliveries", "audit_log", "events"):
        rows = await raw_conn.fetch(f"SELECT row_to_json(x)::text AS j FROM {table} x")
        assert not any(SECRET in r["j"] for r in rows), table
    assert SECRET not in caplog.text


async def _delivered(c: httpx.AsyncClient, who: Any, rule_id: str) -> list[dict[str, Any]]:
    items = await deliveries(c, who, rule_id)
    return items if items and all(i["state"] == "delivered" for i in items) else []


async def test_a_failing_receiver_gets_retries_with_the_same_delivery_id_until_it_recovers(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner = await signed_in(app, client, "own@acme.test", role="producer")
    ds = await dataset(client, owner, "shop.orders")
    made = await rule(client, owner, _hook(receiver))
    receiver.answer(503, times=2)
    await touch(client, owner, ds["id"], "first")
    await until(lambda: len(receiver.received) >= 3, "two failures and a success")
    calls = receiver.received
    assert [c.status for c in calls] == [503, 503, 200]
    assert len({c.delivery for c in calls}) == 1
    log = await until(lambda: _delivered(client, owner, made["id"]), "delivered")
    assert log[0]["attempts"] == 3
    assert [a["status_code"] for a in log[0]["log"]] == [503, 503, 200]
    assert log[0]["log"][0]["error"] == "HTTP 503"


async def test_a_receiver_answering_410_stops_the_rule(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner = await signed_in(app, client, "own@acme.test", role="producer")
    ds = await dataset(client, owner, "shop.orders")
    made = await rule(client, owner, _hook(receiver, "/gone"))

    async def turned_off() -> bool:
        r = await client.get(f"/api/alerts/{made['id']}", headers=owner.headers)
        return r.json()["enabled"] is False

    await touch(client, owner, ds["id"], "first")
    await until(turned_off, "the rule turned off")
    r = await client.get(f"/api/alerts/{made['id']}", headers=owner.headers)
    assert "410" in r.json()["disabled_reason"]
    [d] = await deliveries(client, owner, made["id"])
    assert d["state"] == "failed" and d["attempts"] == 1
    await touch(client, owner, ds["id"], "second")
    r = await client.post(
        f"/api/alerts/{made['id']}/deliveries/{d['id']}/redeliver", headers=owner.headers
    )
    assert r.status_code == 409  # turned off: turn it on first
    assert len(receiver.received) == 1


@pytest.fixture
def short_window(settings: Settings) -> Settings:
    return settings.model_copy(update={"alert_retry_max_age_seconds": 1.0})


async def test_after_the_retry_window_a_delivery_fails_and_redeliver_sends_it_again(
    short_window: Settings, clean_db: None, receiver: Receiver
) -> None:
    async with running_app(short_window, migrate_on_start=False) as app, client_for(app) as client:
        owner = await signed_in(app, client, "own@acme.test", role="producer")
        ds = await dataset(client, owner, "shop.orders")
        made = await rule(client, owner, _hook(receiver))
        receiver.answer(503, times=1000)
        await touch(client, owner, ds["id"], "first")

        async def failed() -> list[dict[str, Any]]:
            items = await deliveries(client, owner, made["id"])
            return items if items and items[0]["state"] == "failed" else []

        [d] = await until(failed, "the delivery given up")
        tries = len(receiver.received)
        assert d["attempts"] == tries >= 2
        receiver.clear_answers()
        r = await client.post(
            f"/api/alerts/{made['id']}/deliveries/{d['id']}/redeliver", headers=owner.headers
        )
        assert r.status_code == 200 and r.json()["state"] == "pending"
        await until(lambda: _delivered(client, owner, made["id"]), "redelivered")
        assert receiver.received[-1].status == 200
        assert {c.delivery for c in receiver.received} == {d["id"]}


async def test_visibility_is_checked_at_delivery(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner = await signed_in(app, client, "own@acme.test", role="admin")
    outsider = await signed_in(app, client, "out@globex.test", org="Globex", role="viewer")
    ds = await dataset(client, owner, "shop.orders", visibility="public")
    other = await dataset(client, owner, "shop.public", visibility="public")
    made = await rule(
        client, outsider, _hook(receiver), scope={"datasets": [ds["id"], other["id"]]}
    )
    receiver.answer(503, times=1)
    await touch(client, owner, ds["id"], "while public")
    await until(lambda: receiver.received, "the first (failed) attempt")
    # hidden before the retry: the retry sends nothing
    r = await client.patch(
        f"/api/datasets/{ds['id']}", json={"visibility": "internal"}, headers=owner.headers
    )
    assert r.status_code == 200

    async def settled() -> list[dict[str, Any]]:
        items = await deliveries(client, outsider, made["id"])
        return items if items and items[0]["state"] != "pending" else []

    [d] = await until(settled, "the retry settled")
    assert d["state"] == "skipped" and d["events"] == []  # the log names nothing hidden
    await touch(client, owner, ds["id"], "while internal")
    await touch(client, owner, ds["id"], "still internal")
    # a later event the rule's owner may see proves the consumer passed the hidden ones
    await touch(client, owner, other["id"], "public change")
    await until(lambda: len(receiver.received) >= 2, "the visible event")
    assert [c.json()["subject"]["name"] for c in receiver.received] == [
        "shop.orders",
        "shop.public",
    ]
    items = await deliveries(client, outsider, made["id"])
    assert len(items) == 2


@pytest.fixture
def quick_timeout(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbound_timeout_seconds": 0.5})


async def test_a_receiver_that_hangs_is_a_timed_out_attempt(
    quick_timeout: Settings, clean_db: None, receiver: Receiver
) -> None:
    async with running_app(quick_timeout, migrate_on_start=False) as app, client_for(app) as client:
        owner = await signed_in(app, client, "own@acme.test", role="producer")
        ds = await dataset(client, owner, "shop.orders")
        made = await rule(client, owner, _hook(receiver))
        receiver.hold()
        await touch(client, owner, ds["id"], "first")

        async def timed_out() -> bool:
            items = await deliveries(client, owner, made["id"])
            return bool(items and items[0]["log"])

        await until(timed_out, "an attempt timed out")
        [d] = await deliveries(client, owner, made["id"])
        assert d["log"][0]["error"] == "no answer within 0.5 s"
        receiver.release()
        await until(lambda: _delivered(client, owner, made["id"]), "delivered once released")


async def test_a_redirect_to_cloud_metadata_is_refused_at_delivery(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner = await signed_in(app, client, "own@acme.test", role="producer")
    ds = await dataset(client, owner, "shop.orders")
    made = await rule(client, owner, _hook(receiver))
    receiver.answer(307, location="http://169.254.169.254/latest/meta-data/")
    await touch(client, owner, ds["id"], "first")

    async def attempted() -> list[dict[str, Any]]:
        items = await deliveries(client, owner, made["id"])
        return items if items and items[0]["log"] else []

    [d] = await until(attempted, "the first attempt")
    assert "169.254.169.254" in d["log"][0]["error"] and "refused" in d["log"][0]["error"]


async def test_send_test_reports_what_the_receiver_answered(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner = await signed_in(app, client, "own@acme.test")
    made = await rule(client, owner, _hook(receiver))
    r = await client.post(f"/api/alerts/{made['id']}/test", headers=owner.headers)
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["status_code"] == 200
    [call] = receiver.received
    assert call.headers["x-datamesh-event"] == "alert.test"
    assert call.json()["type"] == "alert.test" and call.delivery == r.json()["delivery_id"]
    receiver.answer(500)
    r = await client.post(f"/api/alerts/{made['id']}/test", headers=owner.headers)
    assert r.json()["ok"] is False and r.json()["error"] == "HTTP 500"
    items = await deliveries(client, owner, made["id"])
    assert [i["state"] for i in items] == ["failed", "delivered"]


def _readme_verify() -> Any:
    """The verification snippet of the README's Alerts section, run as written."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Alerts\n", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    return scope["verify"]


async def test_the_readme_snippet_verifies_a_real_delivery(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_HOOK_SECRET", SECRET)
    owner = await signed_in(app, client, "own@acme.test")
    made = await rule(client, owner, _hook(receiver, secret="env:ALERT_HOOK_SECRET"))
    r = await client.post(f"/api/alerts/{made['id']}/test", headers=owner.headers)
    assert r.json()["ok"] is True
    [call] = receiver.received
    verify = _readme_verify()
    assert verify(SECRET, call.body, call.headers["x-datamesh-signature"]) is True
    assert verify("another secret", call.body, call.headers["x-datamesh-signature"]) is False
    assert verify(SECRET, call.body + b" ", call.headers["x-datamesh-signature"]) is False


async def test_slack_gets_an_incoming_webhook_message_with_blocks(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    owner = await signed_in(app, client, "own@acme.test", role="producer")
    ds = await dataset(client, owner, "shop.orders")
    made = await rule(
        client, owner, {"kind": "slack", "url": receiver.url("/services/T0/B0/x")},
        events=["dataset.deprecated"],
    )  # fmt: skip
    r = await client.delete(f"/api/datasets/{ds['id']}", headers=owner.headers)
    assert r.status_code == 200, r.text
    [call] = await until(lambda: receiver.received, "the Slack message")
    body = call.json()
    assert body["text"].startswith("shop.orders was deprecated")
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds[0] == "header" and kinds[-1] == "actions"
    assert body["blocks"][-1]["elements"][0]["url"].endswith(f"/datasets/{ds['id']}")
    assert any("Impact" in (b.get("text") or {}).get("text", "") for b in body["blocks"])
    assert "x-datamesh-signature" not in call.headers
    await until(lambda: _delivered(client, owner, made["id"]), "delivered")


async def test_the_payload_counts_the_whole_radius_and_describes_only_the_top(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """The alert's impact asks for one page of TOP_IMPACT items: the totals still cover all."""
    producer = await signed_in(app, client, "prod@acme.test", role="producer")
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    await send(client, producer, run("load_orders", ["raw.orders"], ["shop.orders"], start=start))
    for i in range(12):
        await send(client, producer, run(f"mart_{i}", ["shop.orders"], [f"mart.m{i}"], start=start))
    await rule(client, producer, _hook(receiver), events=["process.run_failed"])
    await send(client, producer, _load_orders_fails(start))
    got = await until(lambda: receiver.received, "the webhook call")
    body = got[0].json()
    r = await client.get(
        "/api/lineage/impact",
        params={"node": body["subject"]["id"], "limit": 10},
        headers=producer.headers,
    )
    impact = r.json()
    assert body["impact"]["datasets"] == impact["totals"]["datasets"] == 13
    assert body["impact"]["processes"] == impact["totals"]["processes"] == 12
    assert [t["id"] for t in body["impact"]["top"]] == [i["id"] for i in impact["items"]]
    assert len(body["impact"]["top"]) == 10
