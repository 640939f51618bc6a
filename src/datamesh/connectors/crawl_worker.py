"""The background crawl worker: queues scheduled crawls, claims queued ones, runs them.

Like the node health checker, several API processes may run it at once: crawls are claimed with
``SELECT ... FOR UPDATE SKIP LOCKED`` in a short transaction that gives the claimant a lease and
an attempt number, renewed while the crawl runs. A worker that dies leaves a lease that runs out;
another worker then takes the crawl over with the next attempt number, and a late write of the
dead attempt is refused (it checks its attempt under the crawl's row lock). A request to crawl
wakes this process's worker at once instead of waiting for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.connectors import crawls
from datamesh.connectors.service import Runtime
from datamesh.db import session_scope

log = logging.getLogger(__name__)


class CrawlWorker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        runtime: Runtime,
        *,
        poll_seconds: float,
        concurrency: int,
        lease_seconds: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._runtime = runtime
        self._poll_seconds = poll_seconds
        self._concurrency = concurrency
        self._lease_seconds = lease_seconds
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running: dict[uuid.UUID, asyncio.Task[str | None]] = {}

    @property
    def in_flight(self) -> frozenset[uuid.UUID]:
        return frozenset(self._running)

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="datamesh-crawl-worker")

    def wake(self) -> None:
        """Look for work now (a crawl was just requested)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop; crawls in flight are cancelled (they wrote nothing; their lease runs out and
        another worker takes them over)."""
        self._stopping.set()
        tasks = [t for t in (self._loop_task, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

    async def run_once(self) -> list[str | None]:
        """Queue due crawls, claim what is queued and run it to the end (tests, CLI)."""
        claimed = await self._claim()
        return list(await asyncio.gather(*(self._run(c, a) for c, a in claimed)))

    async def _claim(self) -> list[tuple[uuid.UUID, int]]:
        async with session_scope(self._sessionmaker) as session:
            await crawls.queue_due(session, 50)
        async with session_scope(self._sessionmaker) as session:
            return await crawls.claim(
                session,
                self._concurrency - len(self._running),
                self._lease_seconds,
                list(self._running),
            )

    async def _run(self, crawl_id: uuid.UUID, attempt: int) -> str | None:
        try:
            return await crawls.run(
                self._sessionmaker,
                self._runtime,
                crawl_id,
                attempt,
                lease_seconds=self._lease_seconds,
            )
        except Exception as exc:
            log.warning("crawl %s failed to run: %s", crawl_id, type(exc).__name__)
            return None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                for crawl_id, attempt in await self._claim():
                    task = asyncio.create_task(
                        self._run(crawl_id, attempt), name=f"crawl-{crawl_id}"
                    )
                    self._running[crawl_id] = task
                    task.add_done_callback(self._forget(crawl_id))
            except Exception as exc:  # the database may be down: try again at the next poll
                log.warning("crawl poll failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)

    def _forget(self, crawl_id: uuid.UUID) -> Callable[[asyncio.Task[str | None]], None]:
        def done(_: asyncio.Task[str | None]) -> None:
            self._running.pop(crawl_id, None)
            self._wake.set()  # a slot is free: look for more

        return done
