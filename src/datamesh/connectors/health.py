"""Connection-test runtime and periodic node health checks, started with the app.

:func:`lifespan` builds the one :class:`~datamesh.secrets.resolver.SecretResolver` and the
outbound policy of the app from settings (on ``app.state``) and, unless
``health_checks_enabled`` is off, runs a :class:`HealthChecker` in the background.

The checker polls for nodes whose check is due. Several API processes may run it at once: a
node is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` in a short transaction that moves its
next check past a lease, so exactly one process checks it, and no row lock or connection is held
while the check waits on the network. A process checks a node at most once at a time, and at
most ``health_check_concurrency`` nodes at once, so checks never starve requests of database
connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.config import Settings
from datamesh.connectors import service
from datamesh.connectors.crawl_worker import CrawlWorker
from datamesh.connectors.service import HEALTH_CHECKER, NodeTarget, Runtime
from datamesh.db import session_scope
from datamesh.kit.ssrf import OutboundPolicy
from datamesh.secrets.resolver import SecretResolver, VaultConfig

log = logging.getLogger(__name__)


def build_runtime(settings: Settings) -> Runtime:
    vault = None
    if settings.vault_url:
        vault = VaultConfig(
            url=settings.vault_url,
            token=settings.vault_token,
            role_id=settings.vault_role_id,
            secret_id=settings.vault_secret_id,
            timeout=settings.outbound_timeout_seconds,
        )
    return Runtime(
        resolver=SecretResolver(vault=vault, cache_seconds=settings.secret_cache_seconds),
        policy=OutboundPolicy(
            denied=settings.outbound_denied_networks, allowed=settings.outbound_allowed_networks
        ),
        timeout=settings.outbound_timeout_seconds,
        protected_paths=(settings.data_dir, Path(".env")),
        crawl_timeout=settings.crawl_timeout_seconds,
    )


class HealthChecker:
    """Checks due nodes in the background until :meth:`stop`."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        runtime: Runtime,
        *,
        poll_seconds: float,
        concurrency: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._runtime = runtime
        self._poll_seconds = poll_seconds
        self._concurrency = concurrency
        # A claimed node stays leased for at least as long as a check can take.
        self._lease_seconds = math.ceil(runtime.timeout) + 30
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._checks: dict[uuid.UUID, asyncio.Task[None]] = {}

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def in_flight(self) -> frozenset[uuid.UUID]:
        """Nodes this process is checking right now."""
        return frozenset(self._checks)

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="datamesh-health-checker")

    async def stop(self) -> None:
        """Stop polling and cancel checks in flight (a cancelled check writes nothing)."""
        self._stopping.set()
        tasks = [t for t in (self._loop_task, *self._checks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._checks.clear()

    async def run_once(self) -> int:
        """Claim the nodes due now and check them; returns how many were checked."""
        targets = await self._claim(self._concurrency)
        await asyncio.gather(*(self._check(t) for t in targets))
        return len(targets)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._poll()
            except Exception as exc:  # the database may be down: try again at the next poll
                log.warning("node health poll failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._poll_seconds)

    async def _poll(self) -> None:
        for target in await self._claim(self._concurrency - len(self._checks)):
            task = asyncio.create_task(self._check(target), name=f"node-check-{target.id}")
            self._checks[target.id] = task
            task.add_done_callback(self._forget(target.id))

    def _forget(self, node_id: uuid.UUID) -> Callable[[asyncio.Task[None]], None]:
        def done(_: asyncio.Task[None]) -> None:
            self._checks.pop(node_id, None)

        return done

    async def _claim(self, limit: int) -> list[NodeTarget]:
        if limit <= 0:
            return []
        async with session_scope(self._sessionmaker) as session:
            return await service.claim_due_nodes(
                session, limit, self._lease_seconds, exclude=list(self._checks)
            )

    async def _check(self, target: NodeTarget) -> None:
        try:
            # No connection is taken until the result is written, after the test.
            async with session_scope(self._sessionmaker) as session:
                await service.check_node(
                    session, HEALTH_CHECKER, self._runtime, target, trigger="schedule"
                )
        except Exception as exc:
            log.warning("health check of node %s failed: %s", target.id, type(exc).__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Put the connection-test runtime on ``app.state``; run the health checker if enabled."""
    settings: Settings = app.state.settings
    runtime = build_runtime(settings)
    app.state.connector_runtime = runtime
    app.state.secret_resolver = runtime.resolver
    checker: HealthChecker | None = None
    if settings.health_checks_enabled:
        checker = HealthChecker(
            app.state.sessionmaker,
            runtime,
            poll_seconds=settings.health_check_poll_seconds,
            concurrency=settings.health_check_concurrency,
        )
        checker.start()
    app.state.health_checker = checker
    worker: CrawlWorker | None = None
    if settings.crawls_enabled:
        worker = CrawlWorker(
            app.state.sessionmaker,
            runtime,
            poll_seconds=settings.crawl_poll_seconds,
            concurrency=settings.crawl_concurrency,
            lease_seconds=settings.crawl_lease_seconds,
        )
        worker.start()
    app.state.crawl_worker = worker
    try:
        yield
    finally:
        if worker is not None:
            await worker.stop()
        if checker is not None:
            await checker.stop()
