"""OpenLineage ingestion in bulk: a batch of events becomes a handful of set-based statements.

Events are parsed (tolerantly, as real producers need), de-duplicated by content hash (a replay
changes nothing), then datasets, processes, runs, edges and column edges are upserted for the
whole batch at once. One bad event is reported and skipped; the good ones land.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
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
    InvalidEvent,
    ParsedEvent,
    SchemaField,
    error_message,
    owner_email,
    parse_event,
)

MAX_BATCH = 5000
_FINAL = {"COMPLETE", "FAIL", "ABORT"}


@dataclass(slots=True)
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    datasets_created: int = 0
    edges_added: int = 0
    failed_runs: list[tuple[uuid.UUID, str, datetime]] = field(default_factory=list)
    run_errors: dict[tuple[uuid.UUID, str], str] = field(default_factory=dict)
    datasets_described: int = 0
    quality_records: int = 0


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
    await _dataset_facets(session, who, todo, ds_ids, foreign, out)
    failed_checks = await _quality(session, todo, ds_ids, proc_ids, foreign, out)
    await _announce_failures(session, who, out)  # after the edges: the impact includes them
    await _announce_failed_assertions(session, who, failed_checks)
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
            "datasets_described": out.datasets_described,
            "quality_records": out.quality_records,
        },
    )


async def resolve_datasets(
    session: AsyncSession,
    p: Principal,
    keys: list[tuple[str, str]],
    content: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> tuple[dict[tuple[str, str], uuid.UUID], set[uuid.UUID], set[tuple[str, str]]]:
    """Dataset ids for (namespace, name) keys that a crawl or dbt import describes, by the
    catalog's one rule (ADR 0005; described names are the sender's own, created if new):
    (ids, those another org owns, those created). Only a row created here gets ``content``
    (``catalog.first_content``); callers write the rest through the catalog."""
    ids: dict[tuple[str, str], uuid.UUID] = {}
    foreign: set[uuid.UUID] = set()
    created: set[tuple[str, str]] = set()
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), MAX_BATCH):  # bounded statement parameters
        found = await catalog.resolve_names(
            session, p, unique[start : start + MAX_BATCH], written=True, content=content
        )
        ids |= found.ids
        foreign |= found.foreign
        created |= set(found.created)
    return ids, foreign, created


def _dataset_refs(ev: ParsedEvent) -> list[DatasetRef]:
    return [*ev.inputs, *ev.outputs, *([ev.dataset] if ev.dataset else [])]


async def _datasets(
    session: AsyncSession, p: Principal, todo: list[ParsedEvent], out: Outcome
) -> tuple[dict[tuple[str, str], uuid.UUID], set[uuid.UUID]]:
    """Ids of every dataset the batch names, by the catalog's one rule (ADR 0005): the
    sender's own, else (for a name it only reads) a readable one of another org, else new in
    its org. Outputs and DatasetEvents are written names: never another org's dataset. Also
    which ids are another org's: their schema and column lineage are left alone."""
    schemas: dict[tuple[str, str], list[dict[str, Any]]] = {}
    keys: dict[tuple[str, str], None] = {}
    written: set[tuple[str, str]] = set()
    for ev in todo:
        for ref in _dataset_refs(ev):
            key = (ref.namespace, ref.name)
            keys[key] = None
            if ref.fields:
                schemas[key] = _fields(ref.fields)
            for col in ref.column_lineage:
                keys[(col.input_namespace, col.input_name)] = None
        written.update((ref.namespace, ref.name) for ref in _written_refs(ev))
    found = await catalog.resolve_names(session, p, keys, written=written, fields=schemas)
    out.datasets_created = len(found.created)
    await repo.update_dataset_fields(
        session,
        {
            found.ids[k]: schemas[k]
            for k in sorted(schemas)
            if k not in found.created and found.ids[k] not in found.foreign
        },
    )
    return found.ids, found.foreign


def _written_refs(ev: ParsedEvent) -> list[DatasetRef]:
    return [*ev.outputs, *([ev.dataset] if ev.dataset else [])]


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
        message = error_message(ev.run.facets)
        if message:
            out.run_errors[key] = message
        if state == "FAIL":
            out.failed_runs.append((proc, key[1], ev.event_time))
    await repo.upsert_runs(
        session, [merged[k] for k in sorted(merged, key=lambda k: (str(k[0]), k[1]))]
    )


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
        message = out.run_errors.get((proc_id, run_id)) or error_message(
            await repo.run_facets(session, proc_id, run_id)
        )
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
                "error_message": message,
                "impact_count": await service.downstream_dataset_count(session, proc.id, "process"),
            },
            org_id=proc.org_id,
            idempotency_key=key,
        )


async def _dataset_facets(
    session: AsyncSession,
    who: Actor,
    todo: list[ParsedEvent],
    ds_ids: dict[tuple[str, str], uuid.UUID],
    foreign: set[uuid.UUID],
    out: Outcome,
) -> None:
    """``documentation`` and ``ownership`` dataset facets, on the sender's own datasets (another
    org's dataset is only read from, never described). A description a person wrote is never
    replaced; an ownership facet is applied when it differs from the one applied last (so an
    owner a person removed stays removed while the producer keeps sending the same list):
    owners whose e-mail is a user of the dataset's org become owners, the others named owners."""
    docs: dict[uuid.UUID, str] = {}
    owners: dict[uuid.UUID, list[str]] = {}
    for ev in sorted(todo, key=lambda e: e.event_time):
        for ref in _dataset_refs(ev):
            ds_id = ds_ids.get((ref.namespace, ref.name))
            if ds_id is None or ds_id in foreign:
                continue
            if ref.description is not None and ref.description.strip():
                docs[ds_id] = ref.description.strip()[:100_000]
            if ref.owners is not None:
                owners[ds_id] = list(dict.fromkeys(o.name for o in ref.owners))
    if not docs and not owners:
        return
    current = await repo.dataset_facet_state(session, sorted(docs.keys() | owners.keys()))
    for ds_id, (org_id, description, source, applied, name) in sorted(current.items()):
        values: dict[str, Any] = {}
        fields: list[str] = []
        doc = docs.get(ds_id)
        if doc is not None and source != "person" and doc != description:
            values |= {"description": doc, "description_source": "openlineage"}
            fields.append("description")
        names = owners.get(ds_id)
        if names is not None and names != applied:
            emails = {n: owner_email(n) for n in names}
            users = await repo.org_users_by_email(
                session, org_id, sorted({e for e in emails.values() if e})
            )
            await repo.add_dataset_owners(
                session, ds_id, [users[e] for e in emails.values() if e and e in users]
            )
            values |= {
                "facet_owners": names,
                "named_owners": [n for n, e in emails.items() if not (e and e in users)],
            }
            fields.append("owners")
        if not values:
            continue
        await repo.update_dataset_facets(session, ds_id, values)
        out.datasets_described += 1
        await events.emit(
            session,
            "dataset.updated",
            who,
            Ref("dataset", str(ds_id), name),
            {"fields": fields, "source": "openlineage"},
            org_id=org_id,
        )


@dataclass(slots=True)
class _FailedChecks:
    dataset_id: uuid.UUID
    process_id: uuid.UUID
    run_id: str
    assertions: list[dict[str, Any]]


async def _quality(
    session: AsyncSession,
    todo: list[ParsedEvent],
    ds_ids: dict[tuple[str, str], uuid.UUID],
    proc_ids: dict[tuple[str, str], uuid.UUID],
    foreign: set[uuid.UUID],
    out: Outcome,
) -> list[_FailedChecks]:
    """Row counts, sizes, column metrics and assertions per run and dataset (the sender's own
    datasets: a job reading another org's table does not write on its page). Several events of
    one run merge: a later figure replaces an earlier one, an absent one keeps it."""
    rows: dict[tuple[uuid.UUID, uuid.UUID, str], dict[str, Any]] = {}
    for ev in sorted((e for e in todo if e.run and e.job), key=lambda e: e.event_time):
        assert ev.run is not None and ev.job is not None
        proc = proc_ids[(ev.job.namespace, ev.job.name)]
        for ref in [*ev.inputs, *ev.outputs]:
            ds_id = ds_ids.get((ref.namespace, ref.name))
            q = ref.quality
            if q is None or ds_id is None or ds_id in foreign:
                continue
            key = (ds_id, proc, ev.run.run_id[:255])
            row = rows.setdefault(
                key,
                {
                    "id": uuid7(),
                    "dataset_id": ds_id,
                    "process_id": proc,
                    "run_id": key[2],
                    "dataset_version": None,
                    "row_count": None,
                    "bytes": None,
                    "file_count": None,
                    "column_metrics": {},
                    "assertions": [],
                    "failed_assertions": 0,
                },
            )
            row["event_time"] = ev.event_time
            for col, value in (
                ("dataset_version", q.dataset_version),
                ("row_count", q.row_count),
                ("bytes", q.bytes),
                ("file_count", q.file_count),
            ):
                if value is not None:
                    row[col] = value
            if q.column_metrics:
                row["column_metrics"] = q.column_metrics
            if q.assertions:
                row["assertions"] = [a.model_dump(exclude_none=True) for a in q.assertions]
                row["failed_assertions"] = sum(1 for a in q.assertions if not a.success)
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (str(k[0]), str(k[1]), k[2]))]
    await repo.upsert_quality(session, ordered)
    out.quality_records = len(ordered)
    return [
        _FailedChecks(
            r["dataset_id"],
            r["process_id"],
            r["run_id"],
            [a for a in r["assertions"] if not a["success"]],
        )
        for r in ordered
        if r["failed_assertions"]
    ]


async def _announce_failed_assertions(
    session: AsyncSession, who: Actor, failed: list[_FailedChecks]
) -> None:
    """``dataset.assertion_failed`` once per run and dataset whose assertions found issues (a
    replay writes nothing), as a dataset event: the feed and the stream apply the dataset's
    visibility, followers get it, and the payload counts the datasets downstream."""
    for check in failed:
        digest = hashlib.sha256(f"{check.process_id}:{check.run_id}".encode()).hexdigest()[:32]
        key = f"dataset.assertion_failed:{check.dataset_id}:{digest}"
        if await events.seen(session, key):
            continue
        found = await repo.dataset_and_process_names(session, check.dataset_id, check.process_id)
        if found is None:
            continue
        ds_name, org_id, proc_name = found
        await events.emit(
            session,
            "dataset.assertion_failed",
            who,
            Ref("dataset", str(check.dataset_id), ds_name),
            {
                # Not the job's name nor run: whoever may read the dataset sees this event, and
                # a job is shown to its own org only (it is in ``related`` for the org's views).
                "dataset_id": str(check.dataset_id),
                "failed_count": len(check.assertions),
                "failed": [
                    {k: a[k] for k in ("assertion", "column", "severity", "name") if k in a}
                    for a in check.assertions[:20]
                ],
                "impact_count": await service.downstream_dataset_count(
                    session, check.dataset_id, "dataset"
                ),
            },
            org_id=org_id,
            related=[Ref("process", str(check.process_id), proc_name)],
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
        for ref in _written_refs(ev):
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
