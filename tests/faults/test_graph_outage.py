"""The Bolt graph engine goes away while lineage keeps arriving: graph and impact queries are
answered by the PostgreSQL engine meanwhile (same answers), and when the graph server is back
the projection catches up by itself and the Bolt engine answers again, with what changed. A
graph server that comes back empty is rebuilt by the projector.

The graph server is a real FalkorDB reached through a TCP relay that the test can cut: the
server stays intact (as a Neo4j cluster would across a network partition) but the app can
neither reach it nor keep its open connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde
from sqlalchemy import func, select

from datamesh.config import Settings
from datamesh.lineage import projection
from datamesh.lineage import repository as lineage_repo
from datamesh.lineage.bolt import BoltGraph
from datamesh.models.events import Event
from tests.conftest import client_for, running_app
from tests.factories import api_key, signed_in
from tests.fixtures.falkordb import FalkorDBServer
from tests.fixtures.live import free_port
from tests.lineage.pipeline import PG, SF, pipeline_events


class Relay:
    """A TCP relay to the graph server that can be cut (new connections refused, open ones
    dropped) and restored on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._open):
            w.transport.abort()
        self._open.clear()
        self._server = None

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        w.transport.abort()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            w.transport.abort()
            return
        self._open.update((w, uw))
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))
        self._open.difference_update((w, uw))


@pytest.fixture(scope="module")
def falkordb() -> Iterator[FalkorDBServer]:
    with FalkorDBServer() as server:
        yield server


@pytest.fixture
async def relay(falkordb: FalkorDBServer) -> AsyncIterator[Relay]:
    r = Relay(falkordb.bolt_port)
    await r.up()
    yield r
    if r._server is not None:
        await r.cut()


@pytest.fixture
async def graph_app(
    settings: Settings, clean_db: None, relay: Relay, falkordb: FalkorDBServer
) -> AsyncIterator[FastAPI]:
    # A driver configured as the app configures its own (BoltGraph.connect, default options).
    graph = BoltGraph.connect(f"bolt://127.0.0.1:{relay.port}", falkordb.auth, dialect="falkordb")
    await graph.clear()
    fast = settings.model_copy(update={"graph_projection_interval_seconds": 0.2})
    async with running_app(fast, migrate_on_start=False, graph=graph) as app:
        yield app
    # No driver.close(): its GOODBYE would wedge FalkorDB's next connection (see the fixture).


def _extra_step(run_id: str) -> dict[str, Any]:
    """A new job downstream of the mart, sent while the graph server is away."""
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2026-11-21T06:00:00+00:00",
        run=Run(runId=run_id),
        job=Job(namespace="dbt", name="analytics.marts.sales_forecast"),
        producer="https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/dbt",
        inputs=[InputDataset(namespace=SF, name="ANALYTICS.MARTS.SALES_BY_REGION")],
        outputs=[OutputDataset(namespace=SF, name=FORECAST)],
    )
    return Serde.to_dict(event)  # type: ignore[no-any-return]


FORECAST = "ANALYTICS.MARTS.SALES_FORECAST"


def _names(graph: dict[str, Any]) -> set[str]:
    return {n["name"] for n in graph["nodes"] if n.get("name")}


async def _lineage_seq(app: FastAPI) -> tuple[int, int]:
    """(last lineage.changed event, the projection's cursor)."""
    async with app.state.sessionmaker() as s:
        last = await s.scalar(select(func.max(Event.seq)).where(Event.type == "lineage.changed"))
        return int(last or 0), await lineage_repo.cursor(s, projection.CURSOR)


async def test_queries_fall_back_and_the_projection_catches_up(
    graph_app: FastAPI, relay: Relay
) -> None:
    start = f"dataset:{PG}:public.orders"
    async with client_for(graph_app) as c:
        prod = await signed_in(graph_app, c, "p@acme.test", role="producer")
        key = await api_key(c, prod.headers)
        ol = {"Authorization": f"Bearer {key}"}
        events = [Serde.to_dict(e) for e in pipeline_events()]
        r = await c.post("/api/v1/lineage/batch", json=events, headers=ol)
        assert r.json()["accepted"] == len(events)

        async def walk() -> httpx.Response:
            r = await c.get(
                "/api/lineage/graph",
                params={"node": start, "direction": "downstream", "depth": 10},
                headers=prod.headers,
            )
            assert r.status_code == 200, r.text
            return r

        async def impact() -> dict[str, Any]:
            r = await c.get(
                "/api/lineage/impact", params={"node": start, "depth": 10}, headers=prod.headers
            )
            assert r.status_code == 200, r.text
            return r.json()  # type: ignore[no-any-return]

        async def caught_up() -> bool:
            last, cursor = await _lineage_seq(graph_app)
            return cursor >= last

        await _eventually(caught_up, "the projection follows the ingestion")
        before = (await walk()).json()
        assert before["engine"] == "bolt"

        await relay.cut()
        during = (await walk()).json()
        assert during["engine"] == "postgres"
        assert (during["nodes"], during["edges"]) == (before["nodes"], before["edges"])
        impact_during = await impact()

        # Lineage keeps arriving while the graph server is away; nothing is lost or refused.
        r = await c.post(
            "/api/v1/lineage", json=_extra_step("9b1c2f0e-5a9e-4f4e-9d35-000000000001"), headers=ol
        )
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        changed = (await walk()).json()
        assert changed["engine"] == "postgres"
        assert FORECAST in _names(changed) and FORECAST not in _names(before)
        last, cursor = await _lineage_seq(graph_app)
        assert cursor < last, "the projection cannot have applied what arrived meanwhile"

        await relay.up()
        await _eventually(caught_up, "the projection catches up when the server is back")

        async def bolt_again() -> bool:
            return bool((await walk()).json()["engine"] == "bolt")

        await _eventually(bolt_again, "the Bolt engine answers again")
        after = (await walk()).json()
        assert (after["nodes"], after["edges"]) == (changed["nodes"], changed["edges"])
        impact_after = await impact()
        assert FORECAST in {i["name"] for i in impact_after["items"]}
        assert FORECAST not in {i["name"] for i in impact_during["items"]}
        assert impact_after["totals"]["datasets"] == impact_during["totals"]["datasets"] + 1

        # The graph server comes back empty (restarted without its data): the projector sees
        # the projection's mark is gone and rebuilds; meanwhile PostgreSQL answers, the same.
        await graph_app.state.graph_engine.graph.clear()
        for _ in range(5):  # never an empty or partial answer, whoever answers
            wiped = (await walk()).json()
            assert (wiped["nodes"], wiped["edges"]) == (after["nodes"], after["edges"])
        await _eventually(bolt_again, "the Bolt engine answers again after the rebuild")
        rebuilt = (await walk()).json()
        assert (rebuilt["nodes"], rebuilt["edges"]) == (after["nodes"], after["edges"])
        assert await impact() == impact_after


async def _eventually(check: Any, what: str) -> None:
    done = False

    async def poll() -> None:
        nonlocal done
        done = await check()

    for _ in range(1800):
        await poll()
        if done:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")
