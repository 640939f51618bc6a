"""A worker of ``datamesh serve --workers 2`` is killed (SIGKILL) under load: the other keeps
serving, the supervisor replaces the dead one, and the live streams it held reconnect with
Last-Event-ID and miss nothing.

The quick run has one writer (commits in sequence order); the soak run has eight concurrent
writers, whose transactions can commit out of sequence order: an event that commits just after
its stream is cut, behind a newer one the client already has, must still be replayed (the
resume point names what of the last window was sent; see BENCHMARKS.md, "Load (make soak)")."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx

from tests.faults.conftest import Workspace
from tests.faults.support import (
    HANG_GUARD,
    Follower,
    connections_by_pid,
    login,
    scale,
    wait_until,
)


class Tally:
    def __init__(self) -> None:
        self.ok = 0
        self.retried = 0  # a request cut with its connection, sent again (as a balancer would)
        self.bad: list[str] = []
        self.created: dict[str, str] = {}


async def _send(
    c: httpx.AsyncClient, tally: Tally, method: str, url: str, **kw: object
) -> httpx.Response | None:
    for attempt in range(2):
        try:
            r = await c.request(method, url, **kw)  # type: ignore[arg-type]
        except httpx.TransportError:
            if attempt == 0:
                tally.retried += 1
                continue
            tally.bad.append(f"{method} {url}: connection failed twice")
            return None
        if r.status_code >= 500:
            tally.bad.append(f"{method} {url}: {r.status_code} {r.text[:200]}")
            return None
        tally.ok += 1
        return r
    return None


async def _load(
    c: httpx.AsyncClient, headers: dict[str, str], who: int, stop: asyncio.Event, tally: Tally
) -> None:
    i = 0
    while not stop.is_set():
        name = f"s.k{who}_{i}"
        r = await _send(
            c,
            tally,
            "POST",
            "/api/datasets",
            json={"namespace": "pg://kill", "name": name, "platform": "postgresql"},
            headers=headers,
        )
        if r is not None and r.status_code in (201, 409):  # 409: the cut first try had landed
            if r.status_code == 201:
                tally.created[name] = r.json()["id"]
                await _send(c, tally, "GET", f"/api/datasets/{r.json()['id']}", headers=headers)
        elif r is not None:
            tally.bad.append(f"POST {name}: {r.status_code} {r.text[:200]}")
        await _send(c, tally, "GET", "/api/datasets", params={"q": "k1"}, headers=headers)
        i += 1


async def test_killed_worker_is_replaced_and_streams_resume(workspace: Workspace) -> None:
    password = await workspace.user("writer@acme.test", "producer")
    await workspace.user("reader@acme.test", "viewer")
    srv = workspace.server(workers=2)
    await srv.wait_ready()
    await wait_until(lambda: len(srv.worker_pids()) == 2, "two workers run")
    followers_n = scale(8, 60)
    limits = httpx.Limits(max_connections=followers_n + 40)
    async with (
        httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=30) as c,
        httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=30) as sc,
    ):
        writer = await login(c, "writer@acme.test", password)
        reader = await login(c, "reader@acme.test", password)
        followers = [Follower(sc, reader) for _ in range(followers_n)]
        await asyncio.gather(*(f.connected() for f in followers))

        stop = asyncio.Event()
        tally = Tally()
        load = [asyncio.create_task(_load(c, writer, w, stop, tally)) for w in range(scale(1, 8))]
        await wait_until(lambda: len(tally.created) >= 10, "the load runs")

        # Kill the worker that holds the most streams, as the OOM killer would.
        workers = srv.worker_pids()
        held = connections_by_pid(workers, srv.port)
        victim = max(held, key=lambda pid: held[pid])
        assert held[victim] > 0, held
        survivor = next(p for p in workers if p != victim)
        before_kill = tally.ok
        os.kill(victim, signal.SIGKILL)

        await wait_until(lambda: tally.ok >= before_kill + 20, "requests keep being served")
        await wait_until(
            lambda: victim not in srv.worker_pids() and len(srv.worker_pids()) == 2,
            "the supervisor replaces the killed worker",
        )
        assert survivor in srv.worker_pids()
        cut = [f for f in followers if len(f.segments) > 1]
        await wait_until(lambda: len(tally.created) >= 40, "more writes after the kill")
        stop.set()
        await asyncio.wait_for(asyncio.gather(*load), HANG_GUARD)

        r = await c.post(
            "/api/datasets",
            json={"namespace": "pg://kill", "name": "s.sentinel", "platform": "postgresql"},
            headers=writer,
        )
        assert r.status_code == 201, r.text
        tally.created["s.sentinel"] = r.json()["id"]
        wanted = set(tally.created.values())

        def published(f: Follower) -> list[str]:
            return [
                m.json()["subject"]["id"]
                for m in f.messages
                if m.event == "dataset.published"
                and m.json()["payload"]["namespace"] == "pg://kill"
            ]

        await wait_until(
            lambda: all(r.json()["id"] in published(f) for f in followers),
            "every stream received the last write",
        )
        for f in followers:
            await f.close()

    assert not tally.bad, tally.bad[:10]
    assert srv.proc is not None and srv.proc.poll() is None
    assert cut, "some streams were on the killed worker"
    for f in cut:
        assert f.segments[0].ended not in (None, "clean")
    for f in followers:
        got = published(f)
        assert len(got) == len(set(got)), "an event came twice"
        assert wanted <= set(got), f"missed {len(wanted - set(got))} of {len(wanted)}"


async def test_a_stalled_worker_is_kept_until_its_health_check_time(workspace: Workspace) -> None:
    """A worker that cannot answer for a while (a saturated machine, a long pause) is not killed
    at uvicorn's 5 s: only after DATAMESH_WORKER_HEALTHCHECK_SECONDS, so its streams survive."""
    password = await workspace.user("writer@acme.test", "producer")
    srv = workspace.server(workers=2, DATAMESH_WORKER_HEALTHCHECK_SECONDS="30")
    await srv.wait_ready()
    await wait_until(lambda: len(srv.worker_pids()) == 2, "two workers run")
    workers = srv.worker_pids()
    stalled = workers[0]
    os.kill(stalled, signal.SIGSTOP)
    try:
        await asyncio.sleep(8)  # longer than uvicorn's default health-check timeout
        assert srv.worker_pids() == workers, "the stalled worker was replaced"
    finally:
        os.kill(stalled, signal.SIGCONT)
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as c:
        headers = await login(c, "writer@acme.test", password)
        for _ in range(10):  # both workers serve again (connections spread over them)
            assert (await c.get("/api/datasets", headers=headers)).status_code == 200
    assert srv.worker_pids() == workers
