"""A process's latest run (its health) is kept by the runs' upsert itself (issue 21): the
newest run whatever order the events come in, and a concurrent ingestion's newer run is not
overwritten by an older one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from datamesh.lineage import repository as repo
from tests.factories import signed_in

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def _event(run_id: str, state: str, minutes: int) -> dict[str, Any]:
    return {
        "eventType": state,
        "eventTime": (T0 + timedelta(minutes=minutes)).isoformat(),
        "run": {"runId": run_id},
        "job": {"namespace": "airflow", "name": "clean_orders"},
        "inputs": [],
        "outputs": [],
        "producer": "https://example.test/producer",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }


async def _latest(raw: asyncpg.Connection) -> tuple[str, int]:
    """The process's latest run, and checks it is what reading all its runs again gives."""
    row = await raw.fetchrow("SELECT id, latest_run_state, latest_run_at FROM processes")
    again = await raw.fetchrow(
        "SELECT state, event_time FROM runs WHERE process_id = $1 ORDER BY event_time DESC LIMIT 1",
        row["id"],
    )
    assert (row["latest_run_state"], row["latest_run_at"]) == (again["state"], again["event_time"])
    return row["latest_run_state"], int((row["latest_run_at"] - T0).total_seconds() // 60)


async def test_the_latest_run_whatever_the_order_of_events(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    etl = await signed_in(app, client, "etl@acme.test", role="producer")

    async def send(*events: dict[str, Any]) -> None:
        r = await client.post("/api/v1/lineage/batch", json=list(events), headers=etl.headers)
        assert r.status_code < 300 and r.json()["accepted"] == len(events), r.text

    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    await send(_event(a, "START", 0), _event(a, "COMPLETE", 20))
    assert await _latest(raw_conn) == ("COMPLETE", 20)
    await send(_event(b, "FAIL", 10))  # an older run, reported late
    assert await _latest(raw_conn) == ("COMPLETE", 20)
    await send(_event(c, "START", 30))
    assert await _latest(raw_conn) == ("START", 30)
    await send(_event(c, "OTHER", 25))  # a late event of the latest run: it stays START
    assert await _latest(raw_conn) == ("START", 30)
    await send(_event(b, "COMPLETE", 40))  # the older run finishes last: it is the latest
    assert await _latest(raw_conn) == ("COMPLETE", 40)


async def test_a_concurrent_older_run_does_not_overwrite_a_newer_one(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    etl = await signed_in(app, client, "etl@acme.test", role="producer")
    first = await client.post(
        "/api/v1/lineage", json=_event(str(uuid.uuid4()), "COMPLETE", 0), headers=etl.headers
    )
    assert first.status_code < 300, first.text
    proc = await raw_conn.fetchval("SELECT id FROM processes")

    def row(state: str, minutes: int) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(),
            "process_id": proc,
            "run_id": str(uuid.uuid4()),
            "state": state,
            "started_at": None,
            "ended_at": None,
            "event_time": T0 + timedelta(minutes=minutes),
            "facets": {},
        }

    async with app.state.sessionmaker() as newer, app.state.sessionmaker() as older:
        await repo.upsert_runs(newer, [row("FAIL", 50)])  # holds the process row
        pid = await raw_conn.fetchval("SELECT pg_backend_pid()")
        late = asyncio.create_task(repo.upsert_runs(older, [row("COMPLETE", 40)]))
        # The older run's statement waits on the process row (its snapshot predates the
        # newer run's commit); let it get there, then commit the newer one.
        while not late.done() and not await raw_conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'WITH u AS (INSERT INTO runs%' AND pid <> $1",
            pid,
        ):
            await asyncio.sleep(0.01)
        await newer.commit()
        await late
        await older.commit()
    assert await _latest(raw_conn) == ("FAIL", 50)
