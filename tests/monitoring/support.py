"""A small warehouse pipeline built with the real OpenLineage client classes, and a clock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde

from tests.factories import Account

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/airflow"
WH = "postgres://warehouse:5432"


@dataclass
class Clock:
    """What ``app.state.clock`` returns; tests move it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


def run(
    job: str,
    inputs: list[str],
    outputs: list[str],
    *,
    start: datetime,
    state: RunState = RunState.COMPLETE,
    minutes: int = 5,
    namespace: str = "airflow",
) -> list[RunEvent]:
    """START then the final event of one new run of ``job`` reading and writing tables in WH."""
    r = Run(runId=str(uuid.uuid4()))
    j = Job(namespace=namespace, name=job)
    ins = [InputDataset(namespace=WH, name=n) for n in inputs]
    outs = [OutputDataset(namespace=WH, name=n) for n in outputs]
    return [
        RunEvent(
            eventType=RunState.START,
            eventTime=start.isoformat(),
            run=r,
            job=j,
            producer=PRODUCER,
            inputs=ins,
            outputs=[],
        ),
        RunEvent(
            eventType=state,
            eventTime=(start + timedelta(minutes=minutes)).isoformat(),
            run=r,
            job=j,
            producer=PRODUCER,
            inputs=ins,
            outputs=outs,
        ),
    ]


def as_json(events: list[RunEvent]) -> list[dict[str, Any]]:
    return [Serde.to_dict(e) for e in events]


async def send(c: httpx.AsyncClient, who: Account, events: list[RunEvent]) -> dict[str, Any]:
    r = await c.post("/api/v1/lineage/batch", json=as_json(events), headers=who.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["failed"] == 0, body
    return body


async def dataset_id(c: httpx.AsyncClient, who: Account, name: str) -> str:
    r = await c.get(
        "/api/lineage/graph",
        params={"node": f"dataset:{WH}:{name}", "depth": 0},
        headers=who.headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["nodes"][0]["id"])


async def process_id(c: httpx.AsyncClient, who: Account, name: str) -> str:
    r = await c.get("/api/lineage/processes", params={"q": name}, headers=who.headers)
    assert r.status_code == 200, r.text
    return str(next(p["id"] for p in r.json()["items"] if p["name"] == name))
