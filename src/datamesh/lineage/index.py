"""The in-memory lineage index: a per-process read model of the whole lineage graph.

PostgreSQL stays the source of truth. Each API process holds the graph in compact numpy arrays:
node numbers are ranks in a sorted array of the UUIDs' 16 bytes (a binary search, no dict), a
process bit, an org number, a visibility code and a platform number per node, and CSR adjacency
in both directions. It is built from one consistent snapshot read by ``COPY (FORMAT binary)``
straight into numpy records (``repository.copy_records``) and kept current from the outbox like
every read model (DESIGN.md): a position with its gaps (``events.consumer.Position``, the same
rule as the database consumers: an event that commits after a higher-numbered one is still
read), an idempotent apply of ``lineage.changed`` payloads, and a rebuild from the tables when
the position is unknown or too far behind. Catch-up is pushed: every NOTIFY the live stream's
LISTEN connection receives wakes a catch-up in the background (``IndexEngine.wake``).

Walks for drawing call ``traversal.hop_depths_csr`` (the depth rule of ``traversal.py`` on
arrays, with its cut); the uncut impact walk calls ``traversal.hop_depths_bfs`` (csgraph's
breadth-first search); so the index, the PostgreSQL engine and the Bolt engine give the same
answers.

Read-your-writes: before a walk the engine reads the outbox head (``max(seq)``, one index probe);
when the head is past the position, or gaps are open, it reads what it has not seen yet in the
caller's own session and applies it first, so a request after a write sees it on any worker.
While the index is being built, or when it is more than ``max_lag`` events behind, it raises
``EngineUnavailable`` and the PostgreSQL engine answers (as for Bolt) while a rebuild runs in
the background. A rebuild makes a new index and swaps it in at once, and a catch-up replaces
arrays rather than editing them: a walk never sees half of a change.

Visibility: walks return every node (hidden ones too), and the service names only what the
caller may read. For exact impact the service counts with ``readable`` (the catalog's rule on
the org and visibility bits) and asks PostgreSQL only what bits cannot decide: private datasets
of others (owners) and nodes whose bits are unknown (first told by an event, or touched by an
event since the build: an update may have changed them).
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
BLASTS_KEPT = 4
"""Blast radii kept for the next page (a big hub's is two arrays of ~1.5M: ~24 MB)."""
GAP_WINDOW = 10_000
"""How many numbers below the snapshot's head a build checks for events not yet committed."""
_LOW = np.int64(0xFFFFFFFF)


class IndexNotReady(EngineUnavailable):
    """The index is being built or is too far behind the outbox; PostgreSQL answers."""


def _csr(src: Any, dst: Any, n: int) -> traversal.CSR:
    """CSR of edges src->dst over ``n`` nodes (neighbours sorted by number; int32 throughout:
    fewer than 2**31 nodes and edges)."""
    order = np.lexsort((dst, src))
    counts = np.bincount(src, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])
    return indptr, dst[order].astype(np.int32)


def _v16(node_id: uuid.UUID) -> Any:
    return np.frombuffer(node_id.bytes, dtype="V16")


def _text(raw: bytes) -> list[str]:
    """16-byte ids, back to UUID text, without a UUID object each."""
    h = raw.hex()
    return [
        f"{h[k : k + 8]}-{h[k + 8 : k + 12]}-{h[k + 12 : k + 16]}-{h[k + 16 : k + 20]}-"
        + h[k + 20 : k + 32]
        for k in range(0, len(h), 32)
    ]


@dataclass(slots=True)
class LineageIndex:
    uids: Any = field(default_factory=lambda: np.zeros(0, dtype="V16"))
    """Node number -> its UUID's 16 bytes; the first ``sorted_count`` ascending (a build numbers
    the nodes in id order, so a lookup is a binary search: no dict, no UUID object per node)."""
    sorted_count: int = 0
    extra: dict[uuid.UUID, int] = field(default_factory=dict)
    """Nodes first told by an event since the build (until the next one): few."""
    is_process: Any = field(default_factory=lambda: np.zeros(0, dtype=bool))
    org: Any = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    visibility: Any = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    orgs: list[uuid.UUID] = field(default_factory=list)
    platform: Any = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    """A dataset's platform number in ``platforms`` (-1: a process, or not known)."""
    platforms: list[str] = field(default_factory=list)
    has_people: Any = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """A dataset that had an owner or a follower at the build (True too when not known): the
    others need no question about who to tell."""
    people: traversal.CSR = field(default_factory=lambda: _csr(_i64(), _i64(), 0))
    """Dataset -> its people at the build, each as ``person << 1 | kind`` (kind 0 owns, 1
    follows); a person is a user (``users[person]``) or, past them, an owner named by an
    ownership facet (``named[person - len(users)]``). Read only where ``people_stale`` is False."""
    people_stale: Any = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Datasets whose people may have changed since the build (an event about them), or not
    known to it: their people are asked of PostgreSQL."""
    users: Any = field(default_factory=lambda: np.zeros(0, dtype="V16"))
    """The users of ``people``, sorted by id (a person number is a rank)."""
    named: list[tuple[str, str]] = field(default_factory=list)
    """Owners named by ownership facets: (name as written, the key people are grouped by)."""
    named_key: Any = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Each of ``named``'s key as a number in ``named_keys``."""
    named_keys: dict[str, int] = field(default_factory=dict)
    named_key_names: list[str] = field(default_factory=list)
    """``named_keys`` in number order."""
    names: bytes = b""
    """Every dataset's name at the build (UTF-8), one after the other in node order: node
    ``i``'s is ``names[name_at[i]:name_at[i + 1]]``; read only where ``people_stale`` is False
    (an event about a dataset may have renamed it)."""
    name_at: Any = field(default_factory=lambda: np.zeros(1, dtype=np.uint32))
    out_base: traversal.CSR = field(default_factory=lambda: _csr(_i64(), _i64(), 0))
    in_base: traversal.CSR = field(default_factory=lambda: _csr(_i64(), _i64(), 0))
    """The adjacency as of the last fold (or the build), in both directions."""
    added: Any = field(default_factory=lambda: _i64())
    """Edges since the fold that are not in the base, as sorted ``src << 32 | dst`` keys."""
    removed: Any = field(default_factory=lambda: _i64())
    """Edges of the base gone since the fold (sorted keys)."""
    _added_in: Any = field(default_factory=lambda: _i64())
    _removed_in: Any = field(default_factory=lambda: _i64())
    """The same two, as ``dst << 32 | src`` keys (for upstream steps)."""
    cursor: Position = field(default_factory=lambda: Position(0))
    """The outbox events this index reflects: up to ``last_seq``, except its gaps."""
    _new: list[tuple[uuid.UUID, bool]] = field(default_factory=list)
    """Nodes (id, is a process) added since the arrays were last extended."""
    _bfs: Any = None
    """The downstream graph of the base for csgraph's breadth-first search (made on first use
    or by a fold) and how many real nodes it has (a node added since is not in it)."""
    _bfs_nodes: int = 0

    # -- building ----------------------------------------------------------------------------
    @classmethod
    async def build(cls, session: AsyncSession) -> LineageIndex:
        """From the tables, in one REPEATABLE READ snapshot (the session must not have started
        a transaction): every node and edge through ``COPY (FORMAT binary)`` into numpy."""
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        await repo.allow_snapshot_time(session)
        head = await repo.outbox_head(session)  # first: it takes the snapshot
        nodes = await repo.copy_records(session, repo.SNAPSHOT_NODES, repo.NODE_ROW)
        edges = await repo.copy_records(session, repo.SNAPSHOT_EDGES, repo.EDGE_ROW)
        platforms = await repo.platform_names(session)
        owners = await repo.copy_records(session, repo.SNAPSHOT_PEOPLE, repo.PEOPLE_ROW)
        named = await repo.copy_records(session, repo.SNAPSHOT_NAMED, repo.NAMED_ROW)
        named_names = await repo.named_names(session)
        names = await repo.all_names(session)
        # The position of the snapshot: its head, and as gaps the numbers below it that it does
        # not see (transactions still running; the bounds are those of this very snapshot).
        xmin, xmax = await snapshot_bounds(session)
        floor = max(0, head - GAP_WINDOW)
        cursor = Position(floor)
        cursor.advance(await repo.seqs_after(session, floor), xmin, xmax, time.time())
        await session.rollback()
        return cls.from_records(
            nodes, edges, cursor, platforms, (owners, named, named_names), names
        )

    @classmethod
    def from_records(
        cls,
        nodes: Any,
        edges: Any,
        cursor: Position,
        platforms: list[str] | None = None,
        who: tuple[Any, Any, list[tuple[str, str]]] | None = None,
        names: bytes | None = None,
    ) -> LineageIndex:
        """From ``repo.NODE_ROW`` and ``repo.EDGE_ROW`` records, all in array operations;
        ``who``: ``repo.PEOPLE_ROW`` and ``repo.NAMED_ROW`` records and the named owners
        (without them every dataset's people are asked of PostgreSQL); ``names``:
        ``repo.SNAPSHOT_NAMES`` (without it, names are asked too)."""
        ids, procs, orgs, vis = nodes["id"], nodes["proc"], nodes["org"], nodes["vis"]
        plat, people, name_len = nodes["plat"], nodes["people"], nodes["name_len"]
        known = np.isin(edges["src"], ids), np.isin(edges["dst"], ids)
        if not (known[0].all() and known[1].all()):  # an edge end not listed (not expected)
            ends = (("src", "src_proc", known[0]), ("dst", "dst_proc", known[1]))
            more = [(edges[e][~k], edges[f][~k]) for e, f, k in ends]
            ids = np.concatenate([ids, *(m[0] for m in more)])
            procs = np.concatenate([procs, *(m[1] for m in more)])
            k = sum(m[0].size for m in more)
            orgs = np.concatenate([orgs, np.zeros(k, dtype="V16")])
            vis = np.concatenate([vis, np.full(k, UNKNOWN, dtype=vis.dtype)])
            plat = np.concatenate([plat, np.full(k, -1, dtype=plat.dtype)])
            people = np.concatenate([people, np.ones(k, dtype=bool)])
            name_len = np.concatenate([name_len, np.zeros(k, dtype=name_len.dtype)])
        uids, first = np.unique(ids, return_index=True)
        org_ids, org_no = np.unique(orgs[first], return_inverse=True)
        n = uids.size
        src = np.searchsorted(uids, edges["src"]).astype(np.int64)
        dst = np.searchsorted(uids, edges["dst"]).astype(np.int64)
        keys = np.unique((src << 32) | dst)
        index = cls(
            uids=uids,
            sorted_count=n,
            is_process=procs[first].astype(bool),
            org=org_no.astype(np.int32),
            visibility=vis[first].astype(np.uint8),
            orgs=[uuid.UUID(bytes=o.tobytes()) for o in org_ids],
            platform=plat[first].astype(np.int32),
            platforms=list(platforms or []),
            has_people=people[first].astype(bool),
            cursor=cursor,
        )
        index._reshape(keys)
        if who is None:
            index.people_stale = np.ones(n, dtype=bool)
        else:
            index._set_people(*who)
        # Nodes are numbered in id order, the order of ``names`` (processes: no bytes); 4-byte
        # offsets while the names take under 4 GB.
        wide = names is not None and len(names) >= 1 << 32
        index.name_at = np.zeros(n + 1, dtype=np.int64 if wide else np.uint32)
        if names is not None:
            np.cumsum(name_len[first], out=index.name_at[1:])
            index.names = names
        return index

    def _set_people(self, owners: Any, named: Any, names: list[tuple[str, str]]) -> None:
        n = self.uids.size
        users, user_no = np.unique(owners["user"], return_inverse=True)
        person = np.concatenate([user_no.reshape(-1), named["who"].astype(np.int64) + users.size])
        kind = np.concatenate([owners["kind"].astype(np.int64), np.zeros(named.size, np.int64)])
        ds_ids = np.concatenate([owners["ds"], named["ds"]])
        at = np.minimum(np.searchsorted(self.uids[: self.sorted_count], ds_ids), n - 1)
        known = (self.uids[at] == ds_ids) if n else np.zeros(ds_ids.size, dtype=bool)
        self.people = _csr(at[known], ((person << 1) | kind)[known], n)
        self.people_stale = np.zeros(n, dtype=bool)
        self.users, self.named = users, list(names)
        keys: dict[str, int] = {}
        self.named_key = np.fromiter(
            (keys.setdefault(k, len(keys)) for _, k in names), np.int64, len(names)
        )
        self.named_keys, self.named_key_names = keys, list(keys)

    def _reshape(self, keys: Any) -> None:
        self.out_base, self.in_base = _shapes(keys, self.uids.size)
        self._set_delta(_i64(), _i64())
        self._bfs = None

    @property
    def out_csr(self) -> traversal.Graph:
        """The downstream adjacency walks read: the base, with the changes since the fold."""
        if self.added.size or self.removed.size:
            return traversal.Overlaid(self.out_base, self.added, self.removed)
        return self.out_base

    @property
    def in_csr(self) -> traversal.Graph:
        """The upstream adjacency walks read."""
        if self.added.size or self.removed.size:
            return traversal.Overlaid(self.in_base, self._added_in, self._removed_in)
        return self.in_base

    @property
    def delta_size(self) -> int:
        """Edge changes held over the base (a fold makes it 0)."""
        return int(self.added.size + self.removed.size)

    @property
    def node_count(self) -> int:
        return int(self.uids.size)

    @property
    def edge_count(self) -> int:
        return int(self.out_base[1].size - self.removed.size + self.added.size)

    def _set_delta(self, added: Any, removed: Any) -> None:
        self.added, self.removed = added, removed
        self._added_in, self._removed_in = _flipped(added), _flipped(removed)

    def _in_base(self, keys: Any) -> Any:
        """Which of these edge keys the base holds (few keys: a search in each one's row)."""
        indptr, indices = self.out_base
        found = np.zeros(keys.size, dtype=bool)
        for i, (s, d) in enumerate(zip((keys >> 32).tolist(), (keys & _LOW).tolist(), strict=True)):
            lo, hi = int(indptr[s]), int(indptr[s + 1])
            j = lo + int(np.searchsorted(indices[lo:hi], d))
            found[i] = j < hi and int(indices[j]) == d
        return found

    def _change(self, change: dict[int, bool]) -> None:
        """Edges now present or absent (key -> present), into the changes over the base."""
        keys = np.fromiter(change, np.int64, len(change))
        present = np.fromiter(change.values(), bool, len(change))
        base = self._in_base(keys)
        added = np.setdiff1d(self.added, keys[~present & ~base], assume_unique=True)
        removed = np.setdiff1d(self.removed, keys[present & base], assume_unique=True)
        self._set_delta(
            np.union1d(added, keys[present & ~base]), np.union1d(removed, keys[~present & base])
        )

    def _edges_of(self, at: int) -> list[int]:
        """The keys of every edge into or out of node ``at``, as walks see them now."""
        node = np.array([at], dtype=np.int64)
        _, dst = traversal.csr_steps(self.out_csr, node)
        _, src = traversal.csr_steps(self.in_csr, node)
        return [*((at << 32) | d for d in dst.tolist()), *((s << 32) | at for s in src.tolist())]

    # -- folding -----------------------------------------------------------------------------
    def fold_start(self) -> tuple[Any, ...]:
        """What a fold reads (arrays are never edited in place: safe from another thread)."""
        return (
            self.out_base, self.in_base, self.added, self.removed,
            self._added_in, self._removed_in, self.is_process,
        )  # fmt: skip

    @staticmethod
    def fold_compute(
        out_base: Any,
        in_base: Any,
        added: Any,
        removed: Any,
        added_in: Any,
        removed_in: Any,
        is_process: Any,
    ) -> tuple[Any, ...]:
        """The new base adjacency and its breadth-first graph; CPU only (run in a thread).
        Each direction is merged with its own sorted changes in linear time (re-sorting every
        edge by target for the upstream one was ~45 % of a fold at 3.9M edges)."""
        n = int(is_process.size)
        out = _csr_of(_merged(_base_keys(out_base), added, removed), n)
        inn = _csr_of(_merged(_base_keys(in_base), added_in, removed_in), n)
        bfs = traversal.bfs_graph(out, is_process)
        return out, inn, bfs, n, added, removed, out_base[1]

    def fold_finish(self, folded: tuple[Any, ...]) -> bool:
        """Swap a computed fold in, keeping the changes that came while it was computed: what
        walks see is the same before and after (the edges now present are those of the old
        base and changes, whether the fold holds them or the remaining changes). A fold of a
        base already replaced (by another fold) is dropped: False."""
        out, inn, bfs, n, added0, removed0, base0 = folded
        if self.out_base[1] is not base0:
            return False
        added, removed = self.added, self.removed
        rest_added = np.union1d(
            np.setdiff1d(added, added0, assume_unique=True),
            np.setdiff1d(removed0, removed, assume_unique=True),
        )
        rest_removed = np.union1d(
            np.setdiff1d(removed, removed0, assume_unique=True),
            np.setdiff1d(added0, added, assume_unique=True),
        )
        k = self.uids.size - n  # nodes told since the fold began: empty rows
        self.out_base, self.in_base = (_grow(out[0], k), out[1]), (_grow(inn[0], k), inn[1])
        self._set_delta(rest_added, rest_removed)
        self._bfs, self._bfs_nodes = bfs, n
        return True

    def fold(self) -> None:
        """Fold the changes into the base, here and now (what the engine does in a thread)."""
        self.fold_finish(self.fold_compute(*self.fold_start()))

    # -- ids ---------------------------------------------------------------------------------
    def number(self, node_id: uuid.UUID) -> int | None:
        """A node's number, or None when the index has never heard of it."""
        at = self.extra.get(node_id)
        if at is None and self.sorted_count:
            key = _v16(node_id)
            i = int(np.searchsorted(self.uids[: self.sorted_count], key)[0])
            if i < self.sorted_count and self.uids[i] == key[0]:
                at = i
        return at

    def id_of(self, i: int) -> uuid.UUID:
        return uuid.UUID(bytes=self.uids[i].tobytes())

    def texts(self, nodes: Any) -> list[str]:
        """The UUID text of each node number in ``nodes``."""
        return _text(self.uids[nodes].tobytes())

    # -- keeping current ---------------------------------------------------------------------
    def _node(self, node_id: uuid.UUID, kind: str | None) -> int | None:
        """A node's number; a node not known yet is added when its kind is known."""
        at = self.number(node_id)
        if at is None and kind in ("dataset", "process"):
            at = self.extra[node_id] = self.uids.size + len(self._new)
            self._new.append((node_id, kind == "process"))
        return at

    def _extend(self) -> None:
        """Grow the per-node arrays by the nodes added (CSR rows of them are empty)."""
        if not self._new:
            return
        k = len(self._new)
        added = np.frombuffer(b"".join(u.bytes for u, _ in self._new), dtype="V16")
        self.uids = np.concatenate([self.uids, added])
        procs = np.array([pr for _, pr in self._new], dtype=bool)
        self.is_process = np.concatenate([self.is_process, procs])
        self.org = np.concatenate([self.org, np.full(k, -1, dtype=np.int32)])
        self.visibility = np.concatenate([self.visibility, np.full(k, UNKNOWN, dtype=np.uint8)])
        self.platform = np.concatenate([self.platform, np.full(k, -1, dtype=np.int32)])
        self.has_people = np.concatenate([self.has_people, np.ones(k, dtype=bool)])
        self.people_stale = np.concatenate([self.people_stale, np.ones(k, dtype=bool)])
        self.people = (_grow(self.people[0], k), self.people[1])
        self.name_at = _grow(self.name_at, k)
        self._new = []
        self.out_base = (_grow(self.out_base[0], k), self.out_base[1])
        self.in_base = (_grow(self.in_base[0], k), self.in_base[1])

    @property
    def position(self) -> int:
        """The newest outbox event read (events in ``cursor.gaps`` below it may still come)."""
        return self.cursor.last_seq

    def catch_up(
        self,
        rows: Iterable[tuple[int, dict[str, Any] | None]],
        xmin: int,
        xmax: int,
        now: float,
        touched: dict[int, str] | None = None,
    ) -> int:
        """Apply what was read for ``cursor.unread()`` (seq, payload or None for other events)
        under a snapshot whose bounds are ``xmin``/``xmax``: the gap rule decides what is new
        (a duplicate is dropped); returns how many lineage events were applied. ``touched``:
        the node each other event is about (seq -> id); its org, visibility and platform
        become unknown (asked of PostgreSQL) until the next build."""
        rows = list(rows)
        fresh = set(self.cursor.advance([seq for seq, _ in rows], xmin, xmax, now))
        applied = self.apply(p for seq, p in rows if seq in fresh and p is not None)
        self._forget([node for seq, node in (touched or {}).items() if seq in fresh])
        return applied

    def _forget(self, node_ids: list[str]) -> None:
        """Attributes of these nodes are no longer known (new arrays: none edited in place)."""
        numbers = []
        for n in node_ids:
            with contextlib.suppress(ValueError):
                at = self.number(uuid.UUID(n))
                if at is not None:
                    numbers.append(at)
        if numbers:
            self.org, self.visibility = self.org.copy(), self.visibility.copy()
            self.platform, self.has_people = self.platform.copy(), self.has_people.copy()
            self.people_stale = self.people_stale.copy()
            self.org[numbers], self.visibility[numbers], self.platform[numbers] = -1, UNKNOWN, -1
            self.has_people[numbers] = self.people_stale[numbers] = True

    def apply(self, payloads: Iterable[dict[str, Any]]) -> int:
        """Apply ``lineage.changed`` payloads in order; idempotent (an edge is present or not,
        whatever the number of times it was told; the last word wins). Which events to apply
        is the cursor's business (``catch_up``). Returns how many were applied. The changes
        go over the base (``added``, ``removed``; new small arrays, none edited in place: a
        walk holding them stays whole), folded into it later."""
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
                a, b = self.number(uuid.UUID(s)), self.number(uuid.UUID(d))
                if a is not None and b is not None:
                    change[(a << 32) | b] = False
            for n in p.get("nodes_removed") or []:
                at = self.number(uuid.UUID(n))
                if at is not None:  # its edges go with it (the payload lists them too)
                    change.update(dict.fromkeys(self._edges_of(at), False))
                    for k in [k for k in change if k >> 32 == at or k & 0xFFFFFFFF == at]:
                        change[k] = False
            applied += 1
        self._extend()
        if change:
            self._change(change)
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
        at = self.number(start)
        if at is None:  # a node without any edge yet: the walk is the node alone
            return traversal.Traversal({str(start): 0})
        found, mask, truncated = traversal.hop_depths_csr(
            at,
            self.is_process,
            self.out_csr,
            self.in_csr,
            direction,  # type: ignore[arg-type]
            max_depth,
            max_nodes,
            key=lambda i: str(self.id_of(i)),
        )
        numbers = np.fromiter(found, np.int64, len(found))
        nodes = dict(zip(self.texts(numbers), found.values(), strict=True))
        src, dst = traversal.csr_steps(self.out_csr, numbers)
        inside = mask[dst]
        a, b = self.texts(src[inside]), self.texts(dst[inside])
        return traversal.Traversal(nodes, set(zip(a, b, strict=True)), truncated)

    def depths(self, start: uuid.UUID, start_kind: str, max_depth: int) -> tuple[Any, Any]:
        """Every node downstream of ``start`` within ``max_depth`` (uncut) as two arrays
        (node numbers, hop depths), ordered by depth then number; for exact impact.

        One breadth-first search in C (``traversal.hop_depths_bfs``) on the downstream graph
        with each same-kind edge split in two, where a node's hop depth follows from its
        plain distance. With changes over the base not folded yet, the level walk of
        ``traversal.walk_depths`` on the base and the changes (the same depths)."""
        at = self.number(start)
        if at is None:
            return _i64(), _i64()
        n = self.uids.size
        if self.delta_size:
            full = traversal.walk_depths(at, self.is_process, self.out_csr, max_depth)
        else:
            if self._bfs is None:
                self._bfs = traversal.bfs_graph(self.out_base, self.is_process)
                self._bfs_nodes = n
            # Nodes told since the search graph was made have no edge (no changes are held):
            # out of it, and a start among them reaches nothing.
            m = self._bfs_nodes
            if at < m:
                found = traversal.hop_depths_bfs(self._bfs, self.is_process[:m], at, max_depth)
                nodes, depth = found
            else:
                nodes, depth = np.array([at], dtype=np.int64), np.zeros(1, dtype=np.int64)
            # (depth, number) order without a comparison sort: numbers in order by a scan of a
            # node-sized array, then a stable sort of small integers (numpy's radix sort).
            full = np.full(n, -1, dtype=np.int16)
            full[nodes] = depth
        nodes = np.flatnonzero(full >= 0)
        depth = full[nodes]
        order = np.argsort(depth, kind="stable")
        return nodes[order], depth[order].astype(np.int64)

    def readable(self, nodes: Any, org_id: uuid.UUID | None, elevated: bool) -> tuple[Any, Any]:
        """(visible, undecided) masks over ``nodes`` for a caller of ``org_id`` (``elevated``:
        an admin or steward there), by ``catalog.readable``'s rule where bits decide it: a
        public dataset, an internal one of the caller's org, a private one of it for an admin
        or steward, a process of the caller's org. Undecided (PostgreSQL decides): any other
        private dataset (its owners may read it) and nodes whose attributes are not known."""
        org_no = self.orgs.index(org_id) if org_id in self.orgs else -2
        org, vis, proc = self.org[nodes], self.visibility[nodes], self.is_process[nodes]
        same = org == org_no
        unknown = (org < 0) | (~proc & (vis == UNKNOWN))
        public, internal, private = vis == VISIBILITY["public"], vis == 1, vis == 2
        dataset_ok = public | (internal & same) | (private & same & elevated)
        visible = np.where(proc, same, dataset_ok) & ~unknown
        undecided = unknown | (~proc & private & ~(same & elevated))
        return visible, undecided

    def nbytes(self) -> int:
        """Bytes held by the index: all of it is arrays, but the ids of nodes first told by an
        event since the build (a dict, counted roughly)."""
        arrays: list[Any] = [self.uids, self.is_process, self.org, self.visibility, self.platform]
        arrays += [self.has_people, self.people_stale, *self.people, self.users, self.name_at]
        arrays += [*self.out_base, *self.in_base, self.added, self.removed]
        arrays += [self._added_in, self._removed_in]
        held = sum(int(a.nbytes) for a in arrays)
        if self._bfs is not None:
            held += traversal.bfs_graph_nbytes(self._bfs, self.out_base)
        return held + len(self.names) + 200 * len(self.extra) + 100 * len(self.named)

    def people_of(self, nodes: Any) -> tuple[Any, Any, Any]:
        """The people the index knows of these datasets (``people_stale`` ones left out, to be
        asked of PostgreSQL), one entry per reason as three aligned arrays: the position in
        ``nodes`` of the dataset, the person number and the kind (0 owns, 1 follows)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        indptr, entries = self.people
        starts = indptr[nodes]
        counts = np.where(self.people_stale[nodes], 0, indptr[nodes + 1] - starts)
        total = int(counts.sum())
        if total == 0:
            return _i64(), _i64(), _i64()
        at = np.repeat(np.arange(nodes.size, dtype=np.int64), counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        coded = entries[np.repeat(starts, counts) + offsets].astype(np.int64)
        return at, coded >> 1, coded & 1

    def names_of(self, nodes: Any) -> list[str | None]:
        """The names of these datasets as of the build (None: not known, ask PostgreSQL)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        lo, hi = self.name_at[nodes].astype(np.int64), self.name_at[nodes + 1].astype(np.int64)
        known = ~self.people_stale[nodes] & (hi > lo)
        sizes = np.where(known, hi - lo, 0)
        # Every name's bytes gathered in C, each followed by a NUL (never in a PostgreSQL text),
        # then one decode and one split: no slice and decode per name.
        total = int(sizes.sum())
        out = np.zeros(total + nodes.size, dtype=np.uint8)
        offsets = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        to = np.repeat(np.cumsum(sizes + 1) - sizes - 1, sizes) + offsets
        out[to] = np.frombuffer(self.names, dtype=np.uint8)[np.repeat(lo, sizes) + offsets]
        texts = out.tobytes().decode().split("\0")
        return [t if k else None for t, k in zip(texts, known.tolist(), strict=False)]

    def user_texts(self, persons: Any) -> list[str]:
        """The user id text of each of these person numbers (users only)."""
        return _text(self.users[persons].tobytes())

    def user_number(self, user_id: str) -> int | None:
        """A user's person number, or None when no dataset had them at the build."""
        key = _v16(uuid.UUID(user_id))
        i = int(np.searchsorted(self.users, key)[0])
        return i if i < self.users.size and self.users[i] == key[0] else None


@dataclass(slots=True, frozen=True)
class Blast:
    """A blast radius on the index: node numbers and distances (ordered by distance, then id)
    and the index they number (held: a catch-up meanwhile makes new arrays, never edits)."""

    index: LineageIndex
    nodes: Any
    depths: Any


def _shapes(keys: Any, n: int) -> tuple[traversal.CSR, traversal.CSR]:
    """Both CSRs of edges given as sorted unique ``src << 32 | dst`` keys over ``n`` nodes:
    the downstream one is the keys in order; the upstream one a stable sort by target (the
    sources stay ascending within a target)."""
    out = _csr_of(keys, n)
    dst = out[1]
    order = np.argsort(dst, kind="stable")
    in_ptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(dst, minlength=n), out=in_ptr[1:])
    return out, (in_ptr, (keys >> 32)[order].astype(np.int32))


def _merged(keys: Any, added: Any, removed: Any) -> Any:
    """Sorted edge keys without ``removed`` and with ``added`` (both sorted, unique)."""
    if removed.size:
        at = np.minimum(np.searchsorted(removed, keys), removed.size - 1)
        keys = keys[removed[at] != keys]
    # Two sorted runs: a stable sort (timsort) merges them in linear time.
    return np.sort(np.concatenate([keys, added]), kind="stable")


def _csr_of(keys: Any, n: int) -> traversal.CSR:
    """A CSR of sorted ``row << 32 | column`` keys over ``n`` rows."""
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(keys >> 32, minlength=n), out=indptr[1:])
    return indptr, (keys & _LOW).astype(np.int32)


def _base_keys(out: traversal.CSR) -> Any:
    """The edges of a CSR as sorted ``src << 32 | dst`` keys."""
    indptr, indices = out
    src = np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))
    return (src << 32) | indices.astype(np.int64)


def _flipped(keys: Any) -> Any:
    """``src << 32 | dst`` keys as sorted ``dst << 32 | src`` keys."""
    return np.sort(((keys & _LOW) << 32) | (keys >> 32))


def _grow(indptr: Any, k: int) -> Any:
    return np.concatenate([indptr, np.full(k, indptr[-1], dtype=indptr.dtype)])


def _i64() -> Any:
    return np.zeros(0, dtype=np.int64)


class IndexEngine:
    """The graph engine over the index, with read-your-writes and a PostgreSQL fallback."""

    name = "index"

    fold_edges = 50_000
    """Changes held over the base past which a fold starts at once."""
    fold_delay = 1.0
    """Seconds a fold of fewer changes waits, so a burst of events is folded once."""
    retry_seconds = (5.0, 60.0)
    """After a failed build, the wait before the next one may start (doubling from the first
    to the second): a build reads the whole catalog, and walks asked meanwhile would otherwise
    start one each."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], max_lag: int = 10_000):
        self.sessionmaker = sessionmaker
        self.max_lag = max_lag
        self._folder: asyncio.Task[None] | None = None
        self._folding: asyncio.Future[tuple[Any, ...]] | None = None
        self._blasts: dict[tuple[uuid.UUID, int], tuple[tuple[Any, ...], Blast]] = {}
        self.index: LineageIndex | None = None
        self.build_seconds: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._woken = asyncio.Event()
        self.failed_builds = 0
        """Builds failed in a row (0 once one succeeds)."""
        self._retry_at = 0.0

    # -- lifecycle ---------------------------------------------------------------------------
    def start_build(self) -> asyncio.Task[None]:
        """Build (or rebuild) in the background; walks fall back to PostgreSQL meanwhile
        (or keep using the previous index, swapped out only when the new one is complete)."""
        waiting = self.failed_builds and time.monotonic() < self._retry_at
        if (self._task is None or self._task.done()) and not waiting:
            self._task = asyncio.create_task(self._build(), name="lineage-index-build")
        assert self._task is not None  # a wait follows a failed build's task
        return self._task

    async def _build(self) -> None:
        began = time.perf_counter()
        try:
            async with self.sessionmaker() as session:
                fresh = await LineageIndex.build(session)
                # Events committed while it streamed: applied before it is swapped in.
                await self._catch_up(fresh, session)
        except Exception:
            self.failed_builds += 1
            first, most = self.retry_seconds
            wait = min(most, first * 2 ** (self.failed_builds - 1))
            self._retry_at = time.monotonic() + wait
            log.exception(
                "the lineage index could not be built; PostgreSQL answers (next try in %.0f s)",
                wait,
            )
            return
        self.failed_builds = 0
        self.build_seconds = time.perf_counter() - began
        self.index = fresh
        self._fold_soon(fresh)
        log.info(
            "lineage index built: %d nodes, %d edges in %.2f s",
            fresh.node_count,
            fresh.edge_count,
            self.build_seconds,
        )

    async def _catch_up(self, index: LineageIndex, session: AsyncSession) -> int:
        xmin, xmax = await snapshot_bounds(session)  # before the read (see Position)
        rows, touched = await repo.unread_events(session, index.cursor)
        applied = index.catch_up(rows, xmin, xmax, time.time(), touched)
        self._fold_soon(index)
        return applied

    # -- folding: the changes over the base into a new base, off the event loop ---------------
    def _fold_soon(self, index: LineageIndex) -> None:
        if index.delta_size and (self._folder is None or self._folder.done()):
            self._folder = asyncio.create_task(self._fold(index), name="lineage-index-fold")

    async def _fold(self, index: LineageIndex) -> None:
        """Fold while there are changes (see ``fold_now``)."""
        while index.delta_size and self.index is index:
            if index.delta_size < self.fold_edges:
                await asyncio.sleep(self.fold_delay)
            try:
                await self.fold_now(index)
            except Exception:  # walks read the base and changes: still right, only slower
                log.exception("the lineage index could not fold its changes")
                return

    async def fold_now(self, index: LineageIndex) -> None:
        """Fold the changes held now: the arrays are made in a thread (numpy lets go of the GIL
        while it sorts) and swapped in at once in the event loop, so walks keep going on the
        base and changes meanwhile and always see one whole graph. One fold at a time: a
        caller while one runs waits for it."""
        running = self._folding
        if running is None or running.done():
            running = self._folding = asyncio.ensure_future(
                asyncio.to_thread(LineageIndex.fold_compute, *index.fold_start())
            )
            index.fold_finish(await asyncio.shield(running))
        else:
            with contextlib.suppress(Exception):
                await asyncio.shield(running)

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
        for task in (self._task, self._follower, self._folder):
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
        names = index.texts(nodes)
        rows = sorted(zip(depths.tolist(), names, strict=True))
        procs = index.is_process[nodes].tolist()
        kinds = {n: "process" if pr else "dataset" for n, pr in zip(names, procs, strict=True)}
        return rows, kinds

    async def blast(
        self, session: AsyncSession, start: uuid.UUID, start_kind: str, depth: int
    ) -> Blast | None:
        """Every node downstream of ``start`` within ``depth`` (never cut, the start left out)
        as arrays ordered by distance then id; None when the index cannot answer."""
        try:
            index = await self.current(session)
        except IndexNotReady:
            return None
        traversal.check_limits("downstream", depth, 1)
        # The same graph gives the same blast radius: paging through a hub's impact (or asking
        # it again before anything changed) walks once. The graph is the same while these
        # arrays are (they are replaced, never edited, on any change).
        graph = (index, index.out_base[1], index.added, index.removed, index.uids)
        cached = self._blasts.get((start, depth))
        if cached is not None and all(a is b for a, b in zip(cached[0], graph, strict=True)):
            return cached[1]
        if index.delta_size:
            # csgraph's search needs the changes folded: folding (in a thread) costs less than
            # the level walk over base and changes for a big blast radius (BENCHMARKS.md).
            with contextlib.suppress(Exception):  # else the level walk answers, as right
                await self.fold_now(index)
            graph = (index, index.out_base[1], index.added, index.removed, index.uids)
        nodes, depths = index.depths(start, start_kind, depth)
        keep = depths > 0
        nodes, depths = nodes[keep], depths[keep]
        if nodes.size and int(nodes.max()) >= index.sorted_count:
            # Nodes told by events since the build are numbered after the others: by id (the
            # text order of UUIDs is the order of their bytes, two big-endian words), in C.
            words = np.ascontiguousarray(index.uids[nodes]).view(">u8").reshape(-1, 2)
            order = np.lexsort((words[:, 1], words[:, 0], depths))
            nodes, depths = nodes[order], depths[order]
        blast = Blast(index, nodes, depths)
        if len(self._blasts) >= BLASTS_KEPT:
            self._blasts.pop(next(iter(self._blasts)))
        self._blasts[(start, depth)] = (graph, blast)
        return blast

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
