"""SQL for nodes and their check history."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.errors import Conflict
from datamesh.kit.ids import uuid7
from datamesh.kit.pagination import after as keyset_after
from datamesh.models.ingestion import ACTIVE_CRAWL, NodeCrawl
from datamesh.models.nodes import Node, NodeCheck

NAME_INDEX = "uq_nodes_org_name_lower"


@dataclass(frozen=True, slots=True)
class NodeFilters:
    type: str | None = None
    status: str | None = None
    tag: str | None = None
    q: str | None = None


def readable(stmt: Select[Any], org_id: uuid.UUID) -> Select[Any]:
    """Narrow a query on nodes to those the caller's organization owns."""
    return stmt.where(Node.org_id == org_id)


async def get(session: AsyncSession, org_id: uuid.UUID, node_id: uuid.UUID) -> Node | None:
    found: Node | None = await session.scalar(
        readable(select(Node), org_id).where(Node.id == node_id)
    )
    return found


async def lock(session: AsyncSession, node_id: uuid.UUID) -> Node | None:
    """The node's current row, locked until the end of the transaction."""
    found: Node | None = await session.scalar(
        select(Node)
        .where(Node.id == node_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found


async def name_taken(
    session: AsyncSession, org_id: uuid.UUID, name: str, exclude: uuid.UUID | None = None
) -> bool:
    stmt = select(Node.id).where(Node.org_id == org_id, func.lower(Node.name) == name.lower())
    if exclude is not None:
        stmt = stmt.where(Node.id != exclude)
    return (await session.scalar(stmt.limit(1))) is not None


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if NAME_INDEX in str(exc.orig):
            raise Conflict(f"A node named {name!r} already exists in this organization.") from None
        raise


async def add(session: AsyncSession, node: Node) -> Node:
    session.add(node)
    await _flush_unique(session, node.name)
    await session.refresh(node)
    return node


async def save(session: AsyncSession, node: Node) -> Node:
    await _flush_unique(session, node.name)
    await session.refresh(node)
    return node


async def delete_node(session: AsyncSession, node: Node) -> None:
    await session.delete(node)
    await session.flush()


_SORT_COLUMNS: dict[str, tuple[list[Any], bool]] = {
    "name": ([func.lower(Node.name), Node.id], False),
    "updated": ([Node.updated_at, Node.id], True),
    "status": ([Node.status, func.lower(Node.name), Node.id], False),
}


def sort_arity(sort: str) -> int:
    return len(_SORT_COLUMNS[sort][0])


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def page(
    session: AsyncSession,
    org_id: uuid.UUID,
    filters: NodeFilters,
    sort: str,
    after: Sequence[Any] | None,
    limit: int,
) -> list[Node]:
    columns, descending = _SORT_COLUMNS[sort]
    stmt = readable(select(Node), org_id)
    if filters.type:
        stmt = stmt.where(Node.type == filters.type)
    if filters.status:
        stmt = stmt.where(Node.status == filters.status)
    if filters.tag:
        stmt = stmt.where(Node.tags.contains([filters.tag.lower()]))
    if filters.q:
        pattern = _like(filters.q)
        tag_match = (
            select(literal_column("1"))
            .select_from(func.unnest(Node.tags).alias("tag"))
            .where(literal_column("tag").ilike(pattern, escape="\\"))
            .exists()
        )
        stmt = stmt.where(or_(Node.name.ilike(pattern, escape="\\"), tag_match))
    if after is not None:
        stmt = stmt.where(keyset_after(columns, after, descending=descending))
    order = [c.desc() for c in columns] if descending else columns
    return list(await session.scalars(stmt.order_by(*order).limit(limit + 1)))


async def set_health(
    session: AsyncSession,
    node_id: uuid.UUID,
    *,
    status: str,
    checked_at: datetime,
    latency_ms: float | None,
    message: str,
    next_check_at: datetime | None,
) -> None:
    """Record the latest check; a check is not an edit, so ``updated_at`` is kept."""
    await session.execute(
        update(Node)
        .where(Node.id == node_id)
        .values(
            status=status,
            last_checked_at=checked_at,
            last_latency_ms=latency_ms,
            last_message=message,
            next_check_at=next_check_at,
            updated_at=Node.updated_at,
        )
        .execution_options(synchronize_session=False)
    )


async def add_check(session: AsyncSession, check: NodeCheck, keep: int) -> None:
    """Append a check and drop all but the latest ``keep`` of that node."""
    session.add(check)
    await session.flush()
    newest = (
        select(NodeCheck.id)
        .where(NodeCheck.node_id == check.node_id)
        .order_by(NodeCheck.checked_at.desc(), NodeCheck.id.desc())
        .limit(keep)
    )
    await session.execute(
        delete(NodeCheck)
        .where(NodeCheck.node_id == check.node_id, NodeCheck.id.not_in(newest))
        .execution_options(synchronize_session=False)
    )


async def checks(session: AsyncSession, node_id: uuid.UUID, limit: int) -> list[NodeCheck]:
    return list(
        await session.scalars(
            select(NodeCheck)
            .where(NodeCheck.node_id == node_id)
            .order_by(NodeCheck.checked_at.desc(), NodeCheck.id.desc())
            .limit(limit)
        )
    )


async def claim_due(
    session: AsyncSession, limit: int, lease_seconds: int, exclude: Collection[uuid.UUID] = ()
) -> list[Node]:
    """Take up to ``limit`` nodes whose periodic check is due, skipping rows another process
    is claiming, and move their next check past a lease so no other process takes them while
    this one checks. The row locks last only until the caller's (short) transaction ends."""
    stmt = (
        select(Node)
        .where(
            Node.check_interval_seconds.is_not(None),
            or_(Node.next_check_at.is_(None), Node.next_check_at <= func.now()),
        )
        .order_by(Node.next_check_at.asc().nulls_first(), Node.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if exclude:
        stmt = stmt.where(Node.id.not_in(list(exclude)))
    nodes = list(await session.scalars(stmt))
    if nodes:
        lease = func.greatest(Node.check_interval_seconds, lease_seconds)
        await session.execute(
            update(Node)
            .where(Node.id.in_([n.id for n in nodes]))
            .values(
                next_check_at=func.now() + literal_column("interval '1 second'") * lease,
                updated_at=Node.updated_at,
            )
            .execution_options(synchronize_session=False)
        )
    return nodes


# -- crawls -------------------------------------------------------------------------------------
async def active_crawl(session: AsyncSession, node_id: uuid.UUID) -> NodeCrawl | None:
    found: NodeCrawl | None = await session.scalar(
        select(NodeCrawl).where(
            NodeCrawl.node_id == node_id, NodeCrawl.status.in_(list(ACTIVE_CRAWL))
        )
    )
    return found


async def queue_crawl(session: AsyncSession, row: dict[str, Any]) -> NodeCrawl | None:
    """Queue a crawl unless the node has one queued or running (then None)."""
    crawl_id = await session.scalar(
        insert(NodeCrawl)
        .values(**row)
        .on_conflict_do_nothing(
            index_elements=[NodeCrawl.node_id],
            index_where=NodeCrawl.status.in_(list(ACTIVE_CRAWL)),
        )
        .returning(NodeCrawl.id)
    )
    if crawl_id is None:
        return None
    return await session.get(NodeCrawl, crawl_id)


async def get_crawl(
    session: AsyncSession, node_id: uuid.UUID, crawl_id: uuid.UUID
) -> NodeCrawl | None:
    found: NodeCrawl | None = await session.scalar(
        select(NodeCrawl)
        .where(NodeCrawl.id == crawl_id, NodeCrawl.node_id == node_id)
        .execution_options(populate_existing=True)
    )
    return found


async def lock_crawl(session: AsyncSession, crawl_id: uuid.UUID) -> NodeCrawl | None:
    found: NodeCrawl | None = await session.scalar(
        select(NodeCrawl)
        .where(NodeCrawl.id == crawl_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found


async def crawls_page(
    session: AsyncSession, node_id: uuid.UUID, after: Sequence[Any] | None, limit: int
) -> list[NodeCrawl]:
    columns = [NodeCrawl.created_at, NodeCrawl.id]
    stmt = select(NodeCrawl).where(NodeCrawl.node_id == node_id)
    if after is not None:
        stmt = stmt.where(keyset_after(columns, after, descending=True))
    return list(await session.scalars(stmt.order_by(*(c.desc() for c in columns)).limit(limit + 1)))


async def latest_crawls(
    session: AsyncSession, node_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, NodeCrawl]:
    if not node_ids:
        return {}
    rows = await session.scalars(
        select(NodeCrawl)
        .where(NodeCrawl.node_id.in_(list(node_ids)))
        .distinct(NodeCrawl.node_id)
        .order_by(NodeCrawl.node_id, NodeCrawl.created_at.desc(), NodeCrawl.id.desc())
    )
    return {c.node_id: c for c in rows}


async def queue_due_crawls(session: AsyncSession, limit: int) -> int:
    """Queue a crawl for nodes whose scheduled crawl is due and move their next crawl on."""
    nodes = list(
        await session.scalars(
            select(Node)
            .where(
                Node.crawl_interval_minutes.is_not(None),
                or_(Node.next_crawl_at.is_(None), Node.next_crawl_at <= func.now()),
            )
            .order_by(Node.next_crawl_at.asc().nulls_first(), Node.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    queued = 0
    for node in nodes:
        row = {
            "id": uuid7(),
            "node_id": node.id,
            "org_id": node.org_id,
            "status": "queued",
            "trigger": "schedule",
            "requested_by_name": "schedule",
            "attempts": 0,
            "counts": {},
            "errors": [],
            "progress": {},
        }
        if await queue_crawl(session, row) is not None:
            queued += 1
        await session.execute(
            update(Node)
            .where(Node.id == node.id)
            .values(
                next_crawl_at=func.now()
                + literal_column("interval '1 minute'") * Node.crawl_interval_minutes,
                updated_at=Node.updated_at,
            )
            .execution_options(synchronize_session=False)
        )
    return queued


async def claim_crawls(
    session: AsyncSession, limit: int, lease_seconds: int, exclude: Collection[uuid.UUID] = ()
) -> list[NodeCrawl]:
    """Take queued crawls, and running ones whose worker's lease ran out (it died): each gets
    a new lease and attempt number; other workers skip the rows being claimed."""
    stmt = (
        select(NodeCrawl)
        .where(
            or_(
                NodeCrawl.status == "queued",
                and_(NodeCrawl.status == "running", NodeCrawl.lease_until < func.now()),
            )
        )
        .order_by(NodeCrawl.created_at, NodeCrawl.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if exclude:
        stmt = stmt.where(NodeCrawl.id.not_in(list(exclude)))
    crawls = list(await session.scalars(stmt))
    for crawl in crawls:
        await session.execute(
            update(NodeCrawl)
            .where(NodeCrawl.id == crawl.id)
            .values(
                status="running",
                attempts=NodeCrawl.attempts + 1,
                started_at=func.coalesce(NodeCrawl.started_at, func.now()),
                lease_until=func.now() + literal_column("interval '1 second'") * lease_seconds,
            )
            .execution_options(synchronize_session=False)
        )
    for crawl in crawls:
        await session.refresh(crawl)
    return crawls


async def renew_crawl(
    session: AsyncSession,
    crawl_id: uuid.UUID,
    attempt: int,
    lease_seconds: int,
    progress: dict[str, Any],
) -> bool:
    """Extend the lease and record progress, if this attempt still holds the crawl."""
    result = await session.execute(
        update(NodeCrawl)
        .where(
            NodeCrawl.id == crawl_id,
            NodeCrawl.status == "running",
            NodeCrawl.attempts == attempt,
        )
        .values(
            lease_until=func.now() + literal_column("interval '1 second'") * lease_seconds,
            progress=progress,
        )
        .returning(NodeCrawl.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None
