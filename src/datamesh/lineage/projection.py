"""The Bolt graph engine: a projection of the lineage edges into Neo4j (or any Bolt/openCypher
server), kept up to date from the events outbox, and queried for graph and impact walks.

The projector reads ``lineage.changed`` events after a stored cursor, applies them with
idempotent MERGEs and moves the cursor in the same transaction as its advisory lock, so one
process projects at a time and a replay changes nothing. After downtime it simply catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.lineage import repository as repo
from datamesh.lineage.bolt import BoltGraph
from datamesh.lineage.engine import Neighbourhood
from datamesh.models.catalog import Dataset
from datamesh.models.events import Event
from datamesh.models.lineage import Process

log = logging.getLogger("datamesh.lineage.projection")
CURSOR = "bolt"
_BATCH = 500
# While the graph server is away, graph queries must not each wait out the driver's retries
# (30 s): a walk gets this long, then the graph counts as down and PostgreSQL answers at once.
# The projector probes it and, once it has caught up again, puts it back in service.
QUERY_TIMEOUT_SECONDS = 5.0
_DOWN_FOR_SECONDS = 30.0  # without a projector to say it is back, try again after this
_down_until: weakref.WeakKeyDictionary[BoltGraph, float] = weakref.WeakKeyDictionary()


class GraphUnavailable(RuntimeError):
    """The graph server failed recently; PostgreSQL answers instead."""


def mark_down(graph: BoltGraph) -> None:
    _down_until[graph] = time.monotonic() + _DOWN_FOR_SECONDS


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
                self.graph.neighbourhood(str(start), direction, raw_depth, max_nodes * 4),  # type: ignore[arg-type]
                QUERY_TIMEOUT_SECONDS,
            )
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


async def catch_up(sessionmaker: async_sessionmaker[AsyncSession], graph: BoltGraph) -> int:
    """Project every event after the cursor; returns how many were applied (0 if another
    process holds the projection lock)."""
    applied = 0
    async with sessionmaker() as session:
        got = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(hashtext('datamesh.bolt_projection'))")
        )
        if not got:
            return 0
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
    return applied


async def reindex(
    sessionmaker: async_sessionmaker[AsyncSession],
    graph: BoltGraph,
    progress: Callable[[int], object] = lambda _: None,
) -> tuple[int, int]:
    """Rebuild the projection from the tables; returns (nodes, edges)."""
    await graph.clear()
    await graph.ensure_schema()
    nodes = edges = 0
    async with sessionmaker() as session:
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
        await session.commit()
    return nodes, edges


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
        schema_ready = False
        while True:
            try:
                if is_down(self.graph):  # a cheap probe first, bounded: is it back?
                    await asyncio.wait_for(self.graph.counts(), QUERY_TIMEOUT_SECONDS)
                if not schema_ready:
                    await self.graph.ensure_schema()
                    schema_ready = True
                await catch_up(self.sessionmaker, self.graph)
                mark_up(self.graph)  # reachable and caught up: queries may use it again
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                mark_down(self.graph)
                log.warning("graph projection paused (%s); will retry", type(exc).__name__)
            await asyncio.sleep(self.interval)
