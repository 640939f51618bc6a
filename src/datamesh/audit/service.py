"""Recording audit entries in the caller's transaction, and verifying the hash chain."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from datamesh.audit import repository as repo
from datamesh.kit.context import Actor, current_request, current_trace_id
from datamesh.kit.ids import uuid7
from datamesh.kit.refs import Ref
from datamesh.models.audit import AuditEntry

SECRET_MARK = "[changed]"
PENDING_ENTRIES = "datamesh.audit.pending"


def diff(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    secret_fields: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """Before/after of the fields that changed; secret fields only say that they changed."""
    before, after = before or {}, after or {}
    secret = set(secret_fields)
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if key in secret:
            out[key] = {"before": None, "after": SECRET_MARK}
        else:
            out[key] = {"before": _jsonable(b), "after": _jsonable(a)}
    return out


def _jsonable(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=str))


@dataclass(slots=True)
class PendingEntry:
    """An entry recorded in this transaction, chained and inserted at commit (a plain object,
    not an ORM instance: a first crawl records thousands). ``prev_hash``/``hash`` are set then."""

    id: UUID
    at: datetime
    actor_kind: str
    actor_id: UUID | None
    actor_name: str
    action: str
    target_kind: str
    target_id: str | None
    target_name: str | None
    org_id: UUID | None
    request_id: str | None
    trace_id: str | None
    client: str | None
    user_agent: str | None
    changes: dict[str, Any]
    details: dict[str, Any]
    prev_hash: str = ""
    hash: str = ""


def _canonical(entry: AuditEntry | PendingEntry) -> bytes:
    at = entry.at.astimezone(UTC).isoformat(timespec="microseconds")
    doc = [
        str(entry.id),
        at,
        entry.actor_kind,
        str(entry.actor_id) if entry.actor_id else None,
        entry.actor_name,
        entry.action,
        entry.target_kind,
        entry.target_id,
        entry.target_name,
        str(entry.org_id) if entry.org_id else None,
        entry.request_id,
        entry.trace_id,
        str(entry.client) if entry.client else None,
        entry.changes,
        entry.details,
    ]
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def compute_hash(prev_hash: str, entry: AuditEntry | PendingEntry) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(entry)).hexdigest()


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    target: Ref,
    changes: Mapping[str, Any] | None = None,
    *,
    org_id: UUID | None = None,
    details: Mapping[str, Any] | None = None,
) -> PendingEntry:
    """Append one entry to the audit log in the caller's transaction.

    The entry joins the hash chain at commit (see ``_chain_before_commit``): the chain's lock is
    held only from then to the commit, not for the rest of the request, so writers overlap.
    """
    return (await record_many(session, actor, [(action, target, changes, details)], org_id=org_id))[
        0
    ]


async def record_many(
    session: AsyncSession,
    actor: Actor,
    items: Iterable[tuple[str, Ref, Mapping[str, Any] | None, Mapping[str, Any] | None]],
    *,
    org_id: UUID | None = None,
) -> list[PendingEntry]:
    """Append many entries of one actor, in order: ``(action, target, changes, details)`` each.

    The bulk path (a first crawl, a dbt import): the same entries :func:`record` writes one at a
    time, chained at commit in one pass and inserted in one statement with the rest."""
    ctx = current_request()
    trace_id = current_trace_id()
    user_agent = (ctx.user_agent or "")[:512] or None
    entries = [
        PendingEntry(
            id=uuid7(),
            at=datetime.now(UTC),
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            action=action,
            target_kind=target.kind,
            target_id=target.id,
            target_name=target.name,
            org_id=org_id if org_id is not None else actor.org_id,
            request_id=ctx.request_id,
            trace_id=trace_id,
            client=ctx.client,
            user_agent=user_agent,
            changes=_jsonable(dict(changes or {})),
            details=_jsonable(dict(details or {})),
        )
        for action, target, changes, details in items
    ]
    session.sync_session.info.setdefault(PENDING_ENTRIES, []).extend(entries)
    return entries


_COLUMNS = [c.key for c in AuditEntry.__table__.columns if c.key != "seq"]


@event.listens_for(Session, "before_commit")
def _chain_before_commit(session: Session) -> None:
    """Link the transaction's pending entries to the chain, under the chain's lock.

    The lock is taken here, just before the commit flushes, and released by the commit, so the
    chain order is the commit order and ``seq`` follows it.
    """
    pending: list[PendingEntry] = session.info.pop(PENDING_ENTRIES, [])
    if not pending:
        return
    session.flush()  # the transaction's own writes first: under the lock only the chain is written
    session.execute(repo.LOCK_CHAIN)
    prev = session.scalar(repo.LAST_HASH) or repo.GENESIS
    for entry in pending:
        entry.prev_hash = prev
        entry.hash = prev = compute_hash(prev, entry)
    # One multi-row statement for the lot (not the ORM's unit of work: a first crawl chains
    # thousands). The entries stay plain objects carrying what was written (id, hashes).
    session.execute(insert(AuditEntry), [{k: getattr(e, k) for k in _COLUMNS} for e in pending])


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(PENDING_ENTRIES, None)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    first_bad_id: str | None = None
    reason: str | None = None


async def verify(session: AsyncSession, since_seq: int | None = None) -> VerifyResult:
    """Recompute the chain; name the first entry that was altered, removed or reordered."""
    prev = await repo.hash_before(session, since_seq + 1) if since_seq else repo.GENESIS
    checked = 0
    async for entry in repo.stream_in_order(session, since_seq):
        checked += 1
        if entry.prev_hash != prev:
            return VerifyResult(
                False,
                checked,
                entry.seq,
                str(entry.id),
                "its link to the previous entry is broken (an entry before it was removed, "
                "inserted or reordered)",
            )
        if compute_hash(prev, entry) != entry.hash:
            return VerifyResult(
                False, checked, entry.seq, str(entry.id), "its content does not match its hash"
            )
        prev = entry.hash
    return VerifyResult(True, checked)


def item(entry: AuditEntry) -> dict[str, Any]:
    """One entry as the API and the exports show it."""
    return {
        "id": entry.id,
        "seq": entry.seq,
        "at": entry.at,
        "actor": {"id": entry.actor_id, "name": entry.actor_name, "kind": entry.actor_kind},
        "action": entry.action,
        "target": {"kind": entry.target_kind, "id": entry.target_id, "name": entry.target_name},
        "org_id": entry.org_id,
        "request_id": entry.request_id,
        "trace_id": entry.trace_id,
        "client": str(entry.client) if entry.client else None,
        "user_agent": entry.user_agent,
        "changes": entry.changes or {},
        "details": entry.details or {},
        "hash": entry.hash,
    }


async def search(
    session: AsyncSession, q: repo.AuditQuery, limit: int, before_seq: int | None
) -> tuple[list[AuditEntry], int | None]:
    rows = await repo.page(session, q, limit + 1, before_seq)
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].seq
    return rows, None


async def stream(
    sessionmaker: async_sessionmaker[AsyncSession], q: repo.AuditQuery, batch: int = 1000
) -> AsyncIterator[AuditEntry]:
    """Every matching entry, newest first, a batch at a time (exports never load it all)."""
    before: int | None = None
    async with sessionmaker() as session:
        while True:
            rows = await repo.page(session, q, batch, before)
            for row in rows:
                yield row
            if len(rows) < batch:
                return
            before = rows[-1].seq
            session.expunge_all()
