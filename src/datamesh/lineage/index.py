"""The in-memory lineage index: a per-process read model of the whole lineage graph.

PostgreSQL stays the source of truth. Each API process holds the graph in compact numpy arrays:
node ids as integers (a dict from UUID and a list back), a process bit, an org number and a
visibility code per node, the edges as sorted ``src << 32 | dst`` keys and CSR adjacency in both
directions built from them. It is built from one consistent snapshot streamed through
server-side cursors (``repository.stream_snapshot``) and kept current from the outbox like
every read model (DESIGN.md): a position with its gaps (``events.consumer.Position``, the same
rule as the database consumers: an event that commits after a higher-numbered one is still
read), an idempotent apply of ``lineage.changed`` payloads, and a rebuild from the tables when
the position is unknown or too far behind. Catch-up is pushed: every NOTIFY the live stream's
LISTEN connection receives wakes a catch-up in the background (``IndexEngine.wake``).

Walks call ``traversal.hop_depths_csr``: the depth rule of ``traversal.py`` on arrays, so the
index, the PostgreSQL engine and the Bolt engine give the same answers.

Read-your-writes: before a walk the engine reads the outbox head (``max(seq)``, one index probe);
when the head is past the position, or gaps are open, it reads what it has not seen yet in the
caller's own session and applies it first, so a request after a write sees it on any worker.
While the index is being built, or when it is more than ``max_lag`` events behind, it raises
``EngineUnavailable`` and the PostgreSQL engine answers (as for Bolt) while a rebuild runs in
the background. A rebuild makes a new index and swaps it in
at once; a walk never sees half of one.

Visibility is not decided here: the walk returns every node (hidden ones too), and the service
names only what the caller may read, as with the other engines. The org and visibility codes
held per node are for counting without a query (e.g. per-org figures); they are ``-1`` /
``UNKNOWN`` for nodes first seen in an event, until the next rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.events.consumer import Position, snapshot_bounds
from datamesh.lineage import repository as repo
from datamesh.lineage import traversal
from datamesh.lineage.engine import EngineUnavailable, Neighbourhood

log = logging.getLogger("datamesh.lineage.index")

VISIBILITY = {"public": 0, "internal": 1, "private": 2}
UNKNOWN = 255
GAP_WINDOW = 10_000
"""How many numbers below the snapshot's head a build checks for events not yet committed."""
_LOW = np.int64(0xFFFFFFFF)


class IndexNotReady(EngineUnavailable):
    """The index is being built or is too far behind the outbox; PostgreSQL answers."""


def _csr(src: Any, dst: Any, n: int) -> traversal.CSR:
    """CSR of edges src->dst over ``n`` nodes (neighbours sorted by id)."""
    order = np.lexsort((dst, src))
    counts = np.bincount(src, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, dst[order].astype(np.int32)


@dataclass(slots=True)
class LineageIndex:
    ids: list[uuid.UUID] = field(default_factory=list)
    pos: dict[uuid.UUID, int] = field(default_factory=dict)
    is_process: Any = field(default_factory=lambda: np.zeros(0, dtype=bool))
    org: Any = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    visibility: Any = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    orgs: list[uuid.UUID] = field(default_factory=list)
    keys: Any = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    out_csr: traversal.CSR = field(default_factory=lambda: _csr(_i64(), _i64(), 0))
    in_csr: traversal.CSR = field(default_factory=lambda: _csr(_i64(), _i64(), 0))
    cursor: Position = field(default_factory=lambda: Position(0))
    """The outbox events this index reflects: up to ``last_seq``, except its gaps."""
    _new: list[bool] = field(default_factory=list)
    """Kinds (is a process) of nodes added since the arrays were last extended."""

    # -- building ----------------------------------------------------------------------------
    @classmethod
    async def build(cls, session: AsyncSession) -> LineageIndex:
        """From the tables, in one REPEATABLE READ snapshot (the session must not have started
        a transaction)."""
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        index = cls()
        org_no: dict[uuid.UUID, int] = {}
        procs: list[bool] = []
        orgs: list[int] = []
        vis: list[int] = []
        src: list[Any] = []
        dst: list[Any] = []
        head = 0
        async for part, rows in repo.stream_snapshot(session):
            if part == "head":
                head = rows
            elif part == "nodes":
                for node_id, is_proc, org_id, visibility in rows:
                    index.pos[node_id] = len(index.ids)
                    index.ids.append(node_id)
                    procs.append(is_proc)
                    orgs.append(org_no.setdefault(org_id, len(org_no)))
                    vis.append(VISIBILITY.get(visibility, UNKNOWN))
            else:
                at = index._node
                src.append(np.fromiter((at(r[0], r[2]) for r in rows), np.int64, len(rows)))
                dst.append(np.fromiter((at(r[1], r[3]) for r in rows), np.int64, len(rows)))
        # The position of the snapshot: its head, and as gaps the numbers below it that it does
        # not see (transactions still running; the bounds are those of this very snapshot).
        xmin, xmax = await snapshot_bounds(session)
        floor = max(0, head - GAP_WINDOW)
        index.cursor = Position(floor)
        index.cursor.advance(await repo.seqs_after(session, floor), xmin, xmax, time.time())
        await session.rollback()
        index.orgs = list(org_no)
        index.is_process = np.array(procs, dtype=bool)
        index.org = np.array(orgs, dtype=np.int32)
        index.visibility = np.array(vis, dtype=np.uint8)
        index._extend()  # an edge whose end was not listed as a node (not expected)
        s = np.concatenate(src) if src else _i64()
        d = np.concatenate(dst) if dst else _i64()
        index.keys = np.unique((s << 32) | d)
        index._reshape()
        return index

    def _reshape(self) -> None:
        n = len(self.ids)
        src, dst = self.keys >> 32, self.keys & _LOW
        self.out_csr = _csr(src, dst, n)
        self.in_csr = _csr(dst, src, n)

    # -- keeping current ---------------------------------------------------------------------
    def _node(self, node_id: uuid.UUID, kind: str | None) -> int | None:
        """A node's number; a node not known yet is added when its kind is known."""
        at = self.pos.get(node_id)
        if at is None and kind in ("dataset", "process"):
            at = self.pos[node_id] = len(self.ids)
            self.ids.append(node_id)
            self._new.append(kind == "process")
        return at

    def _extend(self) -> None:
        """Grow the per-node arrays by the nodes added (CSR rows of them are empty)."""
        if not self._new:
            return
        k = len(self._new)
        self.is_process = np.concatenate([self.is_process, np.array(self._new, dtype=bool)])
        self.org = np.concatenate([self.org, np.full(k, -1, dtype=np.int32)])
        self.visibility = np.concatenate([self.visibility, np.full(k, UNKNOWN, dtype=np.uint8)])
        self._new = []
        self.out_csr = (_grow(self.out_csr[0], k), self.out_csr[1])
        self.in_csr = (_grow(self.in_csr[0], k), self.in_csr[1])

    @property
    def position(self) -> int:
        """The newest outbox event read (events in ``cursor.gaps`` below it may still come)."""
        return self.cursor.last_seq

    def catch_up(
        self, rows: Iterable[tuple[int, dict[str, Any] | None]], xmin: int, xmax: int, now: float
    ) -> int:
        """Apply what was read for ``cursor.unread()`` (seq, payload or None for other events)
        under a snapshot whose bounds are ``xmin``/``xmax``: the gap rule decides what is new
        (a duplicate is dropped); returns how many lineage events were applied."""
        rows = list(rows)
        fresh = set(self.cursor.advance([seq for seq, _ in rows], xmin, xmax, now))
        return self.apply(p for seq, p in rows if seq in fresh and p is not None)

    def apply(self, payloads: Iterable[dict[str, Any]]) -> int:
        """Apply ``lineage.changed`` payloads in order; idempotent (an edge is present or not,
        whatever the number of times it was told; the last word wins). Which events to apply
        is the cursor's business (``catch_up``). Returns how many were applied."""
        change: dict[int, bool] = {}  # edge key -> present, the last word wins
        applied = 0
        for p in payloads:
            kinds: dict[str, str] = p.get("kinds") or {}
            for n in p.get("nodes_added") or []:
                self._node(uuid.UUID(n), kinds.get(n) or p.get("kind"))
            for s, d in p.get("edges_added") or []:
                a, b = (
                    self._node(uuid.UUID(s), kinds.get(s)),
                    self._node(uuid.UUID(d), kinds.get(d)),
                )
                if a is not None and b is not None:
                    change[(a << 32) | b] = True
            for s, d in p.get("edges_removed") or []:
                a, b = self.pos.get(uuid.UUID(s)), self.pos.get(uuid.UUID(d))
                if a is not None and b is not None:
                    change[(a << 32) | b] = False
            for n in p.get("nodes_removed") or []:
                at = self.pos.get(uuid.UUID(n))
                if at is not None:  # its edges go with it (the payload lists them too)
                    gone = self.keys[((self.keys >> 32) == at) | ((self.keys & _LOW) == at)]
                    change.update(dict.fromkeys(gone.tolist(), False))
                    for k in [k for k in change if k >> 32 == at or k & 0xFFFFFFFF == at]:
                        change[k] = False
            applied += 1
        self._extend()
        if change:
            added = np.array([k for k, v in change.items() if v], dtype=np.int64)
            removed = np.array([k for k, v in change.items() if not v], dtype=np.int64)
            keys = self.keys[~np.isin(self.keys, removed)] if removed.size else self.keys
            self.keys = np.union1d(keys, added) if added.size else keys
            self._reshape()
        return applied

    # -- walking -----------------------------------------------------------------------------
    def walk(
        self,
        start: uuid.UUID,
        start_kind: str,
        direction: str,
        max_depth: int,
        max_nodes: int | None,
    ) -> traversal.Traversal:
        """``traversal.hop_depths`` on the index (``max_nodes=None``: every node, uncut)."""
        at = self.pos.get(start)
        if at is None:  # a node without any edge yet: the walk is the node alone
            return traversal.Traversal({str(start): 0})
        ids = self.ids
        found, mask, truncated = traversal.hop_depths_csr(
            at,
            self.is_process,
            self.out_csr,
            self.in_csr,
            direction,  # type: ignore[arg-type]
            max_depth,
            max_nodes,
            key=lambda i: str(ids[i]),
        )
        nodes = {str(ids[i]): d for i, d in found.items()}
        src, dst = traversal.csr_steps(self.out_csr, np.fromiter(found, np.int64, len(found)))
        inside = mask[dst]
        edges = {
            (str(ids[a]), str(ids[b]))
            for a, b in zip(src[inside].tolist(), dst[inside].tolist(), strict=True)
        }
        return traversal.Traversal(nodes, edges, truncated)

    def depths(self, start: uuid.UUID, start_kind: str, max_depth: int) -> tuple[Any, Any]:
        """Every node downstream of ``start`` within ``max_depth`` (uncut) as two arrays
        (index numbers, hop depths), ordered by depth then id number; for exact impact."""
        at = self.pos.get(start)
        if at is None:
            return _i64(), _i64()
        found, _mask, _ = traversal.hop_depths_csr(
            at,
            self.is_process,
            self.out_csr,
            self.in_csr,
            "downstream",
            max_depth,
            None,
            key=str,
        )
        nodes = np.fromiter(found, np.int64, len(found))
        depth = np.fromiter(found.values(), np.int64, len(found))
        order = np.lexsort((nodes, depth))
        return nodes[order], depth[order]

    def nbytes(self) -> int:
        """Bytes of the arrays (the UUID dict and list come on top; see BENCHMARKS.md)."""
        arrays = (
            self.is_process,
            self.org,
            self.visibility,
            self.keys,
            *self.out_csr,
            *self.in_csr,
        )
        return sum(int(a.nbytes) for a in arrays)


def _grow(indptr: Any, k: int) -> Any:
    return np.concatenate([indptr, np.full(k, indptr[-1], dtype=indptr.dtype)])


def _i64() -> Any:
    return np.zeros(0, dtype=np.int64)


class IndexEngine:
    """The graph engine over the index, with read-your-writes and a PostgreSQL fallback."""

    name = "index"

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], max_lag: int = 10_000):
        self.sessionmaker = sessionmaker
        self.max_lag = max_lag
        self.index: LineageIndex | None = None
        self.build_seconds: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._woken = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def start_build(self) -> asyncio.Task[None]:
        """Build (or rebuild) in the background; walks fall back to PostgreSQL meanwhile
        (or keep using the previous index, swapped out only when the new one is complete)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._build(), name="lineage-index-build")
        return self._task

    async def _build(self) -> None:
        began = time.perf_counter()
        try:
            async with self.sessionmaker() as session:
                fresh = await LineageIndex.build(session)
                # Events committed while it streamed: applied before it is swapped in.
                await self._catch_up(fresh, session)
        except Exception:
            log.exception("the lineage index could not be built; PostgreSQL answers")
            return
        self.build_seconds = time.perf_counter() - began
        self.index = fresh
        log.info(
            "lineage index built: %d nodes, %d edges in %.2f s",
            len(fresh.ids),
            fresh.keys.size,
            self.build_seconds,
        )

    @staticmethod
    async def _catch_up(index: LineageIndex, session: AsyncSession) -> int:
        xmin, xmax = await snapshot_bounds(session)  # before the read (see Position)
        rows = await repo.unread_events(session, index.cursor)
        return index.catch_up(rows, xmin, xmax, time.time())

    # -- push: woken by the live stream's LISTEN connection -----------------------------------
    def wake(self) -> None:
        """New events were announced (a NOTIFY): catch up in the background, so the walk's own
        check usually finds nothing to do. Cheap, called in the event loop."""
        self._woken.set()
        if self._follower is None or self._follower.done():
            self._follower = asyncio.create_task(self._follow(), name="lineage-index-follow")

    async def _follow(self) -> None:
        while True:
            await self._woken.wait()
            self._woken.clear()
            index = self.index
            if index is None:
                continue
            try:
                async with self.sessionmaker() as session:
                    head = await repo.outbox_head(session)
                    if head - index.position > self.max_lag:
                        self.start_build()
                        continue
                    async with self._lock:
                        if self.index is index:
                            await self._catch_up(index, session)
            except Exception:  # the pre-walk check stays the guarantee
                log.warning("lineage index catch-up failed; walks catch up themselves")

    async def stop(self) -> None:
        for task in (self._task, self._follower):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # -- read-your-writes --------------------------------------------------------------------
    async def current(self, session: AsyncSession) -> LineageIndex:
        """The index, caught up with the outbox as this session sees it."""
        index = self.index
        if index is None:
            self.start_build()
            raise IndexNotReady("the lineage index is being built")
        head = await repo.outbox_head(session)
        if head <= index.position and not index.cursor.gaps:
            return index
        if head - index.position > self.max_lag:
            self.start_build()
            raise IndexNotReady("the lineage index is too far behind the outbox")
        async with self._lock:
            index = self.index or index  # a rebuild may have swapped it meanwhile
            await self._catch_up(index, session)
        return index

    async def walk(
        self,
        session: AsyncSession,
        start: uuid.UUID,
        start_kind: str,
        direction: str,
        depth: int,
        max_nodes: int,
    ) -> traversal.Traversal:
        index = await self.current(session)
        return index.walk(start, start_kind, direction, depth, max_nodes)

    async def downstream(
        self, session: AsyncSession, start: uuid.UUID, start_kind: str, depth: int
    ) -> tuple[list[tuple[int, str]], dict[str, str]] | None:
        """Every node downstream of ``start`` within ``depth`` (never cut) as (distance, id)
        ordered by distance then id, with their kinds; None when the index cannot answer."""
        try:
            index = await self.current(session)
        except IndexNotReady:
            return None
        traversal.check_limits("downstream", depth, 1)
        nodes, depths = index.depths(start, start_kind, depth)
        keep = depths > 0
        nodes, depths = nodes[keep], depths[keep]
        names = [str(index.ids[i]) for i in nodes.tolist()]
        rows = sorted(zip(depths.tolist(), names, strict=True))
        procs = index.is_process[nodes].tolist()
        kinds = {n: "process" if pr else "dataset" for n, pr in zip(names, procs, strict=True)}
        return rows, kinds

    async def neighbourhood(
        self,
        session: AsyncSession,
        start: uuid.UUID,
        start_kind: str,
        direction: str,
        raw_depth: int,
        max_nodes: int,
    ) -> Neighbourhood:
        """Not used: ``engine.traverse`` calls ``walk`` (kept for the ``GraphEngine`` shape)."""
        raise IndexNotReady("the lineage index walks through walk()")
