"""Connect under 20 concurrent clients: p50/p95 of ``POST /api/datasets/{id}/connect`` (all five
artifacts, with the caller's default profile) next to ``GET /api/health``, measured in the same
run on the same event loop (in-process ASGI client, as bench/search.py).

Each of the 20 clients alternates a Connect, a health check and, for reference, a plain
``GET /api/datasets/{id}`` (one authenticated read), so all see the same load.
Latency is taken twice: server-side (from the ASGI call to the last body byte, by a wrapper
around the app) and client-side (around the httpx call). A single-client pass gives the cost
of one request without queueing, and rendering alone (no HTTP, no database) the share of the
templates. Goals: Connect p95 < 10 ms server-side and <= 3x health."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from typing import Any

import httpx

from bench.common import bench_app, save, summary

CLIENTS = 20
ROUNDS = 100  # per client: ROUNDS connects and ROUNDS health checks
SERIAL = 300
PLATFORMS = ["snowflake", "databricks", "bigquery", "redshift", "postgresql"]
DATASETS_PER_PLATFORM = 20
PROFILES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "snowflake": (
        {"account": "myorg-myaccount", "user": "bench", "role": "ANALYST", "warehouse": "WH"},
        {"password": "env:SNOWFLAKE_PASSWORD"},
    ),
    "databricks": (
        {
            "workspace_host": "adb-1234567890123456.7.azuredatabricks.net",
            "http_path": "/sql/1.0/warehouses/abc123",
            "catalog": "main",
        },
        {"token": "vault:secret/datamesh/databricks#token"},
    ),
    "bigquery": (
        {"project": "billing-proj", "location": "EU", "credentials_method": "service_account_file"},
        {"credentials_file": "file:/run/secrets/bq-key.json"},
    ),
    "redshift": (
        {
            "host": "c1.abc123.us-east-1.redshift.amazonaws.com",
            "database": "dev",
            "user": "bench",
        },
        {"password": "env:REDSHIFT_PASSWORD"},
    ),
    "postgresql": (
        {"host": "db.example.com", "database": "app", "user": "bench"},
        {"password": "env:PGPASSWORD"},
    ),
}


class ServerTimer:
    """ASGI wrapper: per route, the time from the call to the response's last body byte."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.recording = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        route = (
            "connect"
            if path.endswith("/connect")
            else "get_dataset"
            if path.startswith("/api/datasets/")
            else path
        )

        async def timed_send(message: Any) -> None:
            await send(message)
            if (
                self.recording
                and message["type"] == "http.response.body"
                and not message.get("more_body")
            ):
                self.samples[route].append((time.perf_counter() - start) * 1000)

        await self.app(scope, receive, timed_send)


async def _setup(client: httpx.AsyncClient, app: Any) -> tuple[dict[str, str], list[str]]:
    from datamesh.db import session_scope
    from datamesh.users import service as users
    from datamesh.users.schemas import UserCreate

    async with session_scope(app.state.sessionmaker) as s:
        await users.create_user(
            s,
            None,
            UserCreate(email="bench@bench.test", password="bench-password", role="producer"),
            org_name="Bench",
        )
    r = await client.post(
        "/api/auth/login", json={"email": "bench@bench.test", "password": "bench-password"}
    )
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    for platform, (settings, secrets) in PROFILES.items():
        r = await client.post(
            "/api/platform-profiles",
            json={
                "name": f"{platform} (bench)",
                "platform": platform,
                "settings": settings,
                "secrets": secrets,
                "is_default": True,
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
    ids = []
    for platform in PLATFORMS:
        for i in range(DATASETS_PER_PLATFORM):
            db = "analytics-1" if platform == "bigquery" else "analytics"
            r = await client.post(
                "/api/datasets",
                json={
                    "namespace": f"{platform}://bench",
                    "name": f"{db}.sales.orders_{i}",
                    "platform": platform,
                    "visibility": "internal",
                    "source": {"database": db, "schema": "sales", "table": f"orders {i}"},
                    "fields": [
                        {"name": "id", "type": "bigint"},
                        {"name": "amount", "type": "numeric"},
                        {"name": "created_at", "type": "timestamp"},
                    ],
                },
                headers=headers,
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    return headers, ids


async def run() -> dict[str, Any]:
    async with bench_app("connect", health_checks_enabled=False) as (app, _pg):
        timer = ServerTimer(app)
        transport = httpx.ASGITransport(app=timer)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            headers, ids = await _setup(client, app)
            client_side: dict[str, list[float]] = defaultdict(list)

            async def connect(rng: random.Random, record: bool) -> None:
                t = time.perf_counter()
                r = await client.post(
                    f"/api/datasets/{rng.choice(ids)}/connect", json={}, headers=headers
                )
                if record:
                    client_side["connect"].append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
                assert len(r.json()["artifacts"]) == 5

            async def health(record: bool) -> None:
                t = time.perf_counter()
                r = await client.get("/api/health")
                if record:
                    client_side["/api/health"].append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200

            async def get_dataset(rng: random.Random, record: bool) -> None:
                t = time.perf_counter()
                r = await client.get(f"/api/datasets/{rng.choice(ids)}", headers=headers)
                if record:
                    client_side["get_dataset"].append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text

            async def worker(seed: int, rounds: int, record: bool) -> None:
                rng = random.Random(seed)
                for _ in range(rounds):
                    await connect(rng, record)
                    await health(record)
                    await get_dataset(rng, record)

            # Warm up (pool connections, caches), then the measured concurrent run.
            await asyncio.gather(*(worker(i, 10, False) for i in range(CLIENTS)))
            timer.recording = True
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(100 + i, ROUNDS, True) for i in range(CLIENTS)))
            elapsed = time.perf_counter() - t0
            timer.recording = False
            concurrent_server = {k: list(v) for k, v in timer.samples.items()}
            concurrent_client = dict(client_side)

            # One client: the cost of a request without queueing behind others.
            timer.samples.clear()
            client_side.clear()
            timer.recording = True
            await worker(999, SERIAL, True)
            timer.recording = False
            serial_server = {k: list(v) for k, v in timer.samples.items()}
    render_ms = _render_only()

    c_srv = summary(concurrent_server["connect"])
    h_srv = summary(concurrent_server["/api/health"])
    c_cli = summary(concurrent_client["connect"])
    h_cli = summary(concurrent_client["/api/health"])
    return {
        "clients": CLIENTS,
        "requests": 3 * CLIENTS * ROUNDS,
        "throughput_rps": round(3 * CLIENTS * ROUNDS / elapsed, 1),
        "connect_server": c_srv,
        "health_server": h_srv,
        "connect_client": c_cli,
        "health_client": h_cli,
        "get_dataset_server": summary(concurrent_server["get_dataset"]),
        "ratio_connect_p95_over_health_p95_server": round(c_srv["p95_ms"] / h_srv["p95_ms"], 2),
        "ratio_connect_p95_over_health_p95_client": round(c_cli["p95_ms"] / h_cli["p95_ms"], 2),
        "single_client_connect_server": summary(serial_server["connect"]),
        "single_client_health_server": summary(serial_server["/api/health"]),
        "single_client_get_dataset_server": summary(serial_server["get_dataset"]),
        "render_only_five_artifacts": summary(render_ms),
        "goal": "connect p95 < 10 ms server-side and <= 3x health (20 concurrent, same run)",
    }


def _render_only() -> list[float]:
    """The renderer alone: five artifacts for one dataset, templates already compiled."""
    from datamesh.connect import renderer

    renderer.preload()
    samples = []
    for i in range(SERIAL):
        platform = PLATFORMS[i % len(PLATFORMS)]
        settings, secrets = PROFILES[platform]
        source = renderer.DatasetSource(
            namespace=f"{platform}://bench",
            name=f"analytics.sales.orders_{i}",
            platform=platform,
            fields=[renderer.FieldInfo("id", "bigint")],
        )
        profile = renderer.ProfileInfo(platform, settings, secrets)
        t = time.perf_counter()
        renderer.render(source, profile)
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def main() -> None:
    save("connect", asyncio.run(run()))


if __name__ == "__main__":
    main()
