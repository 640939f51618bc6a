"""Live stream delivery: 1,000 SSE subscribers spread over a server with 2 worker processes;
latency from the commit of a write (its HTTP response) to receipt by every subscriber, next to
a pure in-process asyncio fan-out to the same number of consumers in the same run.
Seed bound: < 3 s. Goal: p99 < 100 ms and <= 3x the in-process figure. Also reports the server's
memory per idle subscriber."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httptools
import httpx
import psutil

from bench.common import pct, save, summary
from datamesh.embedded_pg import EmbeddedPostgres

SUBSCRIBERS = 1000
WRITES = 20
PASSWORD = "bench-password-1"


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for p in processes:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:  # helper processes (e.g. the resource tracker) come and go
            continue
    return total


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    client: httpx.AsyncClient  # on the server's base URL
    headers: dict[str, str]  # a signed-in producer's
    server: subprocess.Popen[bytes]


@asynccontextmanager
async def served(
    name: str, env: dict[str, str], *, workers: int = 2, limits: httpx.Limits | None = None
) -> AsyncIterator[Served]:
    """A ``datamesh serve --workers N`` on a private embedded PostgreSQL, ready, with one
    producer signed in (shared by the stream and alerts benches; torn down afterwards)."""
    base = Path(tempfile.mkdtemp(prefix=f"datamesh-bench-{name}-"))
    pg = EmbeddedPostgres(base)
    pg.start()
    port = _port()
    full = {
        **os.environ,
        "DATABASE_URL": pg.url(driver="postgresql"),
        "DATAMESH_DATA_DIR": str(base),
        "DATAMESH_LOG_LEVEL": "WARNING",
        "DATAMESH_HEALTH_CHECKS_ENABLED": "false",
        **env,
    }
    subprocess.run(
        [sys.executable, "-m", "datamesh.cli", "users", "create", "--email", "bench@bench.test",
         "--password", PASSWORD, "--org", "Bench", "--role", "producer"],
        env=full, check=True, capture_output=True,
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "datamesh.cli", "serve", "--port", str(port),
         "--workers", str(workers)],
        env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=60,
            limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20),
        ) as c:
            for _ in range(600):
                try:
                    if (await c.get("/api/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            token = (
                await c.post(
                    "/api/auth/login", json={"email": "bench@bench.test", "password": PASSWORD}
                )
            ).json()["access_token"]
            c.cookies.clear()
            yield Served(c, {"Authorization": f"Bearer {token}"}, server)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


class _StreamReader(asyncio.Protocol):
    """One live stream read with httptools (uvicorn's C parser) and nothing else on top.

    The bench times the server. Read through httpx's streaming layers (httpcore, anyio, line
    decoding per subscriber), each event cost the bench's one process more than its delivery
    cost the server: with 1,000 subscribers the client's own backlog was most of the figure."""

    def __init__(
        self,
        request: bytes,
        on_item: Callable[[dict[str, Any]], None],
        on_connected: Callable[[], None],
        closed: asyncio.Future[None],
    ) -> None:
        self.request, self.on_item, self.on_connected, self.closed = (
            request, on_item, on_connected, closed,
        )  # fmt: skip
        self.parser = httptools.HttpResponseParser(self)
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:  # httptools: de-chunked body bytes
        lines = (self.tail + body).split(b"\n")
        self.tail = lines.pop()
        for line in lines:
            if line.startswith(b": connected"):
                self.on_connected()
            elif line.startswith(b"data:"):
                self.on_item(json.loads(line[5:]))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def subscribe(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    on_item: Callable[[dict[str, Any]], None],
    on_connected: Callable[[], None],
) -> None:
    """Read one live stream (``/api/feed/stream`` of ``client``'s server) until cancelled."""
    url = client.base_url
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"GET /api/feed/stream HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Accept: text/event-stream\r\n{head}\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[None] = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: _StreamReader(request, on_item, on_connected, closed), url.host, url.port
    )
    try:
        await closed
    finally:
        transport.close()


async def in_process_baseline() -> list[float]:
    queues = [asyncio.Queue() for _ in range(SUBSCRIBERS)]
    lat: list[float] = []

    async def consumer(q: asyncio.Queue) -> None:
        while True:
            sent = await q.get()
            if sent is None:
                return
            lat.append((time.perf_counter() - sent) * 1000)

    tasks = [asyncio.create_task(consumer(q)) for q in queues]
    for _ in range(WRITES):
        now = time.perf_counter()
        for q in queues:
            q.put_nowait(now)
        await asyncio.sleep(0.05)
    for q in queues:
        q.put_nowait(None)
    await asyncio.gather(*tasks)
    return lat


async def run() -> dict:
    limits = httpx.Limits(
        max_connections=SUBSCRIBERS + 50, max_keepalive_connections=SUBSCRIBERS + 50
    )
    async with served("stream", {"DATAMESH_SSE_MAX_STREAMS": "5000"}, limits=limits) as srv:
        c, headers = srv.client, srv.headers
        workers = list(psutil.Process(srv.server.pid).children(recursive=True))
        rss_before = _rss(workers)
        arrivals: dict[str, list[float]] = {}
        ready, counter = asyncio.Event(), [0]

        def connected() -> None:
            counter[0] += 1
            if counter[0] == SUBSCRIBERS:
                ready.set()

        def arrived(item: dict[str, Any]) -> None:
            arrivals.setdefault(item["subject"]["id"], []).append(time.perf_counter())

        readers = [
            asyncio.create_task(subscribe(c, headers, arrived, connected))
            for _ in range(SUBSCRIBERS)
        ]
        await asyncio.wait_for(ready.wait(), 120)
        await asyncio.sleep(1)
        rss_after = _rss(workers)
        committed: dict[str, float] = {}
        for i in range(WRITES):
            r = await c.post(
                "/api/datasets",
                json={
                    "namespace": "bench://s",
                    "name": f"t{i}",
                    "platform": "postgresql",
                    "visibility": "public",
                },
                headers=headers,
            )
            committed[r.json()["id"]] = time.perf_counter()
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)
        for t in readers:
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    lat, last, missing = [], [], 0
    for ds_id, t0 in committed.items():
        got = arrivals.get(ds_id, [])
        missing += SUBSCRIBERS - len(got)
        lat += [(t - t0) * 1000 for t in got]
        if got:
            last.append((max(got) - t0) * 1000)
    baseline = await in_process_baseline()
    s, b = summary(lat), summary(baseline)
    return {
        "subscribers": SUBSCRIBERS,
        "server_workers": 2,
        "writes": WRITES,
        "missed_deliveries": missing,
        "sse_delivery": s,
        "time_to_last_delivery_ms_p50": round(pct(last, 50), 1),
        "in_process_asyncio_fanout": b,
        "ratio_p99_over_in_process_p99": round(s["p99_ms"] / max(b["p99_ms"], 0.001), 1),
        "memory_per_idle_subscriber_kib": round((rss_after - rss_before) / SUBSCRIBERS / 1024, 1),
        "note": "client and server share the machine's 2 cores: delivery includes the client's reading of 1,000 streams (httptools, one process)",
        "goal": "p99 < 100 ms and <= 3x in-process; seed bound < 3 s",
    }


def main() -> None:
    save("stream", asyncio.run(run()))


if __name__ == "__main__":
    main()
