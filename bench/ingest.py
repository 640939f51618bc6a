"""OpenLineage ingestion throughput, events per second, with 8 concurrent clients: one event per
request, and batches of 200 (POST /api/v1/lineage/batch). Goal: >= 2,000 events/s batched.
The baseline measured side by side is the same clients posting to GET /api/health-sized
no-op work: the request rate the server reaches with no ingestion at all."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from bench.common import bench_app, save

CLIENTS = 8
EVENTS = 4000
BATCH = 200


def events(prefix: str, n: int) -> list[dict]:
    """Realistic runs: each job reads 3 datasets and writes 1, START then COMPLETE."""
    out = []
    t = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(n // 2):
        job = {"namespace": "bench", "name": f"{prefix}_job_{i % 500}"}
        run = {"runId": str(uuid.uuid4())}
        inputs = [
            {"namespace": "s3://lake", "name": f"{prefix}/in_{(i * 7 + k) % 2000}"}
            for k in range(3)
        ]
        outputs = [
            {
                "namespace": "s3://lake",
                "name": f"{prefix}/out_{i % 1000}",
                "facets": {
                    "schema": {
                        "_producer": "bench",
                        "_schemaURL": "x",
                        "fields": [{"name": "id", "type": "int"}, {"name": "v", "type": "text"}],
                    }
                },
            }
        ]
        base = {
            "producer": "bench",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
            "job": job,
            "run": run,
        }
        out.append(
            {
                **base,
                "eventType": "START",
                "eventTime": (t + timedelta(seconds=i)).isoformat(),
                "inputs": inputs,
            }
        )
        out.append(
            {
                **base,
                "eventType": "COMPLETE",
                "eventTime": (t + timedelta(seconds=i, milliseconds=500)).isoformat(),
                "inputs": inputs,
                "outputs": outputs,
            }
        )
    return out


async def _drive(client: httpx.AsyncClient, bodies: list, path: str, headers: dict) -> float:
    queue: asyncio.Queue = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def worker() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            r = (
                await client.post(path, json=body, headers=headers)
                if body is not None
                else await client.get("/api/health")
            )
            assert r.status_code == 200, r.text

    t = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(CLIENTS)])
    return time.perf_counter() - t


async def run() -> dict:
    from datamesh.users import service as users
    from datamesh.users.schemas import UserCreate

    async with bench_app("ingest") as (app, _pg):
        async with app.state.sessionmaker() as s:
            await users.create_user(
                s,
                None,
                UserCreate(email="etl@bench.test", password="bench-password", role="producer"),
                org_name="Bench",
            )
            await s.commit()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://b", timeout=120
        ) as c:
            tok = (
                await c.post(
                    "/api/auth/login",
                    json={"email": "etl@bench.test", "password": "bench-password"},
                )
            ).json()["access_token"]
            c.cookies.clear()
            auth = {"Authorization": f"Bearer {tok}"}
            key = (
                await c.post(
                    "/api/auth/api-keys", json={"name": "ol", "role": "producer"}, headers=auth
                )
            ).json()["key"]
            headers = {"Authorization": f"Bearer {key}"}
            health_s = await _drive(c, [None] * 2000, "", {})
            first = events("batched", EVENTS)
            first_batches = [first[i : i + BATCH] for i in range(0, len(first), BATCH)]
            first_s = await _drive(c, first_batches, "/api/v1/lineage/batch", headers)
            # Steady state: the same jobs and datasets run again (new run ids), as pipelines do.
            batched = events("batched", EVENTS)
            batches = [batched[i : i + BATCH] for i in range(0, len(batched), BATCH)]
            batch_s = await _drive(c, batches, "/api/v1/lineage/batch", headers)
            replay_s = await _drive(c, batches, "/api/v1/lineage/batch", headers)
            single = events("batched", EVENTS // 4)
            single_s = await _drive(c, single, "/api/v1/lineage", headers)
        async with app.state.sessionmaker() as s:
            edges = (await s.execute(text("SELECT count(*) FROM lineage_edges"))).scalar_one()
        return {
            "clients": CLIENTS,
            "single_events_per_s": round(len(single) / single_s, 1),
            "batched_events_per_s": round(len(batched) / batch_s, 1),
            "batched_first_sight_events_per_s": round(len(first) / first_s, 1),
            "batch_size": BATCH,
            "replayed_batches_events_per_s": round(len(batched) / replay_s, 1),
            "health_requests_per_s_baseline": round(2000 / health_s, 1),
            "single_event_request_rate_vs_health": round(
                (len(single) / single_s) / (2000 / health_s), 2
            ),
            "edges_after": edges,
            "goal": ">= 2,000 events/s batched",
        }


def main() -> None:
    save("ingest", asyncio.run(run()))


if __name__ == "__main__":
    main()
