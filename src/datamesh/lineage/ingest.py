"""OpenLineage ingestion in bulk: a batch of events becomes a handful of set-based statements.

Events are parsed (tolerantly, as real producers need), de-duplicated by content hash (a replay
changes nothing), then datasets, processes, runs, edges and column edges are upserted for the
whole batch at once. One bad event is reported and skipped; the good ones land.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.errors import Forbidden
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.ids import uuid7
from datamesh.kit.refs import Ref
from datamesh.kit.text import nul_path
from datamesh.lineage import repository as repo
from datamesh.lineage import service
from datamesh.lineage.openlineage import (
    DatasetRef,
    EventKind,
    InvalidEvent,
    ParsedEvent,
    SchemaField,
    parse_event,
)
from datamesh.orgs import service as orgs

MAX_BATCH = 5000
_PLATFORMS = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "kafka": "kafka",
    "databricks": "databricks",
    "hive": "hive",
    "mysql": "mysql",
    "file": "file",
    "abfss": "azure",
    "wasbs": "azure",
    "dbfs": "databricks",
    "trino": "trino",
    "mssql": "sqlserver",
    "sqlserver": "sqlserver",
}
_FINAL = {"COMPLETE", "FAIL", "ABORT"}


@dataclass(slots=True)
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    datasets_created: int = 0
    edges_added: int = 0
    failed_runs: list[tuple[uuid.UUID, str, datetime]] = field(default_factory=list)


def platform_of(namespace: str) -> str:
    scheme = (
        namespace.split("://", 1)[0].lower()
        if "://" in namespace
        else namespace.split(":", 1)[0].lower()
    )
    found = _PLATFORMS.get(scheme)
    if found:
        return found
    return scheme if re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", scheme) else "other"


def _fields(schema: list[SchemaField]) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name[:300],
            "type": (f.type or "")[:200],
            "description": (f.description or "")[:5000],
            "tags": [],
        }
        for f in schema[:2000]
    ]


def _hash(raw: Any) -> str:
    return hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def ingest(
    session: AsyncSession, p: Principal, raw_events: list[Any], *, actor: Actor | None = None
) -> Outcome:
    """Apply a batch; ``actor`` overrides who the audit log and events name (the CLI)."""
    who = actor or p.actor()
    if p.role not in ("admin", "producer", "steward"):
        raise Forbidden("Sending lineage needs a producer (or admin) API key or user.")
    out = Outcome()
    parsed: list[tuple[int, ParsedEvent, str]] = []
    for index, raw in enumerate(raw_events):
        nul = nul_path(raw)
        if nul is not None:
            where = ".".join(str(x) for x in nul)
            msg = "must not contain NUL characters"
            out.errors.append(
                {
                    "index": index,
                    "detail": f"{where}: {msg}",
                    "problems": [{"loc": where, "msg": msg}],
                }
            )
            continue
        try:
            parsed.append((index, parse_event(raw), _hash(raw)))
        except InvalidEvent as exc:
            out.errors.append({"index": index, "detail": str(exc), "problems": exc.errors})
    parsed = await _own_jobs_only(session, p, parsed, out)
    fresh = await repo.new_event_hashes(session, [h for _, _, h in parsed])
    todo = [ev for _, ev, h in parsed if h in fresh]
    out.duplicates = len(parsed) - len(todo)
    out.accepted = len(todo)
    if not todo:
        await _audit(session, p, who, out)
        return out

    ds_ids, foreign = await _datasets(session, p, todo, out)
    proc_ids = await _processes(session, p, todo)
    await _runs(session, todo, proc_ids, out)
    added = await _edges(session, p, todo, ds_ids, proc_ids)
    out.edges_added = len(added)
    await _column_edges(session, todo, ds_ids, proc_ids, foreign)
    await _announce_failures(session, who, out)  # after the edges: the impact includes them
    if added or out.datasets_created:
        kinds = {str(i): "dataset" for i in ds_ids.values()} | {
            str(i): "process" for i in proc_ids.values()
        }
        subject = (
            Ref("process", str(next(iter(proc_ids.values()))))
            if proc_ids
            else Ref("dataset", str(next(iter(ds_ids.values()))))
        )
        await events.emit(
            session,
            "lineage.changed",
            who,
            subject,
            {
                "edges_added": [[str(s), str(d)] for s, d in added],
                "kinds": kinds,
                "events": out.accepted,
                "datasets_created": out.datasets_created,
            },
            org_id=p.org_id,
        )
    await _audit(session, p, who, out)
    return out


async def _audit(session: AsyncSession, p: Principal, who: Actor, out: Outcome) -> None:
    await audit.record(
        session,
        who,
        "lineage.ingest",
        Ref("org", str(p.org_id), None),
        details={
            "accepted": out.accepted,
            "duplicates": out.duplicates,
            "failed": len(out.errors),
            "datasets_created": out.datasets_created,
            "edges_added": out.edges_added,
        },
    )


async def _own_jobs_only(
    session: AsyncSession,
    p: Principal,
    parsed: list[tuple[int, ParsedEvent, str]],
    out: Outcome,
) -> list[tuple[int, ParsedEvent, str]]:
    """Refuse events about a job another organization owns: a producer may describe its own
    jobs only (an event must not rewrite someone else's job or add runs to it). Refused events
    are not marked as seen, so sending them again with the right key works."""
    keys = {(ev.job.namespace, ev.job.name) for _, ev, _ in parsed if ev.job is not None}
    foreign = await repo.processes_of_other_orgs(session, list(keys), p.org_id)
    if not foreign:
        return parsed
    kept = []
    for index, ev, h in parsed:
        if ev.job is not None and (ev.job.namespace, ev.job.name) in foreign:
            out.errors.append(
                {
                    "index": index,
                    "detail": "This job belongs to another organization; send its events with "
                    "an API key of that organization.",
                    "problems": [{"loc": "job", "msg": "owned by another organization"}],
                    "status": 403,
                }
            )
        else:
            kept.append((index, ev, h))
    return kept


async def resolve_datasets(
    session: AsyncSession, p: Principal, keys: list[tuple[str, str]]
) -> tuple[dict[tuple[str, str], uuid.UUID], set[uuid.UUID], set[tuple[str, str]]]:
    """Dataset ids for (namespace, name) keys, resolved exactly as OpenLineage events are (the
    unknown ones are created in the sender's org): (ids, those another org owns, those created).

    Crawls and dbt imports name datasets through this, so one dataset has one row whatever told
    us about it. No schema is written here: callers write what they know through the catalog."""
    if not keys:
        return {}, set(), set()
    unique = list(dict.fromkeys(keys))
    ids: dict[tuple[str, str], uuid.UUID] = {}
    foreign: set[uuid.UUID] = set()
    before: dict[tuple[str, str], uuid.UUID] = {}
    for start in range(0, len(unique), MAX_BATCH):  # bounded statement parameters
        chunk = unique[start : start + MAX_BATCH]
        probe = ParsedEvent(
            kind=EventKind.DATASET,
            event_type=None,
            event_time=datetime.now(UTC),
            inputs=[DatasetRef(namespace=ns, name=name) for ns, name in chunk],
        )
        before |= await repo.dataset_ids(session, chunk)
        found, others = await _datasets(session, p, [probe], Outcome())
        ids |= found
        foreign |= others
    known = set(before.values())
    return ids, foreign, {k for k, ds_id in ids.items() if ds_id not in known}


def _dataset_refs(ev: ParsedEvent) -> list[DatasetRef]:
    return [*ev.inputs, *ev.outputs, *([ev.dataset] if ev.dataset else [])]


async def _datasets(
    session: AsyncSession, p: Principal, todo: list[ParsedEvent], out: Outcome
) -> tuple[dict[tuple[str, str], uuid.UUID], set[uuid.UUID]]:
    """Ids of every dataset the batch names (creating the unknown ones in the sender's org, with
    its default visibility), and which of them another org owns: their schema and column
    lineage are left alone — an event may read from another org's table, not rewrite its
    description."""
    schemas: dict[tuple[str, str], list[dict[str, Any]]] = {}
    keys: dict[tuple[str, str], None] = {}
    for ev in todo:
        for ref in _dataset_refs(ev):
            key = (ref.namespace, ref.name)
            keys[key] = None
            if ref.fields:
                schemas[key] = _fields(ref.fields)
            for col in ref.column_lineage:
                keys[(col.input_namespace, col.input_name)] = None
    found = await repo.dataset_ids_and_orgs(session, list(keys))
    missing = [k for k in keys if k not in found]
    if missing:
        # Read only when creating: most events name datasets already known.
        visibility = (await orgs.org_settings(session, p.org_id)).default_visibility
        rows = [
            {
                "id": uuid7(),
                "org_id": p.org_id,
                "namespace": ns[:500],
                "name": name[:1000],
                "platform": platform_of(ns),
                "visibility": visibility,
                "origin": "lineage",
                "fields": schemas.get((ns, name), []),
                "display_name": "",
                "description": "",
                "tags": [],
                "status": "active",
                "version": 1,
            }
            for ns, name in missing
        ]
        rows.sort(key=lambda r: (r["namespace"], r["name"]))  # one lock order: no deadlocks
        created = await repo.insert_datasets(session, rows)
        out.datasets_created = len(created)
        found |= {k: (ds_id, p.org_id) for k, ds_id in created.items()}
        if len(found) < len(keys):  # created by a concurrent batch in the meantime
            found |= await repo.dataset_ids_and_orgs(session, [k for k in keys if k not in found])
    ids = {k: ds_id for k, (ds_id, _) in found.items()}
    foreign = {ds_id for ds_id, org_id in found.values() if org_id != p.org_id}
    await repo.update_dataset_fields(
        session,
        {
            ids[k]: schemas[k]
            for k in sorted(schemas)
            if k in ids and k not in missing and ids[k] not in foreign
        },
    )
    return ids, foreign


async def _processes(
    session: AsyncSession, p: Principal, todo: list[ParsedEvent]
) -> dict[tuple[str, str], uuid.UUID]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for ev in todo:
        job = ev.job
        if job is None:
            continue
        code = (
            job.source_code_location.model_dump(exclude_none=True)
            if job.source_code_location
            else {}
        )
        rows[(job.namespace, job.name)] = {
            "id": uuid7(),
            "org_id": p.org_id,
            "namespace": job.namespace[:500],
            "name": job.name[:1000],
            "type": ev.job_type,
            "sql": job.sql,
            "description": job.description or "",
            "source_code": code,
            "owners": [o.name for o in job.owners],
            "origin": "openlineage",
        }
    return await repo.upsert_processes(session, [rows[k] for k in sorted(rows)])


async def _runs(
    session: AsyncSession,
    todo: list[ParsedEvent],
    proc_ids: dict[tuple[str, str], uuid.UUID],
    out: Outcome,
) -> None:
    merged: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    for ev in sorted((e for e in todo if e.run and e.job), key=lambda e: e.event_time):
        assert ev.run is not None and ev.job is not None
        proc = proc_ids[(ev.job.namespace, ev.job.name)]
        state = ev.event_type or "OTHER"
        key = (proc, ev.run.run_id[:255])
        row = merged.setdefault(
            key,
            {
                "id": uuid7(),
                "process_id": proc,
                "run_id": key[1],
                "state": state,
                "started_at": None,
                "ended_at": None,
                "event_time": ev.event_time,
                "facets": {},
            },
        )
        row["state"], row["event_time"] = state, ev.event_time
        if state == "START" and row["started_at"] is None:
            row["started_at"] = ev.event_time
        if state in _FINAL:
            row["ended_at"] = ev.event_time
        row["facets"] = {**row["facets"], **ev.run.facets}
        if state == "FAIL":
            out.failed_runs.append((proc, key[1], ev.event_time))
    await repo.upsert_runs(
        session, [merged[k] for k in sorted(merged, key=lambda k: (str(k[0]), k[1]))]
    )
    await repo.refresh_latest_runs(session, list({k[0] for k in merged}))


async def announce_failures(session: AsyncSession, who: Actor, out: Outcome) -> None:
    """``process.run_failed`` for the failed runs in ``out`` (dbt imports use it too)."""
    await _announce_failures(session, who, out)


async def _announce_failures(session: AsyncSession, who: Actor, out: Outcome) -> None:
    """``process.run_failed`` once per failed run (a replayed or repeated FAIL writes nothing),
    with how many datasets are downstream of the process."""
    first: dict[tuple[uuid.UUID, str], datetime] = {}
    for proc_id, run_id, failed_at in out.failed_runs:
        first.setdefault((proc_id, run_id), failed_at)
    for (proc_id, run_id), failed_at in first.items():
        key = f"process.run_failed:{proc_id}:{hashlib.sha256(run_id.encode()).hexdigest()[:32]}"
        proc = await repo.get_process(session, proc_id)
        if proc is None or await events.seen(session, key):
            continue
        await events.emit(
            session,
            "process.run_failed",
            who,
            service.process_ref(proc),
            {
                "process_id": str(proc.id),
                "process_name": proc.name,
                "namespace": proc.namespace,
                "run_id": run_id,
                "failed_at": failed_at.isoformat(),
                "impact_count": await service.downstream_dataset_count(session, proc.id, "process"),
            },
            org_id=proc.org_id,
            idempotency_key=key,
        )


async def _edges(
    session: AsyncSession,
    p: Principal,
    todo: list[ParsedEvent],
    ds_ids: dict[tuple[str, str], uuid.UUID],
    proc_ids: dict[tuple[str, str], uuid.UUID],
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    rows: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]] = {}
    for ev in todo:
        if ev.job is None:
            continue
        proc = proc_ids[(ev.job.namespace, ev.job.name)]
        for ref in ev.inputs:
            src = ds_ids[(ref.namespace, ref.name)]
            rows[(src, proc)] = {
                "id": uuid7(),
                "src_id": src,
                "dst_id": proc,
                "src_kind": "dataset",
                "dst_kind": "process",
                "org_id": p.org_id,
                "origin": "openlineage",
            }
        for ref in ev.outputs:
            dst = ds_ids[(ref.namespace, ref.name)]
            rows[(proc, dst)] = {
                "id": uuid7(),
                "src_id": proc,
                "dst_id": dst,
                "src_kind": "process",
                "dst_kind": "dataset",
                "org_id": p.org_id,
                "origin": "openlineage",
            }
    return await repo.insert_edges(
        session, [rows[k] for k in sorted(rows, key=lambda k: (str(k[0]), str(k[1])))]
    )


async def _column_edges(
    session: AsyncSession,
    todo: list[ParsedEvent],
    ds_ids: dict[tuple[str, str], uuid.UUID],
    proc_ids: dict[tuple[str, str], uuid.UUID],
    foreign: set[uuid.UUID],
) -> None:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for ev in todo:
        proc = proc_ids.get((ev.job.namespace, ev.job.name)) if ev.job else None
        for ref in [*ev.outputs, *([ev.dataset] if ev.dataset else [])]:
            out_id = ds_ids[(ref.namespace, ref.name)]
            if out_id in foreign:
                continue
            for col in ref.column_lineage:
                in_id = ds_ids[(col.input_namespace, col.input_name)]
                key = (out_id, (col.output_field or "")[:300], in_id, col.input_field[:300])
                rows[key] = {
                    "id": uuid7(),
                    "output_dataset_id": out_id,
                    "output_field": key[1],
                    "input_dataset_id": in_id,
                    "input_field": key[3],
                    "process_id": proc,
                    "transformation_type": (col.transformation_type or None)
                    and col.transformation_type[:40],
                    "transformation_subtype": (col.transformation_subtype or None)
                    and col.transformation_subtype[:60],
                    "description": col.description,
                }
    await repo.insert_column_edges(session, list(rows.values()))
