"""Reading the events outbox as a consumer: a stored position, batches in order, no event
missed when transactions commit out of order, and one process at a time per consumer.

Sequence numbers are taken at insert, not at commit: an event numbered 10 can commit after one
numbered 11 was read. A plain "last seq" would skip it for ever. So a position is the last
number read plus the *gaps* below it: numbers not visible when they were passed. A gap is read
when its transaction commits; it is forgotten once every transaction that was running when it
was seen has ended (the snapshot's xmin has passed that moment's xmax) and it has been absent
for a few seconds more: it was rolled back, or never used.

``consume`` runs in the caller's transaction, under a transaction-level advisory lock named
after the consumer; the caller's handler writes its results in the same transaction as the new
position, so applying a batch and moving past it commit together (or neither does).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field

import orjson
from sqlalchemy import ColumnElement, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.models.events import Event

Handler = Callable[[AsyncSession, list[Event]], Awaitable[None]]
GAP_GRACE_SECONDS = 5.0
MAX_GAPS = 10_000


@dataclass
class Position:
    """A consumer's place in the outbox: the last number read and the gaps below it.

    The one implementation of the gap rule, pure (no I/O): ``consume`` keeps one in the
    database for each DB consumer, the lineage index keeps one in memory. A reader asks for
    ``seq > last_seq`` or ``seq`` in ``gaps`` (see ``unread``), reads ``snapshot_bounds`` first,
    and hands what it read to ``advance``."""

    last_seq: int
    gaps: dict[int, tuple[int, float]] = field(default_factory=dict)
    """seq -> (xid horizon: the snapshot's xmax when the gap was seen, first seen)."""

    def advance(self, seqs: Iterable[int], xmin: int, xmax: int, now: float) -> list[int]:
        """Move past ``seqs`` (read in ascending order under a snapshot taken after the one
        whose ``xmin``/``xmax`` are given) and return those not handled before, in order: a
        number above ``last_seq`` or filling a gap. A number already passed and not a gap is
        a duplicate and is dropped. Numbers skipped become gaps; a gap is forgotten once no
        transaction that was running when it was seen can still fill it (``xmin`` has passed
        its horizon) and it has been absent ``GAP_GRACE_SECONDS`` more (rolled back)."""
        fresh: list[int] = []
        expected = self.last_seq + 1
        for seq in seqs:
            if seq in self.gaps:
                del self.gaps[seq]
                fresh.append(seq)
                continue
            if seq < expected:
                continue  # read twice (an overlap, a replay): handled already
            for missing in range(expected, seq):
                if len(self.gaps) < MAX_GAPS:
                    self.gaps[missing] = (xmax, now)
            expected = seq + 1
            self.last_seq = seq
            fresh.append(seq)
        self.gaps = {
            s: (h, t)
            for s, (h, t) in self.gaps.items()
            if not (h <= xmin and now - t > GAP_GRACE_SECONDS)
        }
        return fresh

    def unread(self) -> ColumnElement[bool]:
        """The events this position has not read: after it, or in a gap."""
        cond: ColumnElement[bool] = Event.seq > self.last_seq
        if self.gaps:
            cond = or_(cond, Event.seq.in_(list(self.gaps)))
        return cond


async def snapshot_bounds(session: AsyncSession) -> tuple[int, int]:
    """(xmin, xmax) of the current snapshot, read before the events (see ``Position``)."""
    snap = (
        await session.execute(
            text(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint,"
                " pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
            )
        )
    ).one()
    return int(snap[0]), int(snap[1])


async def lock(session: AsyncSession, name: str) -> bool:
    """This consumer's lock for the transaction (False when another process holds it)."""
    got = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), {"key": f"outbox:{name}"}
    )
    return bool(got)


async def head(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Event.seq), 0))) or 0)


# Text, so SQLAlchemy caches them: the dialect's INSERT ... ON CONFLICT it never caches was
# compiled again on every wake of every consumer (issue 21).
_POSITION_AND_BOUNDS = text(
    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint,"
    " pg_snapshot_xmax(pg_current_snapshot())::text::bigint, p.last_seq, p.gaps::text"
    " FROM (SELECT 1) AS one LEFT JOIN outbox_positions p ON p.name = :name"
)
_SAVE = text(
    "INSERT INTO outbox_positions (name, last_seq, gaps) VALUES (:name, :last_seq,"
    " CAST(:gaps AS jsonb)) ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq,"
    " gaps = excluded.gaps, updated_at = now()"
)


async def position_and_bounds(
    session: AsyncSession, name: str
) -> tuple[Position | None, tuple[int, int]]:
    """This consumer's stored position (None the first time) and ``snapshot_bounds``, in one
    round trip: the bounds come from the same snapshot as the position, taken before the
    events are read (as ``Position`` asks)."""
    row = (await session.execute(_POSITION_AND_BOUNDS, {"name": name})).one()
    bounds = (int(row[0]), int(row[1]))
    if row[2] is None:
        return None, bounds
    gaps = {int(g[0]): (int(g[1]), float(g[2])) for g in orjson.loads(row[3] or "[]")}
    return Position(int(row[2]), gaps), bounds


async def save(session: AsyncSession, name: str, pos: Position) -> None:
    gaps = [[s, h, t] for s, (h, t) in sorted(pos.gaps.items())]
    await session.execute(
        _SAVE, {"name": name, "last_seq": pos.last_seq, "gaps": orjson.dumps(gaps).decode()}
    )


async def consume(
    session: AsyncSession,
    name: str,
    handle: Handler,
    *,
    types: Collection[str] | None = None,
    batch: int = 1000,
) -> int:
    """Hand the events after this consumer's position to ``handle`` (in seq order, those of
    ``types`` only) and move the position past them; returns how many events were read.

    A consumer seen for the first time starts at the head: it does not act on history. Returns
    0 without reading when another process is consuming under the same name.
    """
    if not await lock(session, name):
        return 0
    pos, (xmin, xmax) = await position_and_bounds(session, name)
    if pos is None:
        await save(session, name, Position(await head(session), {}))
        return 0
    before = (pos.last_seq, dict(pos.gaps))
    query = select(Event).where(pos.unread()).order_by(Event.seq).limit(batch)
    rows = list(await session.scalars(query))
    fresh = set(pos.advance([e.seq for e in rows], xmin, xmax, time.time()))
    rows = [e for e in rows if e.seq in fresh]
    wanted = [e for e in rows if types is None or e.type in types]
    if wanted:
        await handle(session, wanted)
    if (pos.last_seq, pos.gaps) != before:  # an idle wake writes nothing
        await save(session, name, pos)
    return len(rows)
