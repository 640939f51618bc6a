"""PostgreSQL stops mid-load and comes back: requests answer 503 problem+json meanwhile, every
acknowledged write is there afterwards and none is applied twice, live streams miss nothing
(kept open, or resumed by Last-Event-ID), and the same server process recovers by itself.

The database here is a private embedded PostgreSQL (own data directory and port), so stopping
it touches no other test. Writes are retried the way a careful client does: a dataset create is
idempotent by its natural key (namespace + name: a retry of a write that did land answers 409),
an OpenLineage event by its content (a replay answers ``duplicates: 1``).

The quick run has one dataset writer; the soak run has twelve, whose transactions commit out of
sequence order, so a reconnect must also replay events that committed late (see
test_worker_kill.py and BENCHMARKS.md, "Load (make soak)").
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde

from datamesh import migrate
from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres
from tests.conftest import running_app
from tests.factories import PASSWORD, make_user
from tests.faults.support import (
    HANG_GUARD,
    SECRET_KEY,
    Message,
    ServerProcess,
    Stream,
    login,
    open_stream,
    scale,
    wait_until,
)

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


@pytest.fixture
def private_pg() -> Iterator[EmbeddedPostgres]:
    # Under /tmp directly: PostgreSQL runs as its own OS user when the tests run as root.
    base = Path(tempfile.mkdtemp(prefix="datamesh-faults-pg-"))
    pg = EmbeddedPostgres(base)
    pg.start()
    migrate.upgrade(pg.url())
    try:
        yield pg
    finally:
        pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


class Ledger:
    """What the clients were told, per write."""

    def __init__(self) -> None:
        self.acknowledged: dict[str, str] = {}  # dataset name -> id from a 201
        self.conflict_on_retry: list[str] = []  # a retry found the write already applied
        self.lineage_acked: list[str] = []  # run ids of acknowledged OpenLineage events
        self.unavailable = 0  # 503 answers seen (all checked to be problem+json)
        self.transport_errors = 0
        self.unexpected: list[str] = []


def _problem_503(r: httpx.Response, ledger: Ledger) -> bool:
    if r.status_code != 503:
        return False
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    body = r.json()
    assert body["status"] == 503 and body["title"], body
    ledger.unavailable += 1
    return True


async def _writer(
    c: httpx.AsyncClient, headers: dict[str, str], who: int, stop: asyncio.Event, ledger: Ledger
) -> None:
    i = 0
    while not stop.is_set():
        name = f"s.w{who}_{i}"
        attempts = 0
        while True:  # retry the same write until it is known to be applied
            attempts += 1
            try:
                r = await c.post(
                    "/api/datasets",
                    json={"namespace": "pg://faults", "name": name, "platform": "postgresql"},
                    headers=headers,
                )
            except httpx.TransportError:
                ledger.transport_errors += 1
                await asyncio.sleep(0.2)
                continue
            if r.status_code == 201:
                ledger.acknowledged[name] = r.json()["id"]
                break
            if r.status_code == 409 and attempts > 1:
                ledger.conflict_on_retry.append(name)
                break
            if not _problem_503(r, ledger):
                ledger.unexpected.append(f"POST {name}: {r.status_code} {r.text[:200]}")
                break
            await asyncio.sleep(0.2)
        i += 1
        await asyncio.sleep(0.05)


def _run_event(job: str, run_id: str) -> dict[str, object]:
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=run_id),
        job=Job(namespace="faults", name=job),
        producer=PRODUCER,
        inputs=[InputDataset(namespace="pg://faults-ol", name="public.source")],
        outputs=[OutputDataset(namespace="pg://faults-ol", name=f"public.{job}")],
    )
    return Serde.to_dict(event)  # type: ignore[no-any-return]


async def _lineage_writer(
    c: httpx.AsyncClient, headers: dict[str, str], stop: asyncio.Event, ledger: Ledger
) -> None:
    i = 0
    while not stop.is_set():
        run_id = str(uuid.uuid4())
        body = _run_event(f"job_{i % 5}", run_id)
        while True:
            try:
                r = await c.post("/api/v1/lineage", json=body, headers=headers)
            except httpx.TransportError:
                ledger.transport_errors += 1
                await asyncio.sleep(0.2)
                continue
            if r.status_code == 200:
                ledger.lineage_acked.append(run_id)
                break
            if not _problem_503(r, ledger):
                ledger.unexpected.append(f"POST lineage: {r.status_code} {r.text[:200]}")
                break
            await asyncio.sleep(0.2)
        i += 1
        await asyncio.sleep(0.1)


async def _reader(
    c: httpx.AsyncClient, headers: dict[str, str], stop: asyncio.Event, ledger: Ledger
) -> None:
    while not stop.is_set():
        for path in ("/api/datasets?query=w1", "/api/feed?limit=20"):
            try:
                r = await c.get(path, headers=headers)
            except httpx.TransportError:
                ledger.transport_errors += 1
                continue
            if r.status_code != 200 and not _problem_503(r, ledger):
                ledger.unexpected.append(f"GET {path}: {r.status_code} {r.text[:200]}")
        await asyncio.sleep(0.1)


class Resuming:
    """A client that loses its stream during the outage and resumes by Last-Event-ID."""

    def __init__(self, c: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.c, self.headers = c, headers
        self.segments: list[Stream] = []
        self.refused = 0
        self.stream, self.task = open_stream(c, headers)
        self.segments.append(self.stream)

    def drop(self) -> None:
        self.task.cancel()

    async def resume(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        last = next((s.last_id for s in reversed(self.segments) if s.last_id), None)
        while True:
            stream, task = open_stream(self.c, self.headers, last_event_id=last)
            await stream.connected.wait()
            if stream.status == 200 and stream.ended is None:
                self.stream, self.task = stream, task
                self.segments.append(stream)
                return
            await task
            self.refused += 1  # 503 while the database is still away: try again
            await asyncio.sleep(0.3)

    @property
    def messages(self) -> list[Message]:
        return [m for s in self.segments for m in s.messages]


async def _published(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT id::text AS event_id, subject_id FROM events WHERE type = 'dataset.published'"
    )
    return {r["event_id"]: r["subject_id"] for r in rows}


async def test_database_outage_loses_nothing(private_pg: EmbeddedPostgres, tmp_path: Path) -> None:
    settings = Settings(
        database_url=private_pg.url(),
        data_dir=tmp_path / "data",
        secret_key=SECRET_KEY,
        health_checks_enabled=False,
    )
    async with running_app(settings, migrate_on_start=False) as app:
        await make_user(app, "writer@acme.test", role="producer")
        await make_user(app, "reader@acme.test", role="viewer")

    srv = ServerProcess(private_pg.url(), tmp_path / "srv", workers=1).start()
    ledger = Ledger()
    outages = scale(1, 3)
    writers_n, streams_n = scale(1, 12), scale(3, 20)
    try:
        await srv.wait_ready()
        pid = srv.pid
        limits = httpx.Limits(max_connections=200)
        timeout = httpx.Timeout(30)
        async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=timeout) as c:
            writer = await login(c, "writer@acme.test", PASSWORD)
            reader = await login(c, "reader@acme.test", PASSWORD)
            steady = [open_stream(c, reader) for _ in range(streams_n)]
            resuming = [Resuming(c, reader) for _ in range(streams_n)]
            await asyncio.gather(*(s.connected.wait() for s, _ in steady))
            await asyncio.gather(*(r.stream.connected.wait() for r in resuming))

            stop = asyncio.Event()
            load = [
                *(
                    asyncio.create_task(_writer(c, writer, w, stop, ledger))
                    for w in range(writers_n)
                ),
                asyncio.create_task(_lineage_writer(c, writer, stop, ledger)),
                asyncio.create_task(_reader(c, reader, stop, ledger)),
            ]
            for _ in range(outages):
                before = len(ledger.acknowledged)
                await wait_until(
                    lambda before=before: len(ledger.acknowledged) >= before + writers_n * 3,
                    "writes go through before the outage",
                )
                seen_503 = ledger.unavailable
                await asyncio.to_thread(private_pg.stop, "immediate")
                for r in resuming:
                    r.drop()  # these clients lose their connection while the database is away
                await wait_until(
                    lambda seen=seen_503: ledger.unavailable >= seen + writers_n,
                    "requests answer 503 while the database is down",
                )
                await asyncio.sleep(scale(1, 5))
                await asyncio.to_thread(private_pg.start)
                await asyncio.gather(*(r.resume() for r in resuming))
                after = len(ledger.acknowledged)
                await wait_until(
                    lambda after=after: len(ledger.acknowledged) >= after + writers_n * 3,
                    "writes go through again after the restart",
                )
            stop.set()
            await asyncio.wait_for(asyncio.gather(*load), HANG_GUARD)

            # One last write that every stream must see: then all before it must be there too.
            r = await c.post(
                "/api/datasets",
                json={"namespace": "pg://faults", "name": "s.sentinel", "platform": "postgresql"},
                headers=writer,
            )
            assert r.status_code == 201, r.text
            sentinel = r.json()["id"]
            conn = await asyncpg.connect(private_pg.url(driver="postgresql"))
            try:
                published = await _published(conn)
                sentinel_event = next(e for e, s in published.items() if s == sentinel)
                try:
                    await wait_until(
                        lambda: (
                            all(sentinel_event in _published_ids(s.messages) for s, _ in steady)
                            and all(sentinel_event in _published_ids(r.messages) for r in resuming)
                        ),
                        "every stream received the last write",
                    )
                except AssertionError as exc:
                    raise AssertionError(
                        f"{exc}\n{_report(steady, resuming, sentinel_event)}\n{srv.log_tail()}"
                    ) from None
                datasets = await conn.fetch(
                    "SELECT id::text AS id, name FROM datasets WHERE namespace = 'pg://faults'"
                )
                audit = await conn.fetch(
                    "SELECT target_id, count(*) AS n FROM audit_log "
                    "WHERE action = 'dataset.publish' GROUP BY target_id"
                )
                runs = await conn.fetch(
                    "SELECT run_id, count(*) AS n FROM runs GROUP BY run_id",
                )
            finally:
                await conn.close()
            kept_open = [s.ended for s, _ in steady]
            for _, t in steady:
                t.cancel()
            for res in resuming:
                res.task.cancel()
        assert srv.proc is not None and srv.proc.poll() is None and srv.pid == pid, "no restart"
    finally:
        srv.stop()

    assert not ledger.unexpected, ledger.unexpected[:10]
    assert ledger.unavailable > 0
    # Every acknowledged write is there, once.
    by_name = Counter(r["name"] for r in datasets)
    assert all(n == 1 for n in by_name.values())
    ids = {r["name"]: r["id"] for r in datasets}
    for name, ds_id in ledger.acknowledged.items():
        assert ids.get(name) == ds_id, f"acknowledged {name} is missing"
    for name in ledger.conflict_on_retry:
        assert name in ids
    per_target = {r["target_id"]: r["n"] for r in audit}
    assert all(per_target.get(i) == 1 for i in ids.values()), "one audit entry per dataset"
    ours = {e: d for e, d in published.items() if d in set(ids.values())}
    assert Counter(ours.values()) == Counter(ids.values()), "one event per dataset"
    run_counts = {r["run_id"]: r["n"] for r in runs}
    assert ledger.lineage_acked
    assert all(run_counts.get(run) == 1 for run in ledger.lineage_acked), "each run once"
    # No stream missed an event or got one twice: kept streams by the server's catch-up, the
    # others by Last-Event-ID replay across their reconnections.
    every = set(ours)
    assert kept_open == [None] * len(steady), "a kept stream ended during the outage"
    for s, _ in steady:
        got = _published_ids(s.messages)
        assert len(got) == len(set(got)), "an event came twice"
        assert set(got) == every, f"missed {len(every - set(got))} events"
    for res in resuming:
        assert len(res.segments) == outages + 1
        got = _published_ids(res.messages)
        assert len(got) == len(set(got)), "an event came twice"
        assert set(got) == every, f"missed {len(every - set(got))} events"


def _published_ids(messages: list[Message]) -> list[str]:
    return [  # the feed item's own id (a message's `id:` is the resume point)
        m.json()["id"]
        for m in messages
        if m.id
        and m.event == "dataset.published"
        and m.json()["payload"]["namespace"] == "pg://faults"
    ]


def _report(
    steady: list[tuple[Stream, asyncio.Task[Stream]]], resuming: list[Resuming], sentinel: str
) -> str:
    """Each stream's state, for a failure message."""
    lines = []
    for i, (s, _) in enumerate(steady):
        got = _published_ids(s.messages)
        lines.append(
            f"kept #{i}: ended={s.ended} messages={len(s.messages)} published={len(got)} "
            f"sentinel={sentinel in got} last={s.messages[-1].event if s.messages else None}"
        )
    for i, res in enumerate(resuming):
        got = _published_ids(res.messages)
        lines.append(
            f"resumed #{i}: segments={[seg.ended for seg in res.segments]} refused={res.refused} "
            f"published={len(got)} sentinel={sentinel in got}"
        )
    return "\n".join(lines)
