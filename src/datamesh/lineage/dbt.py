"""dbt import: a dbt project's own artifacts become datasets, processes, lineage and runs.

``manifest.json`` (v10+, dbt-core 1.6 and later) gives models, seeds, snapshots and sources (each a
dataset ``<database>.<schema>.<alias>`` in the given namespace, the same row a crawl or
OpenLineage makes), their descriptions, column descriptions, tags and ``meta.owner``; each model
and snapshot is a process named as ``openlineage-dbt`` names it (its unique id,
``model.<project>.<name>``) with edges from its ``depends_on`` nodes and column lineage from its
compiled SQL (:mod:`datamesh.lineage.sql`). ``catalog.json`` adds column types; ``run_results.json``
adds runs, a failed model raising ``process.run_failed`` with its downstream impact.

Everything is written in the caller's transaction through the catalog and lineage services;
importing the same artifacts again writes nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.errors import Forbidden, Unprocessable, field_error
from datamesh.kit.context import Actor
from datamesh.kit.ids import uuid7
from datamesh.kit.refs import Ref
from datamesh.kit.text import nul_path
from datamesh.lineage import ingest, service
from datamesh.lineage import repository as repo
from datamesh.lineage import sql as sql_lineage
from datamesh.users import service as users

MIN_MANIFEST_VERSION = 10
DATASET_TYPES = ("model", "seed", "snapshot")
PROCESS_TYPES = ("model", "snapshot")
_VERSION = re.compile(r"/manifest/v(\d+)\.json$")
_RUN_STATES = {"success": "COMPLETE", "error": "FAIL", "fail": "FAIL", "skipped": "ABORT"}

Progress = Callable[[int, int], None]


class ArtifactError(Unprocessable):
    """An artifact is not what dbt writes (truncated, wrong version, wrong file)."""

    def __init__(self, artifact: str, message: str) -> None:
        super().__init__(f"{artifact}: {message}", errors=[field_error([artifact], message)])


def load(artifact: str, raw: bytes | None) -> dict[str, Any] | None:
    """Parse one artifact file; a clear :class:`ArtifactError` if it is not JSON."""
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        where = f" (at character {exc.pos})" if getattr(exc, "pos", None) is not None else ""
        raise ArtifactError(artifact, f"is not valid JSON, maybe truncated{where}") from None
    if not isinstance(data, dict):
        raise ArtifactError(artifact, "must be a JSON object")
    nul = nul_path(data)
    if nul is not None:
        where = ".".join(str(x) for x in nul)
        raise ArtifactError(artifact, f"{where} contains a NUL character")
    return data


def manifest_version(manifest: Mapping[str, Any]) -> int:
    url = str((manifest.get("metadata") or {}).get("dbt_schema_version") or "")
    found = _VERSION.search(url)
    if not found:
        raise ArtifactError("manifest", "is not a dbt manifest (no metadata.dbt_schema_version)")
    version = int(found.group(1))
    if version < MIN_MANIFEST_VERSION:
        raise ArtifactError(
            "manifest",
            f"is version v{version}; DataMesh reads v{MIN_MANIFEST_VERSION}+ "
            "(dbt-core 1.6 and later): run it with a newer dbt",
        )
    return version


@dataclass(slots=True)
class ImportOutcome:
    datasets: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    processes: int = 0
    edges_added: int = 0
    runs: int = 0
    failed_runs: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Node:
    unique_id: str
    resource_type: str
    key: tuple[str, str]
    database: str
    schema: str
    table: str
    description: str
    columns: dict[str, dict[str, Any]]
    tags: list[str]
    owner: str | None
    depends_on: list[str]
    compiled_sql: str | None
    kind: str | None


def _nodes(manifest: Mapping[str, Any], namespace: str) -> dict[str, _Node]:
    out: dict[str, _Node] = {}
    items = [
        *((manifest.get("nodes") or {}).items()),
        *((manifest.get("sources") or {}).items()),
        *((manifest.get("snapshots") or {}).items()),
    ]
    for unique_id, node in items:
        if not isinstance(node, dict):
            continue
        kind = node.get("resource_type")
        if kind not in (*DATASET_TYPES, "source"):
            continue
        config = node.get("config") or {}
        if config.get("materialized") == "ephemeral" or config.get("enabled") is False:
            continue
        table = node.get("identifier") if kind == "source" else node.get("alias")
        table = table or node.get("name")
        database, schema = node.get("database"), node.get("schema")
        if not (database and schema and table):
            continue
        meta = {**(config.get("meta") or {}), **(node.get("meta") or {})}
        owner = meta.get("owner")
        out[unique_id] = _Node(
            unique_id=unique_id,
            resource_type=str(kind),
            key=(namespace, f"{database}.{schema}.{table}"),
            database=str(database),
            schema=str(schema),
            table=str(table),
            description=str(node.get("description") or ""),
            columns={
                str(name): col
                for name, col in (node.get("columns") or {}).items()
                if isinstance(col, dict)
            },
            tags=[str(t).lower()[:64] for t in node.get("tags") or [] if str(t).strip()],
            owner=owner if isinstance(owner, str) else None,
            depends_on=list((node.get("depends_on") or {}).get("nodes") or []),
            compiled_sql=node.get("compiled_code") or node.get("compiled_sql"),
            kind=None
            if kind == "source"
            else "view"
            if config.get("materialized") == "view"
            else "table",
        )
    return out


def _catalog_columns(cat: Mapping[str, Any] | None) -> dict[str, list[tuple[str, str, int]]]:
    """unique id -> [(column, type, index)] from catalog.json."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    if not cat:
        return out
    for section in ("nodes", "sources"):
        for unique_id, entry in (cat.get(section) or {}).items():
            cols = (entry or {}).get("columns") or {}
            out[unique_id] = sorted(
                (
                    (str(c.get("name") or n), str(c.get("type") or ""), int(c.get("index") or 0))
                    for n, c in cols.items()
                    if isinstance(c, dict)
                ),
                key=lambda t: t[2],
            )
    return out


def _fields(node: _Node, typed: list[tuple[str, str, int]] | None) -> list[dict[str, Any]]:
    docs = {n.lower(): c for n, c in node.columns.items()}
    if typed:
        return [
            {
                "name": name[:300],
                "type": col_type[:200],
                "position": index or None,
                "comment": str(docs.get(name.lower(), {}).get("description") or "")[:5000],
            }
            for name, col_type, index in typed
        ]
    return [
        {
            "name": name[:300],
            "type": str(col.get("data_type") or "")[:200],
            "comment": str(col.get("description") or "")[:5000],
        }
        for name, col in node.columns.items()
    ]


async def import_artifacts(
    session: AsyncSession,
    p: Principal,
    *,
    manifest: Mapping[str, Any],
    catalog_json: Mapping[str, Any] | None,
    run_results: Mapping[str, Any] | None,
    namespace: str,
    job_namespace: str = "dbt",
    actor: Actor | None = None,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Apply dbt artifacts in the caller's transaction (producers, stewards, admins)."""
    who = actor or p.actor()
    if p.role not in service.WRITERS:
        raise Forbidden("Importing dbt artifacts needs a producer, steward or admin.")
    manifest_version(manifest)
    out = ImportOutcome()
    nodes = _nodes(manifest, namespace)
    typed = _catalog_columns(catalog_json)
    ids, foreign, created = await ingest.resolve_datasets(
        session, p, [n.key for n in nodes.values()]
    )
    total = len(nodes)
    if progress:
        progress(0, total)

    # Column lineage from compiled SQL, qualified against the columns dbt knows.
    columns: dict[sql_lineage.TableKey, dict[str, str]] = {}
    for n in nodes.values():
        cols = typed.get(n.unique_id)
        columns[(n.database, n.schema, n.table)] = (
            {c: t for c, t, _ in cols} if cols else dict.fromkeys(n.columns, "")
        )
    derived: list[service.DerivedProcess] = []
    for n in nodes.values():
        if n.resource_type not in PROCESS_TYPES:
            continue
        out_id = ids[n.key]
        inputs = [ids[nodes[d].key] for d in n.depends_on if d in nodes]
        column_edges: list[dict[str, Any]] = []
        if n.compiled_sql and out_id not in foreign:
            try:
                lin = sql_lineage.parse(
                    n.compiled_sql, database=n.database, schema=n.schema, columns=columns
                )
            except sql_lineage.SqlLineageError as exc:
                out.warnings.append(f"{n.unique_id}: compiled SQL not understood: {exc}")
            else:
                by_table = {(x.database, x.schema, x.table): ids[x.key] for x in nodes.values()}
                column_edges = [
                    {
                        "output_dataset_id": out_id,
                        "output_field": c.output[:300],
                        "input_dataset_id": by_table[i.table],
                        "input_field": i.column[:300],
                        "transformation_type": c.transformation_type,
                        "transformation_subtype": c.transformation_subtype,
                        "description": None,
                    }
                    for c in lin.columns
                    for i in c.inputs
                    if i.table in by_table
                ]
        derived.append(
            service.DerivedProcess(
                namespace=job_namespace,
                name=n.unique_id,
                type="dbt",
                inputs=inputs,
                outputs=[out_id],
                sql=n.compiled_sql,
                description=n.description,
                owners=[n.owner] if n.owner else [],
                column_edges=column_edges,
            )
        )
    # One audit entry for the whole import (below), as for an OpenLineage batch.
    derived_out = await service.apply_derived(
        session, who, p.org_id, derived, origin="dbt", audit_each=False
    )
    out.processes = len(derived_out.process_ids)
    out.edges_added = len(derived_out.edges_added)

    owner_ids: dict[str, uuid.UUID] = {}
    for email in {n.owner for n in nodes.values() if n.owner}:
        user = await users.by_email(session, email)
        if user is not None and user.org_id == p.org_id:
            owner_ids[email] = user.id
    observed = [
        catalog.Observed(
            dataset_id=ids[n.key],
            created=n.key in created,
            platform=catalog.platform_of(namespace),
            kind=n.kind,
            description=n.description,
            fields=_fields(n, typed.get(n.unique_id)),
            properties={"dbt_unique_id": n.unique_id},
            database=n.database,
            schema=n.schema,
            table=n.table,
            tags=n.tags,
            owners=[owner_ids[n.owner]] if n.owner in owner_ids else [],
        )
        for n in nodes.values()
        if ids[n.key] not in foreign
    ]

    async def downstream(dataset_id: uuid.UUID) -> int:
        return await service.downstream_dataset_count(session, dataset_id, "dataset")

    chunk = 500
    for start in range(0, len(observed), chunk):
        part = await catalog.apply_observations(
            session,
            who,
            p.org_id,
            observed[start : start + chunk],
            origin="dbt",
            source_id=None,
            downstream=downstream,
            audit_each=False,
        )
        out.created += part.created
        out.updated += part.updated
        out.unchanged += part.unchanged
        if progress:
            progress(min(start + chunk, total), total)
    out.datasets = len(observed)
    if run_results:
        await _runs(session, who, run_results, job_namespace, derived_out.process_ids, out)
    if out.created or out.updated or out.edges_added or out.runs:
        await audit.record(
            session,
            who,
            "lineage.dbt_import",
            Ref("org", str(p.org_id), None),
            org_id=p.org_id,
            details={
                "namespace": namespace,
                "job_namespace": job_namespace,
                "datasets_created": out.created,
                "datasets_updated": out.updated,
                "processes": out.processes,
                "edges_added": out.edges_added,
                "runs": out.runs,
                "failed_runs": out.failed_runs,
            },
        )
    return out


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def _runs(
    session: AsyncSession,
    who: Actor,
    run_results: Mapping[str, Any],
    job_namespace: str,
    process_ids: dict[tuple[str, str], uuid.UUID],
    out: ImportOutcome,
) -> None:
    meta = run_results.get("metadata") or {}
    invocation = str(meta.get("invocation_id") or "")
    generated = _time(meta.get("generated_at")) or datetime.now(UTC)
    if not invocation:
        out.warnings.append("run_results: no invocation_id; runs skipped")
        return
    rows: list[dict[str, Any]] = []
    failed: list[tuple[uuid.UUID, str, datetime]] = []
    for result in run_results.get("results") or []:
        if not isinstance(result, dict):
            continue
        proc_id = process_ids.get((job_namespace, str(result.get("unique_id"))))
        state = _RUN_STATES.get(str(result.get("status")))
        if proc_id is None or state is None:
            continue
        timing = {t.get("name"): t for t in result.get("timing") or [] if isinstance(t, dict)}
        execute = timing.get("execute") or timing.get("compile") or {}
        started = _time(execute.get("started_at"))
        ended = _time(execute.get("completed_at")) or generated
        run_id = f"{invocation}:{result.get('unique_id')}"[:255]
        rows.append(
            {
                "id": uuid7(),
                "process_id": proc_id,
                "run_id": run_id,
                "state": state,
                "started_at": started,
                "ended_at": ended,
                "event_time": ended,
                "facets": {
                    "dbt": {
                        "status": result.get("status"),
                        "invocation_id": invocation,
                        "message": str(result.get("message") or "")[:2000],
                    }
                },
            }
        )
        if state == "FAIL":
            failed.append((proc_id, run_id, ended))
    known = await repo.existing_runs(session, [(r["process_id"], r["run_id"]) for r in rows])
    fresh = [r for r in rows if (r["process_id"], r["run_id"]) not in known]
    await repo.upsert_runs(session, fresh)
    out.runs = len(fresh)
    announce = ingest.Outcome(failed_runs=[f for f in failed if (f[0], f[1]) not in known])
    out.failed_runs = len(announce.failed_runs)
    await ingest.announce_failures(session, who, announce)
