"""Revoking a session through one worker of ``datamesh serve --workers 2`` ends it on the other,
though both keep the session's principal in their auth cache (auth/cache.py).

The cache's own age limit is set to 60 s here, so only the trigger's NOTIFY on the LISTEN
connection can end the session on the other worker. The assertions are causal: the worker that
committed the revocation refuses the very next request; the other worker refuses every request
sent after its own /metrics shows it received the invalidation (each client below holds one
keep-alive connection, so all its requests reach one worker, found from the connection's
port)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import psutil

from tests.faults.conftest import Workspace
from tests.faults.support import HANG_GUARD, login, wait_until

ME = "/api/auth/me"


def _local_port(r: httpx.Response) -> int:
    return int(r.extensions["network_stream"].get_extra_info("client_addr")[1])


def _worker_of(port: int, workers: list[int], server_port: int) -> int | None:
    for pid in workers:
        with contextlib.suppress(psutil.Error):
            for c in psutil.Process(pid).net_connections(kind="tcp"):
                if c.laddr and c.laddr.port == server_port and c.raddr and c.raddr.port == port:
                    return pid
    return None


async def _count(c: httpx.AsyncClient, outcome: str) -> float:
    r = await c.get("/metrics")
    assert r.status_code == 200, r.text
    m = re.search(rf'^datamesh_auth_cache\{{outcome="{outcome}"\}} (\S+)$', r.text, re.M)
    assert m is not None, r.text[:2000]
    return float(m.group(1))


@contextlib.asynccontextmanager
async def _pinned_clients(url: str, n: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Clients of one connection each (kept alive), so each talks to one worker."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1))
            )
            for _ in range(n)
        ]
        yield clients


async def test_writes_on_one_worker_are_read_on_the_other_at_once(workspace: Workspace) -> None:
    """Publish, hide and revoke through one worker; the other worker's very next read sees
    each (and its auth cache serves the session meanwhile)."""
    password = await workspace.user("rev@acme.test", "producer")
    await workspace.user("look@acme.test", "viewer")
    srv = workspace.server(workers=2, DATAMESH_AUTH_CACHE_SECONDS="60")
    await srv.wait_ready()
    await wait_until(lambda: len(srv.worker_pids()) == 2, "two workers run")
    workers = srv.worker_pids()

    async with _pinned_clients(srv.url, 24) as clients:
        headers = await login(clients[0], "rev@acme.test", password)
        viewer = await login(clients[0], "look@acme.test", password)
        by_worker: dict[int, httpx.AsyncClient] = {}
        ports: dict[int, int] = {}
        for c in clients:  # the kernel spreads new connections over the workers
            r = await c.get(ME, headers=headers)
            assert r.status_code == 200, r.text
            pid = _worker_of(_local_port(r), workers, srv.port)
            if pid is not None and pid not in by_worker:
                by_worker[pid] = c
                ports[pid] = _local_port(r)
        assert len(by_worker) == 2, f"24 connections all went to one worker: {by_worker}"
        (a_pid, a), (b_pid, b) = by_worker.items()

        # Publish through one worker: the other reads it at once; hide it: at once no more.
        r = await a.post(
            "/api/datasets",
            json={"namespace": "pg://w", "name": "s.t", "platform": "postgresql"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        ds = r.json()["id"]
        r = await b.get(f"/api/datasets/{ds}", headers=viewer)
        assert r.status_code == 200, r.text
        r = await a.patch(f"/api/datasets/{ds}", json={"visibility": "private"}, headers=headers)
        assert r.status_code == 200, r.text
        r = await b.get(f"/api/datasets/{ds}", headers=viewer)
        assert r.status_code == 404, r.text
        r = await b.get(f"/api/datasets/{ds}", headers=headers)  # its owner still sees it
        assert r.status_code == 200, r.text

        # The other worker serves this session from its cache (no database read per request).
        hits = await _count(b, "hit")
        for _ in range(5):
            r = await b.get(ME, headers=headers)
            assert r.status_code == 200, r.text
            assert _local_port(r) == ports[b_pid]
        assert await _count(b, "hit") >= hits + 5

        invalidations = await _count(b, "invalidation")
        r = await a.post("/api/auth/logout", headers=headers)
        assert r.is_success, r.text  # acknowledged: committed

        # The worker that committed it: at once (its own commit emptied its cache).
        r = await a.get(ME, headers=headers)
        assert r.status_code == 401, r.text

        # The other worker: once the NOTIFY has reached it, and from then on, never again.
        async def _propagated() -> bool:
            return await _count(b, "invalidation") > invalidations

        for _ in range(int(HANG_GUARD * 20)):
            if await _propagated():
                break
        else:
            raise AssertionError("the other worker never received the invalidation")
        for _ in range(20):
            r = await b.get(ME, headers=headers)
            assert r.status_code == 401, r.text
            assert _local_port(r) == ports[b_pid], "the connection moved to another worker"
        assert _worker_of(ports[b_pid], workers, srv.port) == b_pid
        assert a_pid != b_pid
