"""The alert consumer and delivery workers, run with the app (``alerts_enabled``).

Two loops per process. The consumer reads the outbox through the one consumer helper
(:mod:`datamesh.events.consumer`: one process at a time, position moved in the same
transaction as the deliveries it creates). The sender claims due deliveries with
``FOR UPDATE SKIP LOCKED`` in a short transaction that leases them and builds their messages,
so several processes never send one delivery at the same time; a claim is larger than the send
pool and feeds it, the outcomes are recorded in another short transaction, and no connection is
held while a receiver takes its time. A lease that
runs out (its process died) is taken over, and the receiver sees the same delivery id again.

Both loops wake on the live stream's NOTIFY (the process's one LISTEN connection): the consumer
at once, the sender after its own process's consumer commits deliveries and, for those another
process made, a few times shortly after the NOTIFY. Both poll every ``alert_poll_seconds``
besides, for retries and digests that come due.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.alerts import channels, service
from datamesh.alerts import repository as repo
from datamesh.alerts.channels import Lanes, Outbound, SendResult, Smtp
from datamesh.config import Settings
from datamesh.connectors import service as connectors
from datamesh.db import session_scope
from datamesh.events import consumer
from datamesh.events.types import ALERTABLE
from datamesh.kit.ssrf import guarded_client
from datamesh.lineage import service as lineage
from datamesh.models.events import Event

log = logging.getLogger("datamesh.alerts")
BATCH = 1000
# The most connections of one outbound pool (see channels.Lanes).
LANE_WIDTH = 8
# After a NOTIFY, when the sender looks for deliveries another process's consumer made.
FOLLOW_UP_SECONDS = (0.05, 0.15, 0.4)


def build_context(app: FastAPI) -> service.Context:
    settings: Settings = app.state.settings
    channels.adapters()  # imported now, not on the first delivery
    runtime = app.state.connector_runtime  # the SSRF policy, timeout and secret resolver
    outbound = Outbound(
        policy=runtime.policy,
        timeout=runtime.timeout,
        resolver=runtime.resolver,
        smtp=Smtp(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            ca_file=settings.smtp_ca_file,
        ),
        protected=lambda ref: connectors.is_protected(runtime, ref),
    )
    # Pools together as wide as a process sends at once (a wider one only costs), in lanes of
    # at most LANE_WIDTH connections: httpcore checks each pooled connection on every request.
    n = math.ceil(settings.alert_concurrency / LANE_WIDTH)
    width = math.ceil(settings.alert_concurrency / n)
    lanes = Lanes(
        [
            dataclasses.replace(
                outbound,
                http=guarded_client(
                    runtime.policy,
                    timeout=runtime.timeout,
                    limits=httpx.Limits(max_connections=width, max_keepalive_connections=width),
                ),
            )
            for _ in range(n)
        ]
    )
    return service.Context(
        settings=settings,
        outbound=lanes.lanes[0],
        engine=lineage.engine_for(app.state),
        salt=app.state.signing_key,
        lanes=lanes,
    )


async def send_prepared(
    sessionmaker: async_sessionmaker[AsyncSession],
    ctx: service.Context,
    prepared: list[service.Prepared],
    token: uuid.UUID,
    slots: asyncio.Semaphore | None = None,
    sent: Callable[[], None] | None = None,
    stopping: asyncio.Event | None = None,
) -> dict[uuid.UUID, SendResult]:
    """One attempt of each prepared (leased) delivery, with no transaction open: at most
    ``slots`` at once (the process's send pool), ``sent`` called after each; the outcomes then
    recorded in one short transaction. Those still waiting for a slot when ``stopping`` is set
    are not attempted: their leases are given back, so another process sends them at once."""

    async def attempt(p: service.Prepared) -> SendResult:
        adapter = channels.adapter(p.channel["kind"])
        if ctx.lanes is None:
            return await adapter.send(p.channel, p.message, ctx.outbound)
        with ctx.lanes.take() as out:
            return await adapter.send(p.channel, p.message, out)

    async def one(p: service.Prepared) -> SendResult | None:
        try:
            if slots is None:
                return await attempt(p)
            async with slots:
                if stopping is not None and stopping.is_set():
                    return None
                return await attempt(p)
        finally:
            if sent is not None:
                sent()

    if not prepared:
        return {}
    results = await asyncio.gather(*(one(p) for p in prepared))
    done = [(p, r) for p, r in zip(prepared, results, strict=True) if r is not None]
    untried = [p.delivery_id for p, r in zip(prepared, results, strict=True) if r is None]
    async with session_scope(sessionmaker) as session:
        await service.record_many(session, ctx, done, token)
        await repo.release(session, untried, token)
    return {p.delivery_id: r for p, r in done}


class AlertWorker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        ctx: service.Context,
        *,
        poll_seconds: float,
        concurrency: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._ctx = ctx
        self._poll = poll_seconds
        self._concurrency = concurrency
        # A claim is larger than what is sent at once (its round trips shared by more
        # deliveries); its rows wait for a free slot of the send pool, behind fewer than
        # ``alert_claim_ahead`` pools' worth of an earlier claim, so the lease covers that many
        # rounds of timeouts.
        settings = ctx.settings
        self._claim_size = min(concurrency * settings.alert_claim_factor, settings.alert_claim_max)
        ahead = settings.alert_claim_ahead
        self._low_water = concurrency * ahead
        rounds = math.ceil(self._claim_size / concurrency) + ahead
        self._lease_seconds = rounds * math.ceil(ctx.outbound.timeout) + 30
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._consume_wake = asyncio.Event()
        self._send_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._unsent = 0  # claimed deliveries not sent yet
        self._follow_up = False  # sender wake-ups after a NOTIFY are scheduled

    def wake(self) -> None:
        """New events were announced: consume now. The deliveries they make may be committed
        by another process's consumer (one consumes at a time), which cannot wake this one's
        sender; so the sender looks shortly after too, rather than at its next poll."""
        self._consume_wake.set()
        if not self._follow_up:
            self._follow_up = True
            loop = asyncio.get_running_loop()
            for delay in FOLLOW_UP_SECONDS:
                loop.call_later(delay, self._send_wake.set)
            loop.call_later(FOLLOW_UP_SECONDS[-1], self._follow_up_done)

    def _follow_up_done(self) -> None:
        self._follow_up = False

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(
                    self._loop(self.consume_once, self._consume_wake), name="alerts-consumer"
                ),
                asyncio.create_task(
                    self._loop(self._claim_and_send, self._send_wake), name="alerts-sender"
                ),
            ]

    async def stop(self) -> None:
        """Stop claiming; claimed deliveries not sent yet give their leases back, and sends in
        flight get up to the outbound timeout to finish and record their attempt (cancelled, a
        sent attempt would go unrecorded and its lease would hold the retry back until it ran
        out)."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=self._ctx.outbound.timeout + 1)
        tasks = [*self._tasks, *self._sends]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks, self._sends = [], set()

    async def consume_once(self) -> int:
        """Turn new events into deliveries; returns how many events were read."""

        made = 0

        async def handle(session: AsyncSession, batch: list[Event]) -> None:
            nonlocal made
            made += await service.collect(session, self._ctx, batch)

        async with session_scope(self._sessionmaker) as session:
            read = await consumer.consume(
                session, service.CONSUMER, handle, types=ALERTABLE, batch=BATCH
            )
        if made:  # after the commit: a sender woken earlier would not see the rows yet
            self._send_wake.set()
        return read

    async def deliver_once(self) -> int:
        """Claim the due deliveries and send them; returns how many were attempted."""
        prepared, token = await self._claim(self._claim_size)
        await send_prepared(self._sessionmaker, self._ctx, prepared, token, self._slots)
        return len(prepared)

    async def _claim(self, limit: int) -> tuple[list[service.Prepared], uuid.UUID]:
        """Lease due deliveries and build their messages, in one short transaction."""
        token = uuid.uuid4()
        async with session_scope(self._sessionmaker) as session:
            rows = await repo.claim_due(session, limit, self._lease_seconds, token)
            return await service.prepare_rows(session, self._ctx, rows), token

    async def _claim_and_send(self) -> int:
        """Claim more once fewer than ``alert_claim_ahead`` pools' worth are left to send, so
        the next claim's round trips overlap the current one's last sends."""
        if self._unsent >= self._low_water:
            return 0
        prepared, token = await self._claim(self._claim_size)
        if prepared:
            self._unsent += len(prepared)
            task = asyncio.create_task(self._send(prepared, token))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        return len(prepared)

    def _sent(self) -> None:
        self._unsent -= 1
        if self._unsent < self._low_water:
            self._send_wake.set()  # room for the next claim

    async def _send(self, prepared: list[service.Prepared], token: uuid.UUID) -> None:
        try:
            await send_prepared(
                self._sessionmaker,
                self._ctx,
                prepared,
                token,
                self._slots,
                self._sent,
                self._stopping,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the leases run out and the deliveries are tried again
            log.warning("alert deliveries failed: %s", type(exc).__name__)
        self._send_wake.set()  # more may be due

    async def _loop(self, step: Callable[[], object], wake: asyncio.Event) -> None:
        while not self._stopping.is_set():
            wake.clear()
            busy = False
            try:
                done = await step()  # type: ignore[misc]
                busy = bool(done) and step == self.consume_once and int(done) >= BATCH
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be down: try again at the next poll
                log.warning("alerts: %s", type(exc).__name__)
            if busy:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self._poll)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the alert context on ``app.state``; run the workers if alerts are enabled."""
    settings: Settings = app.state.settings
    ctx = build_context(app)
    app.state.alerts = ctx
    worker: AlertWorker | None = None
    if settings.alerts_enabled:
        worker = AlertWorker(
            app.state.sessionmaker,
            ctx,
            poll_seconds=settings.alert_poll_seconds,
            concurrency=settings.alert_concurrency,
        )
        app.state.stream_hub.on_notify(worker.wake)
        worker.start()
    app.state.alert_worker = worker
    try:
        yield
    finally:
        if worker is not None:
            await worker.stop()
        await close_context(ctx)


async def close_context(ctx: service.Context) -> None:
    """Close the HTTP pools ``build_context`` opened."""
    if ctx.lanes is not None:
        await ctx.lanes.aclose()
    elif ctx.outbound.http is not None:
        await ctx.outbound.http.aclose()
