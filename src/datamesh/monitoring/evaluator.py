"""The SLA evaluator: a background task that evaluates every freshness SLA on a schedule.

The time comes from ``app.state.clock`` (a callable returning an aware UTC datetime), read at
each pass, so tests move time by replacing it. Several replicas may run the loop: a pass takes
a transaction-level advisory lock (the others skip it) and states move by conditional UPDATE,
so a breach or a recovery is announced once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.config import Settings
from datamesh.db import session_scope
from datamesh.monitoring import service
from datamesh.monitoring.service import Transition

log = logging.getLogger("datamesh.monitoring")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class SlaEvaluator:
    """Runs :func:`service.evaluate` every ``interval`` seconds until :meth:`stop`."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, interval: float
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._interval = interval
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    def start(self) -> None:
        if self._task is None and self._interval > 0:
            self._task = asyncio.create_task(self._loop(), name="datamesh-sla-evaluator")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def run_once(self) -> list[Transition]:
        """One pass at the clock's current time (committed)."""
        async with session_scope(self._sessionmaker) as session:
            moved = await service.evaluate(session, self._clock())
        self.passes += 1
        for t in moved:
            log.info("sla %s: %s -> %s", t.dataset_id, t.before, t.after)
        return moved

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be down: try again at the next pass
                log.warning("sla evaluation failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the evaluator with the app (unless ``sla_check_interval_seconds`` is 0)."""
    settings: Settings = app.state.settings
    evaluator = SlaEvaluator(
        app.state.sessionmaker, lambda: app.state.clock(), settings.sla_check_interval_seconds
    )
    app.state.sla_evaluator = evaluator
    evaluator.start()
    try:
        yield
    finally:
        await evaluator.stop()
