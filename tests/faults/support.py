"""Helpers for the fault tests: a real ``datamesh serve`` process on its own port and data
directory, and Server-Sent Event streams that record exactly how they ended.

``DATAMESH_SOAK=1`` (set by ``make soak``) makes the same tests run longer and heavier.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.fixtures.live import free_port

SOAK = os.environ.get("DATAMESH_SOAK") == "1"
STREAM = "/api/feed/stream"
SECRET_KEY = "fault-tests-shared-secret-key-0123456789abcdef"
# Hang guards only (a broken server must not wedge the suite): never a performance figure.
HANG_GUARD = 180.0


def scale(quick: int, soak: int) -> int:
    return soak if SOAK else quick


class ServerProcess:
    """``python -m datamesh.cli serve`` against a given database, in its own process group."""

    def __init__(
        self, db_url: str, base: Path, *, workers: int = 1, env: dict[str, str] | None = None
    ) -> None:
        self.db_url, self.base, self.workers = db_url, base, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / f"serve-{self.port}.log"
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DATAMESH_") and k != "DATABASE_URL"
        }
        env.update(
            DATABASE_URL=self.db_url,
            DATAMESH_DATA_DIR=str(self.base / "data"),
            DATAMESH_SECRET_KEY=SECRET_KEY,
            DATAMESH_LOG_JSON="false",
            DATAMESH_LOG_LEVEL="INFO",
            DATAMESH_HEALTH_CHECKS_ENABLED="false",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> ServerProcess:
        self.base.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "datamesh.cli", "serve"),
                    *("--port", str(self.port), "--workers", str(self.workers)),
                ],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children that serve requests), not helpers."""
        try:
            children = psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []
        pids = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                if "multiprocessing" in " ".join(child.cmdline()) and "spawn_main" in " ".join(
                    child.cmdline()
                ):
                    pids.append(child.pid)
        return pids

    async def wait_ready(self, client: httpx.AsyncClient | None = None) -> None:
        async with httpx.AsyncClient() as c:
            for _ in range(int(HANG_GUARD * 10)):
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"serve exited {self.proc.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await c.get(f"{self.url}/api/ready", timeout=5)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"server never became ready:\n{self.log_tail()}")

    async def wait_exit(self, guard: float = HANG_GUARD) -> int:
        assert self.proc is not None
        for _ in range(int(guard * 20)):
            code = self.proc.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.05)
        raise AssertionError(f"server did not exit within the hang guard:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop our own process (and, should it hang, its workers), by pid only."""
        if self.proc is None or self.proc.poll() is not None:
            return
        workers = self.worker_pids()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Message:
    event: str = "message"
    id: str | None = None
    data: str = ""
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Stream:
    """One SSE response read to its end; ``ended`` says how: "clean" (the server finished the
    response) or the name of the transport error (a reset, a truncated chunked body...)."""

    messages: list[Message] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status: int | None = None
    ended: str | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.messages if m.id]

    @property
    def last_id(self) -> str | None:
        ids = self.ids
        return ids[-1] if ids else None

    async def read(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Stream:
        current, has_field = Message(), False
        try:
            async with client.stream(
                "GET", url, headers=headers, timeout=httpx.Timeout(30, read=None)
            ) as resp:
                self.status = resp.status_code
                if resp.status_code != 200:
                    await resp.aread()
                    self.ended = f"status {resp.status_code}"
                    return self
                async for line in resp.aiter_lines():
                    if line == "":
                        if has_field:
                            self.messages.append(current)
                            self.changed.set()
                        current, has_field = Message(), False
                    elif line.startswith(":"):
                        self.comments.append(line[1:].strip())
                        if line[1:].strip() == "connected":
                            self.connected.set()
                    else:
                        name, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        has_field = True
                        if name == "event":
                            current.event = value
                        elif name == "id":
                            current.id = value
                        elif name == "data":
                            current.data = f"{current.data}\n{value}" if current.data else value
                        elif name == "retry":
                            current.retry = int(value)
            self.ended = "clean"
        except httpx.HTTPError as exc:
            self.ended = type(exc).__name__
        finally:
            self.changed.set()
            self.connected.set()  # wake anyone waiting, whatever happened
        return self


def open_stream(
    client: httpx.AsyncClient, headers: dict[str, str], last_event_id: str | None = None
) -> tuple[Stream, asyncio.Task[Stream]]:
    stream = Stream()
    h = dict(headers)
    if last_event_id:
        h["Last-Event-ID"] = last_event_id
    return stream, asyncio.create_task(stream.read(client, STREAM, h))


async def wait_until(predicate: Any, what: str, guard: float = HANG_GUARD) -> None:
    """Poll a condition, failing only if it never holds within the hang guard."""
    for _ in range(int(guard * 10)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    r = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


class Follower:
    """A live-stream client that, like EventSource, reconnects whenever its stream ends (or
    cannot be opened), resuming with Last-Event-ID; ``segments`` are its connections."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers
        self.segments: list[Stream] = []
        self.refused = 0
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            stream = Stream()
            self.segments.append(stream)
            h = dict(self.headers)
            last = self.last_id
            if last:
                h["Last-Event-ID"] = last
            try:
                await stream.read(self.client, STREAM, h)
            except RuntimeError:  # the test closed the client under us
                return
            if stream.status != 200:
                self.segments.remove(stream)
                self.refused += 1
            await asyncio.sleep(0.2)

    @property
    def last_id(self) -> str | None:
        return next((s.last_id for s in reversed(self.segments) if s.last_id), None)

    @property
    def messages(self) -> list[Message]:
        return [m for s in self.segments for m in s.messages]

    async def connected(self) -> None:
        await wait_until(lambda: bool(self.segments) and self.segments[-1].connected.is_set(), "")

    async def close(self) -> None:
        self._stop.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def connections_by_pid(pids: list[int], port: int) -> dict[int, int]:
    """How many established client connections each server process holds on ``port``."""
    counts = {}
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            counts[pid] = 0
            continue
        counts[pid] = sum(
            1 for c in conns if c.laddr and c.laddr.port == port and c.status == "ESTABLISHED"
        )
    return counts
