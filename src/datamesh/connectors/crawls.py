"""Crawls: a node's tables, views and columns become datasets, with the lineage their SQL implies.

Admins and stewards of a node's org queue a crawl (``POST /api/nodes/{id}/crawl``); the schedule
queues one every ``crawl_interval_minutes``. A crawl runs outside any request, in a worker that
leases it (:mod:`datamesh.connectors.crawl_worker`): one crawl at a time per node (a unique index
on the node's queued/running crawl), renewed while it runs, taken over when a worker dies.

A crawl reads the source with no database transaction open, then writes everything it learned
in ONE transaction through the catalog and lineage services (the same dataset rows OpenLineage
and dbt use, each write with its audit entry and event): nothing half-written, and a crawl that
failed or was cut short (``partial``) never marks anything removed. Secrets are resolved at use
and scrubbed from every message a crawl records.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.connectors import registry, service
from datamesh.connectors import repository as repo
from datamesh.connectors.registry import CrawledObject, CrawlRefused, CrawlResult
from datamesh.connectors.service import Runtime
from datamesh.connectors.testers import describe_error
from datamesh.db import session_scope
from datamesh.errors import Conflict, Forbidden, NotFound
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.ids import uuid7
from datamesh.kit.pagination import decode_cursor, split_page
from datamesh.kit.refs import Ref
from datamesh.lineage import ingest as lineage_ingest
from datamesh.lineage import service as lineage
from datamesh.lineage import sql as sql_lineage
from datamesh.models.ingestion import NodeCrawl
from datamesh.models.nodes import Node
from datamesh.secrets.resolver import SecretResolutionError
from datamesh.secrets.scrub import scrub

log = logging.getLogger(__name__)

CRAWLER = Actor.system("crawler")
CRAWLERS = ("admin", "steward")
MAX_ATTEMPTS = 3
MAX_ERRORS = 200
OBSERVE_CHUNK = 2000  # datasets per catalog call (bounded statement parameters)
PLATFORMS = {"postgres": "postgresql", "redshift": "redshift"}
_UNRESOLVED = uuid.UUID(int=0)  # an observation's dataset id until its name is resolved
YOUNG_THRESHOLD = 50_000  # allocations between young collections while a crawl runs


# -- requests -----------------------------------------------------------------------------------
async def request_crawl(session: AsyncSession, actor: Principal, node_id: uuid.UUID) -> NodeCrawl:
    """Queue a crawl of a node (admins and stewards of its org); if one is queued or running
    already, that one is returned (a node is crawled once at a time)."""
    node = await service.get_node(session, actor, node_id)
    if not (actor.role in CRAWLERS or actor.is_platform_admin):
        raise Forbidden("Only admins and stewards of the organization may crawl a node.")
    try:
        ctype = registry.get(node.type)
    except registry.UnknownConnector:
        raise Conflict(f"The connector type {node.type} is not installed on this server.") from None
    if ctype.crawler is None:
        raise Conflict(f"{ctype.title} nodes cannot be crawled.")
    crawl = await repo.queue_crawl(
        session,
        {
            "id": uuid7(),
            "node_id": node.id,
            "org_id": node.org_id,
            "status": "queued",
            "trigger": "manual",
            "requested_by": actor.user_id,
            "requested_by_name": actor.email or actor.name,
            "attempts": 0,
            "counts": {},
            "errors": [],
            "progress": {},
        },
    )
    if crawl is None:
        active = await repo.active_crawl(session, node.id)
        if active is not None:
            return active
        raise Conflict("A crawl of this node just finished; try again.")
    await audit.record(
        session,
        actor.actor(),
        "node.crawl_request",
        Ref("node", str(node.id), node.name),
        org_id=node.org_id,
        details={"crawl_id": str(crawl.id)},
    )
    return crawl


async def list_crawls(
    session: AsyncSession, actor: Principal, node_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[NodeCrawl], str | None]:
    await service.get_node(session, actor, node_id)
    rows = await repo.crawls_page(session, node_id, decode_cursor(cursor, 2), limit)
    return split_page(rows, limit, lambda c: [c.created_at.isoformat(), str(c.id)])


async def get_crawl(
    session: AsyncSession, actor: Principal, node_id: uuid.UUID, crawl_id: uuid.UUID
) -> NodeCrawl:
    await service.get_node(session, actor, node_id)
    crawl = await repo.get_crawl(session, node_id, crawl_id)
    if crawl is None:
        raise NotFound("No such crawl.")
    return crawl


async def latest_crawls(
    session: AsyncSession, node_ids: list[uuid.UUID]
) -> dict[uuid.UUID, NodeCrawl]:
    return await repo.latest_crawls(session, node_ids)


# -- the worker's side --------------------------------------------------------------------------
async def queue_due(session: AsyncSession, limit: int) -> int:
    return await repo.queue_due_crawls(session, limit)


async def claim(
    session: AsyncSession, limit: int, lease_seconds: int, exclude: list[uuid.UUID]
) -> list[tuple[uuid.UUID, int]]:
    """(crawl id, attempt) of crawls this worker now holds."""
    if limit <= 0:
        return []
    return [
        (c.id, c.attempts) for c in await repo.claim_crawls(session, limit, lease_seconds, exclude)
    ]


async def renew(
    session: AsyncSession, crawl_id: uuid.UUID, attempt: int, lease: int, progress: dict[str, Any]
) -> bool:
    return await repo.renew_crawl(session, crawl_id, attempt, lease, progress)


@dataclass(slots=True)
class _Job:
    crawl_id: uuid.UUID
    attempt: int
    node: service.NodeTarget
    trigger: str
    requested_by: uuid.UUID | None
    requested_by_name: str
    progress: dict[str, Any] = field(default_factory=dict)


def _actor(job: _Job) -> Actor:
    if job.requested_by is not None:
        return Actor(
            kind="user", id=job.requested_by, name=job.requested_by_name, org_id=job.node.org_id
        )
    return CRAWLER


def _principal(job: _Job) -> Principal:
    """Who the crawl names datasets as: the requester, or the node's org for the schedule."""
    return Principal(
        kind="user" if job.requested_by else "api_key",
        id=job.requested_by or job.node.id,
        name=job.requested_by_name or f"crawler:{job.node.name}",
        org_id=job.node.org_id,
        role="steward",
        user_id=job.requested_by,
    )


def _clip(errors: list[dict[str, str]], secrets: list[str]) -> list[dict[str, str]]:
    out = [{k: scrub(str(v), secrets)[:2000] for k, v in e.items()} for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        out.append({"object": "", "kind": "more", "message": f"{len(errors) - MAX_ERRORS} more"})
    return out


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    runtime: Runtime,
    crawl_id: uuid.UUID,
    attempt: int,
    *,
    lease_seconds: int,
) -> str | None:
    """Run a claimed crawl to its end; returns its final status (None if it was lost)."""
    async with session_scope(sessionmaker) as session:
        crawl = await repo.lock_crawl(session, crawl_id)
        node = await session.get(Node, crawl.node_id) if crawl is not None else None
        if crawl is None or node is None or crawl.attempts != attempt:
            return None
        job = _Job(
            crawl_id,
            attempt,
            service.target_of(node),
            crawl.trigger,
            crawl.requested_by,
            crawl.requested_by_name,
        )
    if attempt > MAX_ATTEMPTS:
        return await _finish_failed(
            sessionmaker, job, f"the crawl was interrupted {attempt - 1} times; giving up", []
        )
    beat = asyncio.create_task(_heartbeat(sessionmaker, job, lease_seconds))
    try:
        with _older_objects_frozen():
            return await _run(sessionmaker, runtime, job)
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Keep the collector's full passes to what the crawl allocates.

    A crawl keeps ~10 objects per column alive until it commits (60,000 columns: ~700,000), so
    full collections run several times during it, each over the whole process (the app's own
    long-lived objects too): a third of a first crawl at 0.3 of the bench. ``gc.freeze`` sets what
    exists now aside for the crawl's duration (nothing is freed here; a cycle that was already
    garbage waits until the end), ``gc.unfreeze`` hands it back to the collector. The young
    generation's threshold is raised meanwhile (``YOUNG_THRESHOLD``, was 700): the crawl's own
    objects then meet a full pass about once instead of six times (0.43 s -> 0.26 s of
    collections in a first crawl at 0.3). Both are process-wide, and both are put back: a
    freeze that was there before (``datamesh serve``'s, after start-up) is made again after
    one full pass, so the crawl's garbage is not frozen with it."""
    frozen_before = gc.get_freeze_count() > 0
    gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], YOUNG_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
        if frozen_before:
            gc.collect()
            gc.freeze()


async def _heartbeat(
    sessionmaker: async_sessionmaker[AsyncSession], job: _Job, lease_seconds: int
) -> None:
    while True:
        await asyncio.sleep(max(lease_seconds / 3, 0.2))
        try:
            async with session_scope(sessionmaker) as session:
                await renew(session, job.crawl_id, job.attempt, lease_seconds, dict(job.progress))
        except Exception as exc:  # the next beat tries again; the lease has slack
            log.warning("crawl %s: lease renewal failed: %s", job.crawl_id, type(exc).__name__)


async def _run(
    sessionmaker: async_sessionmaker[AsyncSession], runtime: Runtime, job: _Job
) -> str | None:
    target = job.node
    try:
        ctype = registry.get(target.type)
    except registry.UnknownConnector:
        return await _finish_failed(
            sessionmaker, job, f"the connector type {target.type} is not installed", []
        )
    if ctype.crawler is None:
        return await _finish_failed(sessionmaker, job, f"{ctype.title} nodes cannot be crawled", [])
    try:
        values = await service.resolve_secrets(runtime, target.secrets)
    except SecretResolutionError as exc:
        return await _finish_failed(sessionmaker, job, f"secret {exc.message}", [])
    secrets = [v for v in values.values() if isinstance(v, str)]
    config = registry.apply_defaults(ctype, target.config)

    async def progress(step: str, done: int, total: int) -> None:
        job.progress.update({"step": step, "done": done, "total": total})

    timeout = runtime.crawl_timeout
    where = f"{config.get('host')}:{config.get('port')}"
    try:
        result = await ctype.crawler(config, values, timeout, runtime.policy, progress)
    except CrawlRefused as exc:
        return await _finish_failed(sessionmaker, job, scrub(str(exc), secrets), [])
    except asyncpg.PostgresError as exc:
        reason = str(exc).strip() or type(exc).__name__
        return await _finish_failed(sessionmaker, job, scrub(reason, secrets), [])
    except Exception as exc:
        reason = describe_error(exc, target=where, timeout=timeout)
        return await _finish_failed(sessionmaker, job, scrub(reason, secrets), [])
    job.progress.update(
        {"step": "saving", "done": len(result.objects), "total": len(result.objects)}
    )
    try:
        async with session_scope(sessionmaker) as session:
            crawl = await repo.lock_crawl(session, job.crawl_id)
            if crawl is None or crawl.status != "running" or crawl.attempts != job.attempt:
                return None  # taken over by another worker (this one's lease ran out)
            counts, errors = await apply(session, _actor(job), _principal(job), job, result)
            status = "succeeded" if result.complete else "partial"
            await _close(session, crawl, job, status, counts, _clip(errors, secrets))
            return status
    except Exception as exc:
        log.warning("crawl %s could not be saved", job.crawl_id, exc_info=True)
        reason = f"the crawl could not be saved ({type(exc).__name__}); nothing was changed"
        return await _finish_failed(
            sessionmaker, job, reason, _clip(result.errors, secrets), scrub_with=secrets
        )


async def _finish_failed(
    sessionmaker: async_sessionmaker[AsyncSession],
    job: _Job,
    message: str,
    errors: list[dict[str, str]],
    scrub_with: list[str] | None = None,
) -> str | None:
    message = scrub(message, scrub_with or [])[:2000]
    async with session_scope(sessionmaker) as session:
        crawl = await repo.lock_crawl(session, job.crawl_id)
        if crawl is None or crawl.status != "running" or crawl.attempts != job.attempt:
            return None
        all_errors = [{"object": job.node.name, "kind": "failed", "message": message}, *errors]
        await _close(session, crawl, job, "failed", {}, all_errors)
    return "failed"


async def _close(
    session: AsyncSession,
    crawl: NodeCrawl,
    job: _Job,
    status: str,
    counts: dict[str, int],
    errors: list[dict[str, str]],
) -> None:
    crawl.status = status
    crawl.finished_at = datetime.now(UTC)
    crawl.lease_until = None
    crawl.counts = {k: counts.get(k, 0) for k in ("created", "updated", "unchanged", "removed")}
    crawl.errors = errors
    crawl.progress = {**job.progress, "step": "done"}
    await session.flush()
    changed = any(crawl.counts[k] for k in ("created", "updated", "removed"))
    if changed or status != "succeeded":
        ref = Ref("node", str(job.node.id), job.node.name)
        payload = {
            "crawl_id": str(crawl.id),
            "status": status,
            "counts": crawl.counts,
            "errors": len(errors),
            "trigger": job.trigger,
        }
        await audit.record(
            session, _actor(job), "node.crawl", ref, org_id=job.node.org_id, details=payload
        )
        await events.emit(
            session, "node.crawled", _actor(job), ref, payload, org_id=job.node.org_id
        )
    log.info(
        "crawl: node=%s crawl=%s status=%s counts=%s errors=%d",
        job.node.id,
        crawl.id,
        status,
        crawl.counts,
        len(errors),
    )


# -- applying what was read ---------------------------------------------------------------------
def dataset_name(database: str, obj: CrawledObject) -> str:
    """OpenLineage naming: ``<database>.<schema>.<table>``, identifiers as stored (no quotes)."""
    return f"{database}.{obj.schema}.{obj.name}"


def _fields(obj: CrawledObject) -> list[dict[str, Any]]:
    return [
        {
            "name": c.name[:300],
            "type": c.type[:200],
            "nullable": c.nullable,
            "default": c.default[:500] if c.default else None,
            "position": c.position,
            "comment": c.comment[:5000],
        }
        for c in obj.columns
    ]


def _view_lineage(
    result: CrawlResult, errors: list[dict[str, str]], unchanged: set[str]
) -> dict[str, sql_lineage.SqlLineage]:
    """Lineage of each view whose SQL is new or changed (``unchanged`` names views whose SQL is
    the one their lineage was derived from: their edges stand as they are)."""
    columns: Mapping[sql_lineage.TableKey, Mapping[str, str]] = {
        (result.database, o.schema, o.name): {c.name: c.type for c in o.columns}
        for o in result.objects
    }
    parsed: dict[str, sql_lineage.SqlLineage] = {}
    for obj in result.objects:
        name = dataset_name(result.database, obj)
        if obj.definition is None or name in unchanged:
            continue
        try:
            parsed[name] = sql_lineage.parse(
                obj.definition, database=result.database, schema=obj.schema, columns=columns
            )
        except sql_lineage.SqlLineageError as exc:
            errors.append(
                {"object": name, "kind": "parse", "message": f"view SQL not understood: {exc}"}
            )
    return parsed


async def apply(
    session: AsyncSession, actor: Actor, principal: Principal, job: _Job, result: CrawlResult
) -> tuple[dict[str, int], list[dict[str, str]]]:
    """Write a crawl's result in the caller's transaction: (counts, errors)."""
    errors = list(result.errors)
    ns, db = result.namespace, result.database
    org_id = job.node.org_id
    crawled = {dataset_name(db, o): o for o in result.objects}
    stored = await lineage.derived_sql(
        session, org_id, [(ns, n) for n, o in crawled.items() if o.definition is not None]
    )
    unchanged = {n for (_, n), sql in stored.items() if sql == crawled[n].definition}
    views = _view_lineage(result, errors, unchanged)
    keys = [(ns, n) for n in crawled]
    for lin in views.values():
        keys += [(ns, ".".join(t)) for t in lin.tables]
    platform = PLATFORMS.get(ns.split("://", 1)[0], "postgresql")
    observed = {
        name: catalog.Observed(
            dataset_id=_UNRESOLVED,
            created=False,
            platform=platform,
            kind=obj.kind,
            description=obj.comment,
            fields=_fields(obj),
            properties={
                "row_estimate": obj.row_estimate,
                "size_bytes": obj.size_bytes,
                "primary_key": obj.primary_key,
                "foreign_keys": obj.foreign_keys,
            },
            node_id=job.node.id,
            database=db,
            schema=obj.schema,
            table=obj.name,
        )
        for name, obj in crawled.items()
    }
    # A new dataset is written once, with what the crawl says about it (one naming rule still:
    # resolve_names decides which names are new).
    content = {(ns, n): catalog.first_content(o, "crawl", actor) for n, o in observed.items()}
    ids, foreign, created = await lineage_ingest.resolve_datasets(session, principal, keys, content)

    derived = []
    for name, lin in views.items():
        out_id = ids[(ns, name)]
        if out_id in foreign:
            continue
        column_edges = [
            {
                "output_dataset_id": out_id,
                "output_field": c.output[:300],
                "input_dataset_id": ids[(ns, ".".join(i.table))],
                "input_field": i.column[:300],
                "transformation_type": c.transformation_type,
                "transformation_subtype": c.transformation_subtype,
                "description": None,
            }
            for c in lin.columns
            for i in c.inputs
        ]
        column_edges += [
            {
                "output_dataset_id": out_id,
                "output_field": "",
                "input_dataset_id": ids[(ns, ".".join(i.table))],
                "input_field": i.column[:300],
                "transformation_type": "INDIRECT",
                "transformation_subtype": use,
                "description": None,
            }
            for i, use in lin.indirect
        ]
        derived.append(
            lineage.DerivedProcess(
                namespace=ns,
                name=name,
                type="view",
                inputs=[ids[(ns, ".".join(t))] for t in lin.tables],
                outputs=[out_id],
                sql=crawled[name].definition,
                description=f"{crawled[name].kind.replace('_', ' ')} {name}",
                column_edges=column_edges,
            )
        )
    await lineage.apply_derived(session, actor, org_id, derived, origin="crawl")

    for name, obs in observed.items():
        obs.dataset_id = ids[(ns, name)]
        obs.created = obs.filled = (ns, name) in created
    observed_list = [o for o in observed.values() if o.dataset_id not in foreign]
    # Only the rows that would change are locked and loaded (a no-change re-crawl reads once).
    observed_list, same = await catalog.changing_observations(
        session, org_id, observed_list, origin="crawl"
    )

    async def downstream(dataset_id: uuid.UUID) -> int:
        return await lineage.downstream_dataset_count(session, dataset_id, "dataset")

    outcome = catalog.ObserveOutcome()
    for start in range(0, len(observed_list), OBSERVE_CHUNK):
        part = await catalog.apply_observations(
            session,
            actor,
            org_id,
            observed_list[start : start + OBSERVE_CHUNK],
            origin="crawl",
            source_id=job.crawl_id,
            downstream=downstream,
        )
        outcome.created += part.created
        outcome.updated += part.updated
        outcome.unchanged += part.unchanged
    removed = 0
    if result.complete:
        removed = await catalog.mark_removed(
            session,
            actor,
            org_id,
            node_id=job.node.id,
            namespace=ns,
            database=db,
            schemas=result.schemas,
            seen={ids[(ns, n)] for n in crawled},
            source_id=job.crawl_id,
        )
    skipped = len(crawled) - len(observed_list) - same
    if skipped:
        errors.append(
            {
                "object": "",
                "kind": "skipped",
                "message": f"{skipped} datasets belong to another organization and were left "
                "as they are",
            }
        )
    counts = {
        "created": outcome.created,
        "updated": outcome.updated,
        "unchanged": outcome.unchanged + same + skipped,
        "removed": removed,
    }
    return counts, errors
