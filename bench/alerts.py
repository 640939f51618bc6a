"""Alert delivery.

1. Latency: a server with 2 worker processes (each runs the alert consumer and senders), 200
   webhook rules for run failures, a local receiver. From the commit of a run failure (its HTTP
   response) to the receiver's acknowledgement of each of the 200 deliveries, next to the same
   failure's arrival on a live stream (SSE) held open on the same server in the same run.
   Goal: p95 <= 2x the stream's. One failure first, untimed in the percentiles ("cold": the
   fresh server opens its connections to the receiver and compiles its statements), reported
   apart.
2. Throughput: 10,000 deliveries (50 rules x 200 events) sent by two in-process workers to the
   local receiver, next to a bare httpx loop posting the same number of bodies to it with the
   same concurrency (no database, no guard). Goal: >= 500 deliveries/s.
3. The same 10,000 sent by a ``datamesh serve --workers 2`` (each process its consumer and
   senders, as deployed): 50 rules for run failures, 200 failures in one OpenLineage batch, from
   the batch's response to the receiver's last acknowledgement.

The receiver is a minimal asyncio HTTP/1.1 server in this process that answers 200 at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event as sa_event

from bench.common import bench_app, save, summary
from bench.stream import PASSWORD, served, subscribe

RULES = 200
FAILURES = 10
THROUGHPUT_RULES = 50
THROUGHPUT_EVENTS = int(os.environ.get("BENCH_ALERTS_EVENTS", "200"))  # smaller while developing
PART = os.environ.get("BENCH_ALERTS_PART", "both")  # latency | throughput | served | both
# A path: py-spy samples this process (raw, non-blocking) during the throughput part's sending.
PROFILE = os.environ.get("BENCH_ALERTS_PROFILE")
# Set: print the statements the throughput part ran, by their start (round trips per delivery).
COUNT = bool(os.environ.get("BENCH_ALERTS_COUNT"))


@contextlib.contextmanager
def profiled(path: str | None) -> Iterator[None]:
    """py-spy on this process for the block (nothing if no path)."""
    if not path:
        yield
        return
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "--format",
         "raw", "-r", "100", "-o", path, "--pid", str(os.getpid())],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)  # attached
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


CONCURRENCY = 16
# The throughput part's workers poll at the product's default (alert_poll_seconds): they are
# woken by their own claims and sends, so a faster poll only adds idle outbox reads.
POLL_SECONDS = 1.0


class Receiver:
    """Records (arrival time, delivery id, event type) of each POST; answers 200."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, str, bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    if ":" in line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.arrivals.append(
                    (
                        time.perf_counter(),
                        headers.get("x-datamesh-delivery", ""),
                        headers.get("x-datamesh-event", ""),
                        body,
                    )
                )
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # a cancelled handler ends quietly (3.11's stream callback logs it otherwise)
        finally:
            writer.close()


def _ol_fail(job: str) -> list[dict[str, Any]]:
    run = {"runId": str(uuid.uuid4())}
    now = datetime.now(UTC).isoformat()
    base = {
        "eventTime": now,
        "run": run,
        "job": {"namespace": "airflow://bench", "name": job},
        "producer": "https://example.com/bench",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
        "inputs": [{"namespace": "postgres://wh:5432", "name": "raw.orders"}],
    }
    return [
        {**base, "eventType": "START", "outputs": []},
        {
            **base,
            "eventType": "FAIL",
            "outputs": [{"namespace": "postgres://wh:5432", "name": f"shop.{job}"}],
        },
    ]


async def _failure_rules(
    c: httpx.AsyncClient, h: dict[str, str], receiver: Receiver, n: int
) -> None:
    """``n`` webhook rules for run failures, each to its own path on the receiver."""
    for i in range(n):
        r = await c.post(
            "/api/alerts",
            json={"name": f"r{i}", "events": ["process.run_failed"],
                  "channel": {"kind": "webhook", "url": receiver.url(f"/r{i}")}},
            headers=h,
        )  # fmt: skip
        r.raise_for_status()


async def latency() -> dict[str, Any]:
    env = {
        "DATAMESH_SLA_CHECK_INTERVAL_SECONDS": "0",
        # Every failure is measured as sent at once (a digest would hold it to the minute's end).
        "DATAMESH_ALERT_DIGEST_SECONDS": "0",
    }
    receiver = Receiver()
    await receiver.start()
    try:
        async with served("alerts", env) as srv:
            c, h = srv.client, srv.headers
            await _failure_rules(c, h, receiver, RULES)
            seen: dict[str, float] = {}
            ready = asyncio.Event()

            def arrived(item: dict[str, Any]) -> None:
                if item["type"] == "process.run_failed":
                    seen.setdefault(item["subject"]["name"], time.perf_counter())

            reader = asyncio.create_task(subscribe(c, h, arrived, ready.set))
            await asyncio.wait_for(ready.wait(), 60)
            await asyncio.sleep(2)  # both workers' consumers at the head
            committed: dict[str, float] = {}
            # "cold": the fresh server's first failure (connections to the receiver opened,
            # statements compiled), reported apart; the measured ones follow.
            for i, job in enumerate(["cold"] + [f"job{i}" for i in range(FAILURES)]):
                events = _ol_fail(job)
                r = await c.post("/api/v1/lineage/batch", json=events, headers=h)
                r.raise_for_status()
                committed[job] = time.perf_counter()
                deadline = time.perf_counter() + 120
                while len(receiver.arrivals) < RULES * (i + 1) and time.perf_counter() < deadline:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.3)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        await receiver.stop()
    ack: list[float] = []
    first: list[float] = []
    per_failure_last: list[float] = []
    by_job: dict[str, list[float]] = {}
    for t, _d, event, body in receiver.arrivals:
        if event == "process.run_failed":
            by_job.setdefault(json.loads(body)["subject"]["name"], []).append(t)
    cold_t0 = committed.pop("cold")
    cold = [(t - cold_t0) * 1000 for t in by_job.get("cold", [])]
    for job, t0 in committed.items():
        got = by_job.get(job, [])
        ack += [(t - t0) * 1000 for t in got]
        if got:
            first.append((min(got) - t0) * 1000)
            per_failure_last.append((max(got) - t0) * 1000)
    stream = [(seen[r] - committed[r]) * 1000 for r in committed if r in seen]
    a, s = summary(ack), summary(stream)
    ids = [d for _t, d, _e, _b in receiver.arrivals]
    return {
        "cold_first_failure": {
            "acks": len(cold),
            "first_ack_ms": round(min(cold), 1) if cold else None,
            "last_ack_ms": round(max(cold), 1) if cold else None,
        },
        "rules": RULES,
        "server_workers": 2,
        "failures": FAILURES,
        "deliveries": len(ids),
        "duplicate_delivery_ids": len(ids) - len(set(ids)),
        "commit_to_ack": a,
        "commit_to_first_ack_of_a_failure": summary(first),
        "first_ack_ms_by_failure": [round(x, 1) for x in first],
        "commit_to_last_ack_of_a_failure": summary(per_failure_last),
        "live_stream_same_run": s,
        "ratio_p95_over_stream_p95": round(a["p95_ms"] / max(s["p95_ms"], 0.001), 2),
        "goal": "p95 <= 2x the live stream's",
    }


async def throughput() -> dict[str, Any]:
    from datamesh.alerts.worker import AlertWorker, build_context
    from datamesh.auth.principal import Principal
    from datamesh.catalog import service as catalog
    from datamesh.catalog.schemas import DatasetCreate
    from datamesh.db import session_scope
    from datamesh.users import service as users
    from datamesh.users.schemas import UserCreate

    receiver = Receiver()
    await receiver.start()
    total = THROUGHPUT_RULES * THROUGHPUT_EVENTS
    async with bench_app(
        "alerts", alerts_enabled=False, alert_digest_seconds=0, health_checks_enabled=False,
        sla_check_interval_seconds=0,
    ) as (app, _pg):  # fmt: skip
        sm = app.state.sessionmaker
        async with session_scope(sm) as s:
            user = await users.create_user(
                s, None, UserCreate(email="b@bench.test", password=PASSWORD, role="producer"),
                org_name="Bench",
            )  # fmt: skip
        p = Principal(kind="user", id=user.id, name="b", org_id=user.org_id, role="producer",
                      email="b@bench.test", user_id=user.id)  # fmt: skip
        from datamesh.alerts import service as alerts
        from datamesh.alerts.schemas import AlertRuleCreate

        ctx = build_context(app)
        async with session_scope(sm) as s:
            for i in range(THROUGHPUT_RULES):
                await alerts.create_rule(
                    s, p,
                    AlertRuleCreate.model_validate(
                        {"name": f"r{i}", "events": ["dataset.published"],
                         "channel": {"kind": "webhook", "url": receiver.url(f"/r{i}")}}
                    ),
                    ctx.outbound,
                )  # fmt: skip
        workers = [
            AlertWorker(sm, ctx, poll_seconds=POLL_SECONDS, concurrency=CONCURRENCY)
            for _ in range(2)
        ]
        await workers[0].consume_once()  # the consumer's position: the head
        async with session_scope(sm) as s:
            for i in range(THROUGHPUT_EVENTS):
                await catalog.publish(
                    s, p,
                    DatasetCreate.model_validate(
                        {"namespace": "bench://t", "name": f"t{i}", "platform": "postgresql",
                         "visibility": "public"}
                    ),
                )  # fmt: skip
        statements: Counter[str] = Counter()
        if COUNT:

            @sa_event.listens_for(app.state.engine.sync_engine, "before_cursor_execute")
            def _count(_c: Any, _cur: Any, stmt: str, *_: Any) -> None:
                statements[" ".join(stmt.split())[:70]] += 1

        with profiled(PROFILE):
            start = time.perf_counter()
            for w in workers:
                w.start()
            deadline = start + 300
            while len(receiver.arrivals) < total and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - start
        for w in workers:
            await w.stop()
    if COUNT:
        print(json.dumps(dict(statements.most_common()), indent=1))
    got = len(receiver.arrivals)
    ids = [d for _t, d, _e, _b in receiver.arrivals]
    body = receiver.arrivals[0][3] if receiver.arrivals else b"{}"
    receiver.arrivals.clear()
    # Baseline: the same number of the same bodies, posted by a bare client, same concurrency.
    sem = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as c:

        async def post(i: int) -> None:
            async with sem:
                await c.post(receiver.url(f"/b{i % THROUGHPUT_RULES}"), content=body,
                             headers={"Content-Type": "application/json"})  # fmt: skip

        b0 = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(total)))
        b_elapsed = time.perf_counter() - b0
    await receiver.stop()
    rate, b_rate = got / elapsed, total / b_elapsed
    return {
        "deliveries": got,
        "expected": total,
        "duplicate_delivery_ids": len(ids) - len(set(ids)),
        "workers": "2 in one process",
        "concurrency_per_worker": CONCURRENCY,
        "deliveries_per_s": round(rate, 1),
        "bare_httpx_posts_per_s": round(b_rate, 1),
        "ratio": round(rate / b_rate, 3),
        "goal": ">= 500 deliveries/s",
    }


async def throughput_served() -> dict[str, Any]:
    env = {"DATAMESH_SLA_CHECK_INTERVAL_SECONDS": "0", "DATAMESH_ALERT_DIGEST_SECONDS": "0"}
    receiver = Receiver()
    await receiver.start()
    total = THROUGHPUT_RULES * THROUGHPUT_EVENTS
    try:
        async with served("alerts-tp", env) as srv:
            c, h = srv.client, srv.headers
            await _failure_rules(c, h, receiver, THROUGHPUT_RULES)
            await asyncio.sleep(2)  # both processes' consumers at the head
            events = [e for i in range(THROUGHPUT_EVENTS) for e in _ol_fail(f"tp{i}")]
            r = await c.post("/api/v1/lineage/batch", json=events, headers=h)
            r.raise_for_status()
            start = time.perf_counter()
            deadline = start + 300
            while len(receiver.arrivals) < total and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            elapsed = max(t for t, *_ in receiver.arrivals) - start
    finally:
        await receiver.stop()
    ids = [d for _t, d, _e, _b in receiver.arrivals]
    return {
        "deliveries": len(ids),
        "expected": total,
        "duplicate_delivery_ids": len(ids) - len(set(ids)),
        "workers": "datamesh serve --workers 2",
        "deliveries_per_s": round(len(ids) / elapsed, 1),
        "goal": ">= 500 deliveries/s",
    }


def main() -> None:
    result: dict[str, Any] = {}
    if PART in ("latency", "both"):
        result["latency"] = asyncio.run(latency())
    if PART in ("throughput", "both"):
        result["throughput"] = asyncio.run(throughput())
    if PART in ("served", "both"):
        result["throughput_served"] = asyncio.run(throughput_served())
    save("alerts" if PART == "both" else f"alerts-{PART}", result)


if __name__ == "__main__":
    main()
