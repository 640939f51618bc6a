"""The Bolt graph engine: a projection of the lineage edges into Neo4j (or any Bolt/openCypher
server), kept up to date from the events outbox, and queried for graph and impact walks.

The projector reads ``lineage.changed`` events after a stored cursor, applies them with
idempotent MERGEs and moves the cursor in the same transaction as its advisory lock, so one
process projects at a time and a replay changes nothing. After downtime it simply catches up.

The graph also records how far it was projected (a mark written after each committed catch-up).
A graph server that comes back behind the cursor (restored from a backup, or a commit lost
before its mark) is replayed from its mark; one that comes back empty or ahead of the cursor
(the database was restored) is rebuilt from the tables. Graph queries meanwhile fall back to
PostgreSQL, as they do for a start node not projected yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.lineage import repository as repo
from datamesh.lineage.bolt import BoltGraph, NodeNotFound, ProjectionChanged
from datamesh.lineage.engine import EngineUnavailable, Neighbourhood
from datamesh.models.catalog import Dataset
from datamesh.models.events import Event
from datamesh.models.lineage import Process

log = logging.getLogger("datamesh.lineage.projection")
CURSOR = "bolt"
_LOCK = "datamesh.bolt_projection"
_BATCH = 500
# While the graph server is away, graph queries must not each wait out the driver's retries
# (30 s): a walk gets this long, then the graph counts as down and PostgreSQL answers at once.
# The projector probes it and, once it has caught up again, puts it back in service.
QUERY_TIMEOUT_SECONDS = 5.0
_DOWN_FOR_SECONDS = 30.0  # without a projector to say it is back, try again after this
_down_until: weakref.WeakKeyDictionary[BoltGraph, float] = weakref.WeakKeyDictionary()


class GraphUnavailable(EngineUnavailable):
    """The graph server failed recently; PostgreSQL answers instead."""


class NotProjected(EngineUnavailable):
    """The start node is not in the graph yet (projection lag), or the graph holds no complete
    projection now (wiped, or being rebuilt by some process)."""


def mark_down(graph: BoltGraph, seconds: float = _DOWN_FOR_SECONDS) -> None:
    _down_until[graph] = time.monotonic() + seconds


def mark_up(graph: BoltGraph) -> None:
    _down_until.pop(graph, None)


def is_down(graph: BoltGraph) -> bool:
    return time.monotonic() < _down_until.get(graph, 0.0)


class BoltEngine:
    name = "bolt"

    def __init__(self, graph: BoltGraph) -> None:
        self.graph = graph

    async def neighbourhood(
        self,
        session: AsyncSession,
        start: uuid.UUID,
        start_kind: str,
        direction: str,
        raw_depth: int,
        max_nodes: int,
    ) -> Neighbourhood:
        if is_down(self.graph):
            raise GraphUnavailable("the graph server is unavailable")
        try:
            found = await asyncio.wait_for(
                self.graph.neighbourhood(
                    str(start),
                    direction,  # type: ignore[arg-type]
                    raw_depth,
                    max_nodes * 4,
                    guarded=True,  # never a partial answer from a graph being rebuilt
                ),
                QUERY_TIMEOUT_SECONDS,
            )
        except NodeNotFound:
            raise NotProjected("the start node is not projected yet") from None
        except ProjectionChanged:
            raise NotProjected("the graph holds no complete projection now") from None
        except Exception:
            mark_down(self.graph)
            raise
        kinds: dict[Any, str] = {uuid.UUID(k): v for k, v in found.kinds.items()}
        kinds.setdefault(start, start_kind)
        out_edges: dict[Any, list[Any]] = {}
        in_edges: dict[Any, list[Any]] = {}
        for src, dst in found.edges:
            s, d = uuid.UUID(src), uuid.UUID(dst)
            out_edges.setdefault(s, []).append(d)
            in_edges.setdefault(d, []).append(s)
        return Neighbourhood(kinds, out_edges, in_edges, found.truncated)


async def apply(graph: BoltGraph, events: list[Event]) -> None:
    """Apply lineage.changed payloads in order (idempotent)."""
    for event in events:
        p = event.payload or {}
        kinds: dict[str, str] = p.get("kinds") or {}
        added = [tuple(e) for e in p.get("edges_added") or []]
        nodes = {n: kinds.get(n) for pair in added for n in pair}
        for n in p.get("nodes_added") or []:
            nodes.setdefault(n, kinds.get(n) or p.get("kind"))
        await graph.upsert_nodes([{"id": n, "kind": k} for n, k in nodes.items() if k])
        if added:
            await graph.upsert_edges(added)
        for src, dst in p.get("edges_removed") or []:
            await graph.delete_edge(src, dst)
        for node in p.get("nodes_removed") or []:
            await graph.delete_node(node)


async def _lock(session: AsyncSession, *, wait: bool) -> bool:
    """The projection's lock, held until the session's transaction ends."""
    if wait:
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": _LOCK})
        return True
    got = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), {"key": _LOCK}
    )
    return bool(got)


async def catch_up(sessionmaker: async_sessionmaker[AsyncSession], graph: BoltGraph) -> int:
    """Project every event after the cursor; returns how many were applied (0 if another
    process holds the projection lock). Rebuilds the graph if it lost the projection."""
    applied = 0
    async with sessionmaker() as session:
        if not await _lock(session, wait=False):
            return 0
        cursor = await repo.cursor(session, CURSOR)
        mark = await graph.projected_seq()
        if mark is not None and mark < cursor:
            log.warning("the graph server is behind the projection; replaying from its mark")
            cursor = mark
        elif mark != cursor and not (mark is None and cursor == 0):
            log.warning("the graph server lost the projection; rebuilding it from the tables")
            mark_down(graph, math.inf)  # queries go to PostgreSQL until the rebuild is done
            await _rebuild(session, graph)
            cursor = await repo.cursor(session, CURSOR)
        while True:
            batch = list(
                await session.scalars(
                    select(Event)
                    .where(Event.seq > cursor, Event.type == "lineage.changed")
                    .order_by(Event.seq)
                    .limit(_BATCH)
                )
            )
            if not batch:
                break
            await apply(graph, batch)
            cursor = batch[-1].seq
            applied += len(batch)
        await repo.set_cursor(session, CURSOR, cursor)
        await session.commit()
    if mark != cursor:
        # After the commit: a mark behind the cursor costs a replay, one ahead a rebuild.
        await graph.set_projected_seq(cursor)
    return applied


async def _rebuild(
    session: AsyncSession, graph: BoltGraph, progress: Callable[[int], object] = lambda _: None
) -> tuple[int, int]:
    """Replace the graph's content with the tables' (the caller holds the lock); the cursor
    moves to the newest event, whose successors the next catch-up applies."""
    await graph.set_projected_seq(None)  # first: a rebuild cut short is started again
    await graph.clear()
    await graph.ensure_schema()
    nodes = edges = 0
    start_seq = int(await session.scalar(text("SELECT coalesce(max(seq), 0) FROM events")) or 0)
    for model, kind in ((Dataset, "dataset"), (Process, "process")):
        ids = list(await session.scalars(select(model.id)))
        for i in range(0, len(ids), 5000):
            chunk = ids[i : i + 5000]
            await graph.upsert_nodes([{"id": str(x), "kind": kind} for x in chunk])
            nodes += len(chunk)
            progress(len(chunk))
    async for chunk in repo.all_edges(session):
        await graph.upsert_edges([(str(s), str(d)) for s, d in chunk])
        edges += len(chunk)
        progress(len(chunk))
    await repo.set_cursor(session, CURSOR, start_seq)
    return nodes, edges


async def reindex(
    sessionmaker: async_sessionmaker[AsyncSession],
    graph: BoltGraph,
    progress: Callable[[int], object] = lambda _: None,
) -> tuple[int, int]:
    """Rebuild the projection from the tables; returns (nodes, edges)."""
    async with sessionmaker() as session:
        await _lock(session, wait=True)
        found = await _rebuild(session, graph, progress)
        seq = await repo.cursor(session, CURSOR)
        await session.commit()
    await graph.set_projected_seq(seq)
    return found


class Projector:
    """Background task: catch up every ``interval`` seconds (cheap when nothing changed)."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], graph: BoltGraph, interval: float
    ) -> None:
        self.sessionmaker, self.graph, self.interval = sessionmaker, graph, interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="bolt-projector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _loop(self) -> None:
        schema_ready = paused = False
        while True:
            try:
                if is_down(self.graph):  # a cheap probe first, bounded: is it back?
                    await asyncio.wait_for(self.graph.counts(), QUERY_TIMEOUT_SECONDS)
                if not schema_ready:
                    await self.graph.ensure_schema()
                    schema_ready = True
                await catch_up(self.sessionmaker, self.graph)
                mark_up(self.graph)  # reachable and caught up: queries may use it again
                if paused:
                    log.info("graph projection resumed")
                paused = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                mark_down(self.graph)
                # Once per outage, not once per retry.
                log.log(
                    logging.DEBUG if paused else logging.WARNING,
                    "graph projection paused (%s); will retry",
                    type(exc).__name__,
                )
                paused = True
            await asyncio.sleep(self.interval)
