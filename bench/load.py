"""Mixed load against a real ``datamesh serve``: search, get, feed, Connect, lineage walks,
OpenLineage ingestion and dataset publishing from concurrent clients, while N live streams
(200 by default) stay open, for a bounded time. This process is the client; the server is a
second process on loopback, on a seeded database.

Prints p50/p99 per endpoint and the error count, saves ``bench/results/load.json``, and exits
non-zero if anything failed: a non-2xx answer, a transport error, a live stream that ended early,
or a publish that some stream did not receive.

    python -m bench.load --seconds 120 --streams 200 --clients 16 --workers 2
    python -m bench.load --database-url postgresql://...   # an existing (empty) database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import Server, login, pct, save, start_server, stop_server, wait_ready

PLATFORMS = ["snowflake", "databricks", "bigquery", "redshift", "postgresql"]
WORDS = [
    "orders",
    "customers",
    "payments",
    "invoices",
    "shipments",
    "returns",
    "inventory",
    "products",
    "suppliers",
    "clicks",
    "sessions",
    "campaigns",
    "leads",
    "churn",
    "revenue",
    "forecast",
    "ledger",
    "refunds",
    "carts",
    "reviews",
]
# Relative weights of the operations each client picks from.
MIX = {
    "search": 30,
    "get": 25,
    "feed": 15,
    "connect": 8,
    "lineage": 10,
    "ingest": 6,
    "publish": 6,
}
SSE_PATH = "/api/feed/stream"


@dataclass
class Stats:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    messages: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)

    def error(self, op: str, message: str) -> None:
        self.errors[op] += 1
        if len(self.messages) < 20:
            self.messages.append(f"{op}: {message}")


# -- seeding ----------------------------------------------------------------------------------
def _dataset(i: int, rng: random.Random) -> dict[str, Any]:
    platform = PLATFORMS[i % len(PLATFORMS)]
    a, b = rng.sample(WORDS, 2)
    return {
        "namespace": f"{platform}://load",
        "name": f"analytics.{a}_{b}_{i}",
        "platform": platform,
        "description": f"{a.title()} joined with {b}, refreshed daily ({i}).",
        "tags": [a, b],
        "visibility": "internal" if i % 3 else "public",
        "fields": [{"name": "id", "type": "bigint"}, {"name": f"{a}_amount", "type": "numeric"}],
    }


def _run_event(job: int, datasets: list[dict[str, Any]], run_id: str | None = None) -> dict:
    """One COMPLETE RunEvent: job j reads datasets j and j+1 and writes j+2 (a long chain)."""
    n = len(datasets)
    ins = [datasets[job % n], datasets[(job + 1) % n]]
    out = datasets[(job + 2) % n]
    return {
        "eventType": "COMPLETE",
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "run": {"runId": run_id or str(uuid.uuid4())},
        "job": {"namespace": "airflow", "name": f"load.job_{job}"},
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "inputs": [{"namespace": d["namespace"], "name": d["name"]} for d in ins],
        "outputs": [{"namespace": out["namespace"], "name": out["name"]}],
    }


# -- the workload -----------------------------------------------------------------------------
@dataclass
class World:
    producer: dict[str, str]
    viewer: dict[str, str]
    api_key: dict[str, str]
    dataset_ids: list[str]
    datasets: list[dict[str, Any]]


async def prepare(c: httpx.AsyncClient, server: Server, datasets: list[dict[str, Any]]) -> World:
    from bench.connect import PROFILES

    await wait_ready(c, server)
    producer = await login(c, "producer@load.test")
    viewer = await login(c, "viewer@load.test")
    r = await c.post(
        "/api/auth/api-keys", json={"name": "load", "role": "producer"}, headers=producer
    )
    r.raise_for_status()
    api_key = {"Authorization": f"Bearer {r.json()['key']}"}
    for platform, (settings, secrets) in PROFILES.items():
        r = await c.post(
            "/api/platform-profiles",
            json={
                "name": f"{platform} (load)",
                "platform": platform,
                "settings": settings,
                "secrets": secrets,
                "is_default": True,
            },
            headers=producer,
        )
        r.raise_for_status()
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        r = await c.get("/api/datasets", params=params, headers=producer)
        r.raise_for_status()
        body = r.json()
        ids += [d["id"] for d in body["items"]]
        cursor = body.get("next_cursor")
        if not cursor or len(ids) >= 2000:
            break
    # Lineage: a chain of jobs over the seeded datasets.
    chain = [_run_event(j, datasets) for j in range(min(len(datasets), 300))]
    for i in range(0, len(chain), 100):
        r = await c.post("/api/v1/lineage/batch", json=chain[i : i + 100], headers=api_key)
        r.raise_for_status()
    return World(producer, viewer, api_key, ids, datasets)


async def _op(c: httpx.AsyncClient, w: World, op: str, rng: random.Random, stats: Stats) -> None:
    if op == "search":
        q = " ".join(rng.sample(WORDS, rng.choice((1, 2))))
        req = c.build_request("GET", "/api/datasets", params={"query": q}, headers=w.viewer)
    elif op == "get":
        req = c.build_request("GET", f"/api/datasets/{rng.choice(w.dataset_ids)}", headers=w.viewer)
    elif op == "feed":
        mode = rng.choice(("recent", "for_you"))
        req = c.build_request("GET", "/api/feed", params={"mode": mode}, headers=w.viewer)
    elif op == "connect":
        ds = rng.choice(w.dataset_ids)
        req = c.build_request("POST", f"/api/datasets/{ds}/connect", json={}, headers=w.producer)
    elif op == "lineage":
        d = w.datasets[rng.randrange(min(len(w.datasets), 300))]
        node = f"dataset:{d['namespace']}:{d['name']}"
        req = c.build_request(
            "GET",
            "/api/lineage/graph",
            params={"node": node, "direction": "both", "depth": 3},
            headers=w.viewer,
        )
    elif op == "ingest":
        events = [_run_event(rng.randrange(300), w.datasets) for _ in range(10)]
        req = c.build_request("POST", "/api/v1/lineage/batch", json=events, headers=w.api_key)
    else:  # publish: a new dataset every live stream must receive
        name = f"load.published_{uuid.uuid4().hex[:12]}"
        req = c.build_request(
            "POST",
            "/api/datasets",
            json={"namespace": "postgresql://load-live", "name": name, "platform": "postgresql"},
            headers=w.producer,
        )
    start = time.perf_counter()
    try:
        r = await c.send(req)
    except httpx.HTTPError as exc:
        stats.error(op, type(exc).__name__)
        return
    stats.samples[op].append((time.perf_counter() - start) * 1000)
    if not r.is_success:
        stats.error(op, f"{r.status_code} {r.text[:200]}")
    elif op == "publish":
        stats.published.append(r.json()["id"])


async def client_loop(
    c: httpx.AsyncClient, w: World, seed: int, until: float, stats: Stats
) -> None:
    rng = random.Random(seed)
    ops, weights = list(MIX), list(MIX.values())
    for op in ops:  # every operation once first, so even a short run covers them all
        await _op(c, w, op, rng, stats)
    while time.monotonic() < until:
        await _op(c, w, rng.choices(ops, weights)[0], rng, stats)


@dataclass
class Live:
    """One live stream: dataset ids of the publishes it received, and how it ended."""

    received: set[str] = field(default_factory=set)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: str | None = None


async def live_stream(c: httpx.AsyncClient, headers: dict[str, str], live: Live) -> None:
    try:
        async with c.stream(
            "GET", SSE_PATH, headers=headers, timeout=httpx.Timeout(30, read=None)
        ) as r:
            if r.status_code != 200:
                live.ended = f"status {r.status_code}"
                return
            event = ""
            async for line in r.aiter_lines():
                if line.startswith(": connected"):
                    live.connected.set()
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "dataset.published":
                    live.received.add(json.loads(line[5:])["subject"]["id"])
                elif line == "":
                    event = ""
        live.ended = "closed by the server"
    except httpx.HTTPError as exc:
        live.ended = type(exc).__name__
    finally:
        live.connected.set()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    datasets = [_dataset(i, rng) for i in range(args.datasets)]
    server = await asyncio.to_thread(
        start_server,
        datasets,
        workers=args.workers,
        database_url=args.database_url,
        max_streams=max(2000, args.streams * 2),
    )
    stats = Stats()
    try:
        limits = httpx.Limits(max_connections=args.clients + 10)
        sse_limits = httpx.Limits(max_connections=args.streams + 10)
        async with (
            httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as c,
            httpx.AsyncClient(base_url=server.url, limits=sse_limits, timeout=60) as sc,
        ):
            world = await prepare(c, server, datasets)
            lives = [Live() for _ in range(args.streams)]
            readers = [asyncio.create_task(live_stream(sc, world.viewer, lv)) for lv in lives]
            await asyncio.gather(*(lv.connected.wait() for lv in lives))
            until = time.monotonic() + args.seconds
            started = time.monotonic()
            await asyncio.gather(
                *(client_loop(c, world, i, until, stats) for i in range(args.clients))
            )
            elapsed = time.monotonic() - started
            # Let the last publishes reach every stream, then count what did not.
            wanted = set(stats.published)
            for _ in range(300):
                if all(wanted <= lv.received or lv.ended for lv in lives):
                    break
                await asyncio.sleep(0.1)
            missed = sum(len(wanted - lv.received) for lv in lives)
            cut = [lv.ended for lv in lives if lv.ended]
            for t in readers:
                t.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    finally:
        exit_code = await asyncio.to_thread(stop_server, server)
    for reason in cut:
        stats.error("stream", f"ended early: {reason}")
    if missed:
        stats.error("stream", f"{missed} deliveries missed")
    requests = sum(len(v) for v in stats.samples.values())
    result: dict[str, Any] = {
        "seconds": round(elapsed, 1),
        "clients": args.clients,
        "streams": args.streams,
        "server_workers": args.workers,
        "seeded_datasets": args.datasets,
        "requests": requests,
        "requests_per_second": round(requests / elapsed, 1) if elapsed else 0,
        "publishes_delivered": len(stats.published) * args.streams - missed,
        "missed_deliveries": missed,
        "server_exit": exit_code,
        "errors": sum(stats.errors.values()),
        "endpoints": {
            op: {
                "n": len(stats.samples[op]),
                "p50_ms": round(pct(stats.samples[op], 50), 1),
                "p99_ms": round(pct(stats.samples[op], 99), 1),
                "errors": stats.errors.get(op, 0),
            }
            for op in MIX
        },
        "error_samples": stats.messages,
    }
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['requests']} requests in {result['seconds']} s "
        f"({result['requests_per_second']}/s) from {result['clients']} clients, "
        f"{result['streams']} live streams, {result['server_workers']} server workers",
        f"{'endpoint':<10} {'n':>7} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}",
    ]
    for op, e in result["endpoints"].items():
        lines.append(f"{op:<10} {e['n']:>7} {e['p50_ms']:>9} {e['p99_ms']:>9} {e['errors']:>7}")
    lines.append(
        f"live streams: {result['publishes_delivered']} deliveries, "
        f"{result['missed_deliveries']} missed"
    )
    lines.append(f"errors: {result['errors']}")
    lines += [f"  {m}" for m in result["error_samples"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load runs")
    parser.add_argument("--streams", type=int, default=200, help="live SSE streams held open")
    parser.add_argument("--clients", type=int, default=16, help="concurrent request loops")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--datasets", type=int, default=2000, help="datasets seeded")
    parser.add_argument("--database-url", default=None, help="use this (empty) database")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results")
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    result = asyncio.run(run(args))
    if not args.no_save:
        save("load", result)
    print(report(result), flush=True)
    if result["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
