"""Periodic node health checks: the background checker in the app, claims shared by several
processes, one check at a time per node, a clean stop. Real PostgreSQL and HTTP targets."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from fastapi import FastAPI

from datamesh.config import Settings
from datamesh.connectors import service
from datamesh.connectors.health import HealthChecker, build_runtime
from datamesh.db import make_engine, make_sessionmaker, session_scope
from tests.conftest import client_for, running_app
from tests.connectors.conftest import TargetDatabase
from tests.factories import signed_in
from tests.fixtures.http_target import HttpTarget

PG_ENV = "DM_TEST_HEALTH_PG_PASSWORD"


@pytest.fixture
async def checking_app(
    settings: Settings, clean_db: None, monkeypatch: pytest.MonkeyPatch, target_db: TargetDatabase
) -> AsyncIterator[FastAPI]:
    monkeypatch.setenv(PG_ENV, target_db.password)
    fast = settings.model_copy(
        update={"health_checks_enabled": True, "health_check_poll_seconds": 0.1}
    )
    async with running_app(fast, migrate_on_start=False) as app:
        yield app


def _pg_node(target_db: TargetDatabase, name: str, interval: int | None = 10) -> dict:
    return {
        "name": name,
        "type": "postgresql",
        "config": {
            "host": "127.0.0.1",
            "port": target_db.port,
            "database": target_db.database,
            "user": target_db.user,
            "sslmode": "disable",
        },
        "secrets": {"password": f"env:{PG_ENV}"},
        "check_interval_seconds": interval,
    }


async def _wait_for(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_background_checker_checks_a_due_node(
    checking_app: FastAPI, target_db: TargetDatabase, raw_conn: asyncpg.Connection
) -> None:
    app = checking_app
    assert app.state.health_checker.running
    async with client_for(app) as client:
        admin = await signed_in(app, client, "admin@acme.test", role="admin")
        node = (
            await client.post(
                "/api/nodes", json=_pg_node(target_db, "warehouse"), headers=admin.headers
            )
        ).json()
        manual_only = (
            await client.post(
                "/api/nodes", json=_pg_node(target_db, "manual", None), headers=admin.headers
            )
        ).json()

        async def checked() -> bool:
            r = await client.get(f"/api/nodes/{node['id']}", headers=admin.headers)
            return bool(r.json()["status"] != "unknown")

        await _wait_for(checked)
        got = (await client.get(f"/api/nodes/{node['id']}", headers=admin.headers)).json()
        assert got["status"] == "ok", got
        assert got["last_message"].startswith("PostgreSQL ")
        history = (
            await client.get(f"/api/nodes/{node['id']}/checks", headers=admin.headers)
        ).json()["items"]
        assert [(c["status"], c["trigger"]) for c in history] == [("ok", "schedule")]
        untouched = (
            await client.get(f"/api/nodes/{manual_only['id']}", headers=admin.headers)
        ).json()
        assert untouched["status"] == "unknown", "no interval: checked on demand only"

    next_check = await raw_conn.fetchval(
        "SELECT next_check_at - last_checked_at FROM nodes WHERE id = $1", node["id"]
    )
    assert next_check.total_seconds() == 10
    events = await raw_conn.fetch(
        "SELECT actor_kind, actor_name, payload, org_id FROM events "
        "WHERE type = 'node.status_changed' AND subject_id = $1",
        node["id"],
    )
    assert len(events) == 1
    assert (events[0]["actor_kind"], events[0]["actor_name"]) == ("system", "health-checker")
    assert json.loads(events[0]["payload"])["to"] == "ok"
    assert str(events[0]["org_id"]) == admin.org_id
    audits = await raw_conn.fetch(
        "SELECT action FROM audit_log WHERE target_id = $1 ORDER BY seq", node["id"]
    )
    assert [a["action"] for a in audits] == ["node.create", "node.status_change"]


async def test_checks_can_be_turned_off(settings: Settings, clean_db: None) -> None:
    off = settings.model_copy(update={"health_checks_enabled": False})
    async with running_app(off, migrate_on_start=False) as app:
        assert app.state.health_checker is None
        assert app.state.connector_runtime.resolver is app.state.secret_resolver


async def test_each_due_node_is_claimed_by_one_process(
    checking_app: FastAPI,
    settings: Settings,
    db_url: str,
    target_db: TargetDatabase,
    raw_conn: asyncpg.Connection,
) -> None:
    app = checking_app
    await app.state.health_checker.stop()  # claim by hand here
    async with client_for(app) as client:
        admin = await signed_in(app, client, "admin@acme.test", role="admin")
        for i in range(5):
            r = await client.post(
                "/api/nodes", json=_pg_node(target_db, f"n{i}"), headers=admin.headers
            )
            assert r.status_code == 201
    other_engine = make_engine(db_url, settings)  # a second API process
    try:
        mine, theirs = app.state.sessionmaker, make_sessionmaker(other_engine)
        async with mine() as first:
            claimed = await service.claim_due_nodes(first, 3, lease_seconds=60)
            assert len(claimed) == 3
            async with theirs() as second:
                # The first claim is not committed yet: its rows are skipped, not waited on.
                rest = await service.claim_due_nodes(second, 10, lease_seconds=60)
                assert len(rest) == 2
                assert not {t.id for t in claimed} & {t.id for t in rest}
                await second.commit()
            await first.commit()
        async with session_scope(theirs) as third:
            assert await service.claim_due_nodes(third, 10, lease_seconds=60) == []
        await raw_conn.execute("UPDATE nodes SET next_check_at = now() - interval '1 second'")
        async with session_scope(theirs) as fourth:
            assert len(await service.claim_due_nodes(fourth, 10, lease_seconds=60)) == 5
    finally:
        await other_engine.dispose()


async def test_one_check_at_a_time_per_node_and_a_clean_stop(
    checking_app: FastAPI,
    settings: Settings,
    http_target: HttpTarget,
    raw_conn: asyncpg.Connection,
) -> None:
    app = checking_app
    key = f"one-check-{uuid.uuid4()}"
    await app.state.health_checker.stop()
    async with client_for(app) as client:
        admin = await signed_in(app, client, "admin@acme.test", role="admin")
        node = (
            await client.post(
                "/api/nodes",
                json={
                    "name": "slow",
                    "type": "http_api",
                    "config": {"url": http_target.url(f"/hold?key={key}")},
                    "check_interval_seconds": 10,
                },
                headers=admin.headers,
            )
        ).json()
    checker = HealthChecker(
        app.state.sessionmaker, build_runtime(settings), poll_seconds=0.05, concurrency=4
    )
    seen_before = len(http_target.seen)
    checker.start()
    try:

        async def in_flight() -> bool:
            return bool(checker.in_flight) and http_target.held(key) == 1

        await _wait_for(in_flight)
        # Even with the lease gone, this process does not start a second check of the node.
        await raw_conn.execute("UPDATE nodes SET next_check_at = now() - interval '1 second'")
        await asyncio.sleep(0.5)
        assert checker.in_flight == {uuid.UUID(node["id"])}
        held_requests = [s for s in http_target.seen[seen_before:] if s.path == "/hold"]
        assert len(held_requests) == 1
    finally:
        try:
            await checker.stop()
            assert http_target.held(key) == 1, "stopping does not wait for the target"
        finally:
            http_target.release(key)
    assert not checker.running
    assert checker.in_flight == frozenset()
    assert await raw_conn.fetchval("SELECT count(*) FROM node_checks") == 0
    assert await raw_conn.fetchval("SELECT status FROM nodes") == "unknown"


async def test_a_database_outage_does_not_kill_the_checker(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = make_engine(f"postgresql+asyncpg://u:p@127.0.0.1:{port}/nowhere", settings)
    checker = HealthChecker(
        make_sessionmaker(engine), build_runtime(settings), poll_seconds=0.05, concurrency=2
    )
    caplog.set_level(logging.WARNING, logger="datamesh.connectors.health")
    checker.start()
    try:

        async def failed_polls() -> bool:
            return caplog.text.count("node health poll failed") >= 2

        await _wait_for(failed_polls)
        assert checker.running  # it went on polling after the first failure
    finally:
        await checker.stop()
        await engine.dispose()
    assert not checker.running


async def test_checks_are_reachable_over_the_api_while_the_checker_runs(
    checking_app: FastAPI, http_target: HttpTarget
) -> None:
    # A slow periodic check does not hold up requests.
    app = checking_app
    key = f"busy-{uuid.uuid4()}"
    async with client_for(app) as client:
        admin = await signed_in(app, client, "admin@acme.test", role="admin")
        await client.post(
            "/api/nodes",
            json={
                "name": "slow",
                "type": "http_api",
                "config": {"url": http_target.url(f"/hold?key={key}")},
                "check_interval_seconds": 10,
            },
            headers=admin.headers,
        )

        async def busy() -> bool:
            return bool(app.state.health_checker.in_flight) and http_target.held(key) == 1

        await _wait_for(busy)
        try:
            r = await client.get("/api/nodes", headers=admin.headers)
            assert r.status_code == 200
            # answered while the check still waits for its target
            assert http_target.held(key) == 1
            assert app.state.health_checker.in_flight
        finally:
            http_target.release(key)
