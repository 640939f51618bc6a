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
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from sqlalchemy import func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.models.events import Event, OutboxPosition

Handler = Callable[[AsyncSession, list[Event]], Awaitable[None]]
GAP_GRACE_SECONDS = 5.0
MAX_GAPS = 10_000


@dataclass
class Position:
    last_seq: int
    gaps: dict[int, tuple[int, float]]  # seq -> (xid horizon, first seen)


async def lock(session: AsyncSession, name: str) -> bool:
    """This consumer's lock for the transaction (False when another process holds it)."""
    got = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), {"key": f"outbox:{name}"}
    )
    return bool(got)


async def head(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Event.seq), 0))) or 0)


async def position(session: AsyncSession, name: str) -> Position | None:
    row = await session.get(OutboxPosition, name, populate_existing=True)
    if row is None:
        return None
    gaps = {int(g[0]): (int(g[1]), float(g[2])) for g in row.gaps or []}
    return Position(int(row.last_seq), gaps)


async def save(session: AsyncSession, name: str, pos: Position) -> None:
    gaps = [[s, h, t] for s, (h, t) in sorted(pos.gaps.items())]
    await session.execute(
        insert(OutboxPosition)
        .values(name=name, last_seq=pos.last_seq, gaps=gaps)
        .on_conflict_do_update(
            index_elements=[OutboxPosition.name],
            set_={"last_seq": pos.last_seq, "gaps": gaps, "updated_at": func.now()},
        )
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
    pos = await position(session, name)
    if pos is None:
        await save(session, name, Position(await head(session), {}))
        return 0
    snap = (
        await session.execute(
            text(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint,"
                " pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
            )
        )
    ).one()
    xmin, xmax = int(snap[0]), int(snap[1])
    cond = Event.seq > pos.last_seq
    if pos.gaps:
        cond = or_(cond, Event.seq.in_(list(pos.gaps)))
    rows = list(await session.scalars(select(Event).where(cond).order_by(Event.seq).limit(batch)))
    now = time.time()
    expected = pos.last_seq + 1
    for e in rows:
        if e.seq in pos.gaps:
            del pos.gaps[e.seq]
            continue
        for missing in range(expected, e.seq):
            if len(pos.gaps) < MAX_GAPS:
                pos.gaps[missing] = (xmax, now)
        expected = e.seq + 1
        pos.last_seq = e.seq
    # Gaps no running transaction can fill any more: rolled back (or never used).
    pos.gaps = {
        s: (h, t)
        for s, (h, t) in pos.gaps.items()
        if not (h <= xmin and now - t > GAP_GRACE_SECONDS)
    }
    wanted = [e for e in rows if types is None or e.type in types]
    if wanted:
        await handle(session, wanted)
    await save(session, name, pos)
    return len(rows)
