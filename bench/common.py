"""Shared helpers: a private PostgreSQL, an app on it, a real ``datamesh serve`` on a seeded
database, percentiles, result files."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from datamesh.app import create_app
from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres

RESULTS = Path(__file__).parent / "results"


@asynccontextmanager
async def bench_app(name: str, **settings: Any) -> AsyncIterator[tuple[FastAPI, EmbeddedPostgres]]:
    """A fresh embedded PostgreSQL and the app on it (torn down afterwards)."""
    base = Path(tempfile.mkdtemp(prefix=f"datamesh-bench-{name}-"))
    pg = EmbeddedPostgres(base)
    pg.start()
    try:
        app = create_app(
            Settings(
                database_url=pg.url(),
                data_dir=base,
                log_level="WARNING",
                db_pool_size=20,
                **settings,
            )
        )
        async with app.router.lifespan_context(app):
            yield app, pg
    finally:
        pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)  # a 100k-dataset cluster is gigabytes


async def bench_org(app: FastAPI) -> Any:
    """The bench's signed-in producer (``b@bench.test`` / ``bench-password``) and its org's id."""
    from sqlalchemy import text

    from datamesh.users import service as users
    from datamesh.users.schemas import UserCreate

    async with app.state.sessionmaker() as s:
        await users.create_user(
            s,
            None,
            UserCreate(email="b@bench.test", password="bench-password", role="producer"),
            org_name="Bench",
        )
        await s.commit()
        return (
            await s.execute(text("SELECT org_id FROM users WHERE email = 'b@bench.test'"))
        ).scalar_one()


async def bench_auth(c: httpx.AsyncClient) -> dict[str, str]:
    """The bench user's bearer header on a client (its session cookie dropped: the header alone
    authenticates each request)."""
    r = await c.post(
        "/api/auth/login", json={"email": "b@bench.test", "password": "bench-password"}
    )
    c.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": round(pct(samples_ms, 50), 3),
        "p95_ms": round(pct(samples_ms, 95), 3),
        "p99_ms": round(pct(samples_ms, 99), 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3) if samples_ms else float("nan"),
    }


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return (time.perf_counter() - start) * 1000


def save(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({name: result}, indent=2, default=str))


# -- a real `datamesh serve` on a seeded database (bench.load, bench.hot) ----------------------
SERVE_PASSWORD = "load-password-1"
SERVE_USERS = (("producer@load.test", "producer"), ("viewer@load.test", "viewer"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "datamesh.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"datamesh {args[0]} {args[1]} failed:\n{done.stderr[-3000:]}")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    base: Path
    pg: Any | None
    db_url: str
    env: dict[str, str]


def start_server(
    datasets: list[dict[str, Any]],
    *,
    workers: int = 1,
    database_url: str | None = None,
    max_streams: int = 2000,
    prefix: str = "datamesh-load-",
) -> Server:
    """Users (a producer and a viewer of org "Load"), the datasets imported, then
    ``datamesh serve`` on a free port (not waited for: see ``wait_ready``)."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    pg = None
    db_url = database_url
    if not db_url:
        pg = EmbeddedPostgres(base)
        pg.start()
        db_url = pg.url(driver="postgresql")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAMESH_")}
    env.update(
        DATABASE_URL=db_url,
        DATAMESH_DATA_DIR=str(base / "data"),
        DATAMESH_SECRET_KEY="load-test-secret-key-0123456789abcdef0123456789",
        DATAMESH_LOG_LEVEL="WARNING",
        DATAMESH_HEALTH_CHECKS_ENABLED="false",
        DATAMESH_SSE_MAX_STREAMS=str(max_streams),
    )
    for email, role in SERVE_USERS:
        _cli(env, "users", "create", "--email", email, "--org", "Load", "--role", role,
             "--password", SERVE_PASSWORD)  # fmt: skip
    seed = base / "datasets.jsonl"
    seed.write_text("\n".join(json.dumps(d) for d in datasets) + "\n")
    _cli(env, "catalog", "import", str(seed), "--org", "Load")
    port = free_port()
    log = (base / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "datamesh.cli", "serve"),
            *("--port", str(port), "--workers", str(workers)),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Server(f"http://127.0.0.1:{port}", proc, base, pg, db_url, env)


async def wait_ready(c: httpx.AsyncClient, server: Server) -> None:
    """Until /api/ready answers 200; exits with the server's log if it died."""
    for _ in range(1800):  # start-up can be slow on a busy machine
        if server.proc.poll() is not None:
            break
        try:
            if (await c.get(f"{server.url}/api/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    else:
        server.proc.kill()
    log = (server.base / "serve.log").read_text(errors="replace")[-3000:]
    raise SystemExit(f"the server did not start:\n{log}")


def stop_server(server: Server) -> int | None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = server.proc.wait(60)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        code = None
    if server.pg is not None:
        server.pg.stop("immediate")
    shutil.rmtree(server.base, ignore_errors=True)
    return code


async def login(c: httpx.AsyncClient, email: str, password: str = SERVE_PASSWORD) -> dict[str, str]:
    """A bearer header for the user (the cookies the login also set are dropped)."""
    r = await c.post("/api/auth/login", json={"email": email, "password": password})
    r.raise_for_status()
    c.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
