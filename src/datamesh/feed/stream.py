"""The live stream's hub: one LISTEN connection per process, in-process fan-out to subscribers.

A write's transaction sends ``NOTIFY datamesh_events, '<event ids>'`` at commit (see ``db``).
The hub loads those events once, decides per subscriber whether they may see each one (the
catalog's visibility rule, evaluated on loaded values), and puts it on the subscriber's bounded
queue. A subscriber that falls behind is told to resync (replay by Last-Event-ID) instead of
growing memory. If the LISTEN connection drops, the hub reconnects and catches up from the
events table.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.dashboards import service as dashboards
from datamesh.db import NOTIFY_CHANNEL
from datamesh.feed import repository as repo
from datamesh.models.events import Event

log = logging.getLogger("datamesh.stream")

_RECONNECT_MAX_SECONDS = 5.0
_CATCH_UP_BATCH = 1000
# Ids of events already fanned out: after a reconnect, the catch-up and the NOTIFYs that arrive
# on the new connection meanwhile name the same events, and each must be delivered once.
_RECENT_IDS = 20_000
_SERIALIZED = 2_000  # events whose JSON is kept for the subscribers still to send them
# Sequence numbers are taken at insert, not at commit: a transaction can commit after one with
# a higher number was already delivered, and if the listener was down at that moment its NOTIFY
# is lost. So a catch-up re-reads this many numbers back (what was delivered is skipped by id).
_CATCH_UP_OVERLAP = 1000


# Sequence numbers are taken at insert, not at commit, so an event can commit (and be delivered)
# after one with a higher number. A message's `id:` is therefore a resume point that says which
# numbers of the last window were delivered: on reconnect, the window is looked at again and
# anything not delivered in it (a late commit) is replayed, nothing twice.
_RESUME_WINDOW = 256


@dataclass
class ResumePoint:
    """``<floor>.<top>.<bitmap>``: every visible event up to ``floor`` was handled; of
    ``(floor, top]`` exactly those in ``delivered`` were sent."""

    floor: int
    top: int
    delivered: set[int]

    def add(self, seq: int) -> None:
        self.delivered.add(seq)
        self.top = max(self.top, seq)
        self.floor = max(self.floor, self.top - _RESUME_WINDOW)
        self.delivered = {d for d in self.delivered if d > self.floor}

    def encode(self) -> str:
        bits = sum(1 << (d - self.floor - 1) for d in self.delivered)
        raw = bits.to_bytes((self.top - self.floor + 7) // 8, "little")
        return f"{self.floor}.{self.top}.{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"

    @classmethod
    def decode(cls, value: str) -> ResumePoint | None:
        parts = value.split(".")
        if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            return None
        floor, top = int(parts[0]), int(parts[1])
        if not floor <= top <= floor + _RESUME_WINDOW or len(parts[2]) > _RESUME_WINDOW:
            return None
        try:
            padded = parts[2] + "=" * (-len(parts[2]) % 4)
            raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        except ValueError:
            return None
        bits = int.from_bytes(raw, "little")
        return cls(floor, top, {floor + 1 + i for i in range(top - floor) if bits >> i & 1})


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    following_only: bool
    followed: set[uuid.UUID]
    queue: asyncio.Queue[Event]
    overflowed: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(
        self, event: Event, subject_info: dict[uuid.UUID, tuple[str, uuid.UUID, set[uuid.UUID]]]
    ) -> bool:
        p = self.principal
        if event.subject_kind in repo.OWN_VISIBILITY_KINDS:
            try:
                ds_id = uuid.UUID(event.subject_id)
            except ValueError:
                return False
            info = subject_info.get(ds_id)
            if info is None or not catalog.can_read(p, *info):
                return False
            return not (self.following_only and ds_id not in self.followed)
        if event.subject_kind in repo.ORG_SCOPED_KINDS:
            return not self.following_only and event.org_id == p.org_id
        return False

    def track_follows(self, event: Event) -> None:
        if event.actor_id != self.principal.user_id or event.subject_kind != "dataset":
            return
        with contextlib.suppress(ValueError):
            if event.type == "dataset.followed":
                self.followed.add(uuid.UUID(event.subject_id))
            elif event.type == "dataset.unfollowed":
                self.followed.discard(uuid.UUID(event.subject_id))


class StreamHub:
    def __init__(
        self, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], queue_size: int
    ) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._sessionmaker = sessionmaker
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._incoming: asyncio.Queue[list[uuid.UUID] | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._conn: asyncpg.Connection | None = None
        self._last_seq = 0
        self._floor = 0  # events up to here predate this hub: never delivered by a catch-up
        self._recent: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._skipped = False
        self.connected = asyncio.Event()
        self._stopping = False
        # Other readers of the outbox in this process (alert deliveries) are woken by the same
        # NOTIFYs instead of holding a LISTEN connection of their own.
        self._wakers: list[Callable[[], None]] = []
        # Other channels on the same connection (the auth cache's invalidations), and who must
        # know whether the connection is up (a NOTIFY sent while it was down is lost).
        self._channels: dict[str, Callable[[str], None]] = {}
        self._live_hooks: list[Callable[[bool], None]] = []
        # Each event's JSON, built by the first subscriber's stream that sends it (events never
        # change once written): a fan-out to N subscribers serializes it once, not N times.
        self._serialized: OrderedDict[uuid.UUID, str] = OrderedDict()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start listening; never fails the app's start-up (the listener retries by itself)."""
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="stream-listener"),
            asyncio.create_task(self._dispatch_forever(), name="stream-dispatcher"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        for sub in list(self._subscribers):
            sub.closed.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                await self._conn.close()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(
        self, principal: Principal, following_only: bool, followed: set[uuid.UUID]
    ) -> Subscriber:
        sub = Subscriber(principal, following_only, followed, asyncio.Queue(self._queue_size))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def on_notify(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (in the event loop, cheaply) whenever new events are announced."""
        self._wakers.append(wake)

    def listen(
        self,
        channel: str,
        on_payload: Callable[[str], None],
        on_live: Callable[[bool], None] | None = None,
    ) -> None:
        """Also LISTEN on ``channel`` (register before ``start``): ``on_payload`` gets each
        NOTIFY's payload; ``on_live(True)`` once the channel is listened to (after every
        reconnect), ``on_live(False)`` when the connection is lost or the hub stops."""
        self._channels[channel] = on_payload
        if on_live is not None:
            self._live_hooks.append(on_live)

    def serialized(self, event: Event, build: Callable[[], str]) -> str:
        """The event's message data, the same for every subscriber allowed to see the event
        (never for per-viewer payloads, such as the redacted ``lineage.changed``)."""
        data = self._serialized.get(event.id)
        if data is None:
            data = self._serialized[event.id] = build()
            if len(self._serialized) > _SERIALIZED:
                self._serialized.popitem(last=False)
        return data

    def _set_live(self, live: bool) -> None:
        for hook in self._live_hooks:
            hook(live)

    async def kill_listener_connection(self) -> None:
        """Close the LISTEN connection as a network fault would (for fault tests)."""
        if self._conn is not None:
            self._conn.terminate()

    # -- listening ------------------------------------------------------------------------------
    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        ids = []
        for part in payload.split(","):
            with contextlib.suppress(ValueError):
                ids.append(uuid.UUID(part))
        if ids:
            self._incoming.put_nowait(ids)
            for wake in self._wakers:
                wake()

    async def _listen_forever(self) -> None:
        delay = 0.1
        first = True
        while not self._stopping:
            lost = asyncio.Event()
            try:
                self._conn = await asyncpg.connect(
                    self._dsn, timeout=5, server_settings={"application_name": "datamesh-listener"}
                )
                self._conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await self._conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
                for channel, on_payload in self._channels.items():
                    await self._conn.add_listener(
                        channel, lambda _c, _p, _ch, payload, f=on_payload: f(payload)
                    )
                self._set_live(True)
                if first:
                    async with self._sessionmaker() as session:
                        self._last_seq = self._floor = await repo.max_seq(session)
                else:
                    self._incoming.put_nowait(None)  # catch up on what was missed
                first = False
                delay = 0.1
                self.connected.set()
                log.info("stream listener connected")
                await lost.wait()
                log.warning("stream listener connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("stream listener cannot connect (%s); retrying", type(exc).__name__)
            finally:
                self._set_live(False)
                self.connected.clear()
                if self._conn is not None and not self._conn.is_closed():
                    self._conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX_SECONDS)

    # -- fan-out --------------------------------------------------------------------------------
    async def _dispatch_forever(self) -> None:
        while True:
            ids = await self._incoming.get()
            if not self._subscribers:
                # Nobody listens in this process: skip loading the events. The next subscriber
                # starts from "now" (or replays by Last-Event-ID); catch-up restarts from here.
                self._skipped = True
                continue
            try:
                if ids is None:
                    await self._catch_up()
                else:
                    async with self._sessionmaker() as session:
                        await self._deliver(session, await repo.by_ids(session, ids))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("stream dispatch failed; will catch up from the table")
                await asyncio.sleep(0.5)
                self._incoming.put_nowait(None)

    async def _catch_up(self) -> None:
        async with self._sessionmaker() as session:
            if self._skipped and not self._subscribers:
                self._last_seq = self._floor = await repo.max_seq(session)
                return
            overlap = 0 if self._skipped else _CATCH_UP_OVERLAP
            self._skipped = False
            cursor = max(self._floor, self._last_seq - overlap)
            while True:
                batch = await repo.after_seq(session, cursor, _CATCH_UP_BATCH)
                if not batch:
                    return
                await self._deliver(session, batch)
                cursor = batch[-1].seq

    def _remember(self, event: Event) -> None:
        self._recent[event.id] = None
        if len(self._recent) > _RECENT_IDS:
            self._recent.popitem(last=False)

    async def _deliver(self, session: AsyncSession, events: list[Event]) -> None:
        fresh = [e for e in events if e.id not in self._recent]
        if not fresh:
            for e in events:
                self._last_seq = max(self._last_seq, e.seq)
            return
        events = fresh
        ids: dict[str, list[uuid.UUID]] = {"dataset": [], "dashboard": []}
        for e in events:
            if e.subject_kind in ids:
                with contextlib.suppress(ValueError):
                    ids[e.subject_kind].append(uuid.UUID(e.subject_id))
        # (visibility, org, owners) of each subject; dataset and dashboard ids never collide
        info = await catalog.visibility_info(session, ids["dataset"])
        info |= await dashboards.visibility_info(session, ids["dashboard"])
        for event in events:
            self._last_seq = max(self._last_seq, event.seq)
            self._remember(event)
            for sub in list(self._subscribers):
                sub.track_follows(event)
                if sub.overflowed or not sub.wants(event, info):
                    continue
                try:
                    sub.queue.put_nowait(event)
                except asyncio.QueueFull:
                    sub.overflowed = True  # the stream tells the client to resync
                    sub.closed.set()
