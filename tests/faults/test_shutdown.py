"""Graceful shutdown: SIGTERM to ``datamesh serve`` ends every open live stream properly (the
response finishes, it is not reset) with a last ``reconnect`` event that carries the id to
resume from, and the process exits 0 without waiting for the streams to go away."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from tests.faults.conftest import Workspace
from tests.faults.support import HANG_GUARD, login, open_stream, scale, wait_until


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_closes_streams_cleanly_and_exits(workspace: Workspace, workers: int) -> None:
    password = await workspace.user("owner@acme.test", "producer")
    srv = workspace.server(workers=workers)
    await srv.wait_ready()
    streams_n = scale(6, 100)
    limits = httpx.Limits(max_connections=streams_n + 10)
    async with httpx.AsyncClient(base_url=srv.url, limits=limits) as c:
        headers = await login(c, "owner@acme.test", password)
        opened = [open_stream(c, headers) for _ in range(streams_n)]
        await asyncio.gather(*(s.connected.wait() for s, _ in opened))
        assert all(s.ended is None for s, _ in opened), [s.ended for s, _ in opened]

        r = await c.post(
            "/api/datasets",
            json={"namespace": "pg://x", "name": "s.before_shutdown", "platform": "postgresql"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        await wait_until(
            lambda: all(s.ids for s, _ in opened), "every stream got the event before SIGTERM"
        )
        delivered = opened[0][0].last_id

        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGTERM)
        done = await asyncio.wait_for(asyncio.gather(*(t for _, t in opened)), HANG_GUARD)
        code = await srv.wait_exit()

    assert code == 0, srv.log_tail()
    for stream in done:
        assert stream.ended == "clean", (stream.ended, srv.log_tail())
        goodbye = stream.messages[-1]
        assert goodbye.event == "reconnect"
        assert goodbye.retry is not None and goodbye.retry > 0
        assert goodbye.json() == {"reason": "server_shutdown", "last_event_id": delivered}
    assert "returned without completing response" not in srv.log_tail(100_000)
