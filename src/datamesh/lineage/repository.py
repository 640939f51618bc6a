"""SQL for lineage: processes, runs, edges, column edges, the frontier walk, bulk ingestion."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
import orjson
from sqlalchemy import (
    ColumnElement,
    Table,
    any_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.events.consumer import Position
from datamesh.kit.pagination import after as keyset_after
from datamesh.models.catalog import Dataset, DatasetOwner
from datamesh.models.events import Event
from datamesh.models.identity import User
from datamesh.models.lineage import (
    ColumnEdge,
    DatasetQuality,
    GraphCursor,
    LineageEdge,
    Process,
    Run,
)
from datamesh.models.nodes import Node


def _uuids(values: Iterable[uuid.UUID]) -> Any:
    """One array parameter (an IN list of 50k ids would exceed the protocol's parameter limit)."""
    return bindparam(None, list(values), type_=ARRAY(PG_UUID(as_uuid=True)))


# -- processes ----------------------------------------------------------------------------------
async def get_process(session: AsyncSession, process_id: uuid.UUID) -> Process | None:
    return await session.get(Process, process_id)


async def process_by_key(
    session: AsyncSession, org_id: uuid.UUID, namespace: str, name: str
) -> Process | None:
    found: Process | None = await session.scalar(
        select(Process).where(
            Process.namespace == namespace, Process.name == name, Process.org_id == org_id
        )
    )
    return found


async def add(session: AsyncSession, obj: Any) -> Any:
    session.add(obj)
    await session.flush()
    return obj


async def delete_obj(session: AsyncSession, obj: Any) -> None:
    await session.delete(obj)
    await session.flush()


async def page_processes(
    session: AsyncSession,
    visible: ColumnElement[bool],
    text_q: str | None,
    limit: int,
    after: list[Any] | None,
) -> list[Process]:
    stmt = select(Process).where(visible)
    if text_q:
        stmt = stmt.where(
            or_(Process.name.ilike(f"%{text_q}%"), Process.namespace.ilike(f"%{text_q}%"))
        )
    cols = [func.lower(Process.name), Process.id]
    if after:
        stmt = stmt.where(keyset_after(cols, after))
    return list(await session.scalars(stmt.order_by(*cols).limit(limit + 1)))


async def runs_of(session: AsyncSession, process_id: uuid.UUID, limit: int = 20) -> list[Run]:
    rows = await session.scalars(
        select(Run).where(Run.process_id == process_id).order_by(Run.event_time.desc()).limit(limit)
    )
    return list(rows)


async def page_runs(
    session: AsyncSession, process_id: uuid.UUID, limit: int, after: list[Any] | None
) -> list[Run]:
    """Runs of a process, newest first (keyset on event time, then id)."""
    stmt = select(Run).where(Run.process_id == process_id)
    if after:
        stmt = stmt.where(keyset_after([Run.event_time, Run.id], after, descending=True))
    return list(
        await session.scalars(stmt.order_by(Run.event_time.desc(), Run.id.desc()).limit(limit + 1))
    )


# -- nodes and edges ----------------------------------------------------------------------------
async def node_kinds(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each id's kind; the ids as one array (a walk's whole radius can pass 32,767 ids)."""
    id_list = list(set(ids))
    if not id_list:
        return {}
    out = dict.fromkeys(
        await session.scalars(select(Dataset.id).where(Dataset.id == uuid_any(id_list))), "dataset"
    )
    out |= dict.fromkeys(
        await session.scalars(select(Process.id).where(Process.id == uuid_any(id_list))), "process"
    )
    return out


async def get_edge(session: AsyncSession, edge_id: uuid.UUID) -> LineageEdge | None:
    return await session.get(LineageEdge, edge_id)


async def edge_between(session: AsyncSession, src: uuid.UUID, dst: uuid.UUID) -> LineageEdge | None:
    found: LineageEdge | None = await session.scalar(
        select(LineageEdge).where(LineageEdge.src_id == src, LineageEdge.dst_id == dst)
    )
    return found


async def page_edges(
    session: AsyncSession, node: uuid.UUID | None, limit: int, after: list[Any] | None
) -> list[LineageEdge]:
    stmt = select(LineageEdge)
    if node is not None:
        stmt = stmt.where(or_(LineageEdge.src_id == node, LineageEdge.dst_id == node))
    if after:
        stmt = stmt.where(keyset_after([LineageEdge.id], after))
    return list(await session.scalars(stmt.order_by(LineageEdge.id).limit(limit + 1)))


async def delete_edges_of(
    session: AsyncSession, node: uuid.UUID
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    rows = await session.execute(
        delete(LineageEdge)
        .where(or_(LineageEdge.src_id == node, LineageEdge.dst_id == node))
        .returning(LineageEdge.src_id, LineageEdge.dst_id)
    )
    return [(r[0], r[1]) for r in rows]


async def frontier_edges(
    session: AsyncSession, frontier: Sequence[uuid.UUID], downstream: bool
) -> list[tuple[uuid.UUID, uuid.UUID, str, str]]:
    """Edges leaving (downstream) or entering (upstream) any frontier node: one index probe each."""
    key = LineageEdge.src_id if downstream else LineageEdge.dst_id
    rows = await session.execute(
        select(
            LineageEdge.src_id, LineageEdge.dst_id, LineageEdge.src_kind, LineageEdge.dst_kind
        ).where(key == any_(_uuids(frontier)))
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def frontier_edges_raw(
    session: AsyncSession, frontier: Sequence[uuid.UUID], downstream: bool
) -> list[Any]:
    """The same as ``frontier_edges`` straight through the driver: records of (src, dst,
    src_is_dataset, dst_is_dataset). Walks touch hundreds of thousands of edges; this path
    skips the ORM's per-row work."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    key = "src_id" if downstream else "dst_id"
    return list(
        await driver.fetch(
            "SELECT src_id, dst_id, src_kind = 'dataset', dst_kind = 'dataset' "
            f"FROM lineage_edges WHERE {key} = ANY($1::uuid[])",
            frontier,
        )
    )


async def edges_among(
    session: AsyncSession, nodes: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID, str, str]]:
    rows = await session.execute(
        select(
            LineageEdge.src_id, LineageEdge.dst_id, LineageEdge.src_kind, LineageEdge.dst_kind
        ).where(
            LineageEdge.src_id == any_(_uuids(nodes)), LineageEdge.dst_id == any_(_uuids(nodes))
        )
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def all_edges(session: AsyncSession, batch: int = 10_000) -> Any:
    """Every edge, in batches (for rebuilding a graph projection)."""
    last: uuid.UUID | None = None
    while True:
        stmt = (
            select(LineageEdge.id, LineageEdge.src_id, LineageEdge.dst_id)
            .order_by(LineageEdge.id)
            .limit(batch)
        )
        if last is not None:
            stmt = stmt.where(LineageEdge.id > last)
        rows = (await session.execute(stmt)).all()
        if not rows:
            return
        yield [(r[1], r[2]) for r in rows]
        last = rows[-1][0]


# -- column lineage -----------------------------------------------------------------------------
async def column_edges(
    session: AsyncSession, dataset_id: uuid.UUID, *, upstream: bool = True, downstream: bool = True
) -> list[ColumnEdge]:
    """Column edges whose output (``upstream``) and/or input (``downstream``) is the dataset."""
    ends = [
        *([ColumnEdge.output_dataset_id == dataset_id] if upstream else []),
        *([ColumnEdge.input_dataset_id == dataset_id] if downstream else []),
    ]
    rows = await session.scalars(
        select(ColumnEdge)
        .where(or_(*ends))
        .order_by(
            ColumnEdge.output_field,
            ColumnEdge.input_field,
            ColumnEdge.output_dataset_id,
            ColumnEdge.input_dataset_id,
        )
    )
    return list(rows)


async def column_levels(
    session: AsyncSession, datasets: Sequence[uuid.UUID], fields: Sequence[str], levels: int
) -> list[Any]:
    """Column edges within ``levels`` column edges of a frontier of (dataset, field) columns, as
    records (input_dataset_id, input_field, output_dataset_id, output_field, level): ``level``
    is the least number of edges from the frontier to the input column, at most ``levels``.
    One statement for several levels of a walk: a recursive CTE deduplicating on (column,
    level), so a column is expanded at most once per level (never per path) and a cycle ends
    at the level bound; every step probes ``ix_column_edges_input``."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    return list(
        await driver.fetch(
            "WITH RECURSIVE walk(ds, field, lvl) AS ("
            " SELECT f.ds, f.field, 0 FROM unnest($1::uuid[], $2::text[]) AS f(ds, field)"
            " UNION"
            " SELECT c.output_dataset_id, c.output_field, w.lvl + 1 FROM walk w"
            " JOIN column_edges c ON c.input_dataset_id = w.ds AND c.input_field = w.field"
            " WHERE w.lvl < $3"
            "), reached AS (SELECT ds, field, min(lvl) AS lvl FROM walk GROUP BY ds, field) "
            "SELECT c.input_dataset_id, c.input_field, c.output_dataset_id, c.output_field, r.lvl "
            "FROM reached r "
            "JOIN column_edges c ON c.input_dataset_id = r.ds AND c.input_field = r.field "
            "ORDER BY r.lvl",
            list(datasets),
            list(fields),
            levels,
        )
    )


async def dataset_labels(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    """(name, namespace) of these datasets."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Dataset.id, Dataset.name, Dataset.namespace).where(Dataset.id == uuid_any(ids))
    )
    return {r[0]: (r[1], r[2]) for r in rows}


async def undrawn_neighbours(
    session: AsyncSession, drawn: Sequence[uuid.UUID], downstream: bool
) -> tuple[dict[uuid.UUID, int], int]:
    """Per drawn node, its distinct direct neighbours (targets when ``downstream``, sources
    otherwise) that are not drawn; and how many distinct ones there are in all."""
    if not drawn:
        return {}, 0
    near, far = ("src_id", "dst_id") if downstream else ("dst_id", "src_id")
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    rows = await driver.fetch(
        "WITH d AS MATERIALIZED (SELECT DISTINCT unnest($1::uuid[]) AS id) "
        f"SELECT e.{near}, count(DISTINCT e.{far}) FROM d JOIN lineage_edges e ON e.{near} = d.id "
        f"WHERE NOT EXISTS (SELECT 1 FROM d AS o WHERE o.id = e.{far}) "
        f"GROUP BY GROUPING SETS ((e.{near}), ())",
        list(drawn),
    )
    per = {r[0]: int(r[1]) for r in rows if r[0] is not None}
    total = next((int(r[1]) for r in rows if r[0] is None), 0)
    return per, total


# -- bulk ingestion -----------------------------------------------------------------------------
# The ingestion's ON CONFLICT statements as text, one per table, built once. SQLAlchemy does
# not cache its PostgreSQL INSERT (ON CONFLICT is not part of a cache key), so each was compiled
# again on every request (~1 ms of a single event's CPU each, BENCHMARKS.md "Hot paths"); a
# text clause is cached, and its rows travel as one array per column (any batch size, one
# statement, inserted in the arrays' order as before).
_NEW_HASHES = text(
    "INSERT INTO ingested_events (hash) SELECT unnest(CAST(:hashes AS varchar[])) "
    "ON CONFLICT DO NOTHING RETURNING hash"
)


async def new_event_hashes(session: AsyncSession, hashes: Sequence[str]) -> set[str]:
    """Record hashes; return those not seen before (a replayed event is skipped)."""
    if not hashes:
        return set()
    rows = await session.scalars(_NEW_HASHES, {"hashes": list(dict.fromkeys(hashes))})
    return set(rows)


async def update_dataset_fields(
    session: AsyncSession, updates: dict[uuid.UUID, list[dict[str, Any]]]
) -> None:
    """New schemas from facets, in one round trip; an unchanged schema touches no row."""
    if not updates:
        return
    t = cast(Table, Dataset.__table__)
    new = bindparam("new_fields", type_=Dataset.fields.type)
    await session.execute(
        update(t)
        .where(t.c.id == bindparam("ds_id"), t.c.fields != new)
        .values(fields=new, updated_at=func.now(), version=t.c.version + 1),
        [{"ds_id": ds_id, "new_fields": fields} for ds_id, fields in updates.items()],
    )


async def process_ids(
    session: AsyncSession, org_id: uuid.UUID, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    """The org's own jobs with these names (job names are unique per org)."""
    if not keys:
        return {}
    rows = await session.execute(
        select(Process.namespace, Process.name, Process.id).where(
            tuple_(Process.namespace, Process.name).in_(list(keys)), Process.org_id == org_id
        )
    )
    return {(r[0], r[1]): r[2] for r in rows}


async def process_sql(
    session: AsyncSession, org_id: uuid.UUID, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str | None]:
    """The SQL stored on the org's own jobs with these names."""
    out: dict[tuple[str, str], str | None] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 5000):
        rows = await session.execute(
            select(Process.namespace, Process.name, Process.sql).where(
                tuple_(Process.namespace, Process.name).in_(unique[start : start + 5000]),
                Process.org_id == org_id,
            )
        )
        out |= {(r[0], r[1]): r[2] for r in rows}
    return out


async def upsert_processes(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> dict[tuple[str, str], uuid.UUID]:
    """Insert new processes of one org; update existing ones only where a facet changed
    something, so re-runs of a known job take no row lock (concurrent producers do not queue
    on it)."""
    if not rows:
        return {}
    org_id = rows[0]["org_id"]
    keys = [(r["namespace"], r["name"]) for r in rows]
    existing = {
        (p.namespace, p.name): p
        for p in await session.execute(
            select(
                Process.namespace,
                Process.name,
                Process.id,
                Process.type,
                Process.sql,
                Process.description,
                Process.owners,
                Process.source_code,
            ).where(tuple_(Process.namespace, Process.name).in_(keys), Process.org_id == org_id)
        )
    }
    fresh = [r for r in rows if (r["namespace"], r["name"]) not in existing]
    ids = {k: p.id for k, p in existing.items()}
    if fresh:
        result = await session.execute(
            insert(Process)
            .on_conflict_do_nothing(
                index_elements=[Process.namespace, Process.name, Process.org_id]
            )
            .returning(Process.namespace, Process.name, Process.id),
            fresh,
        )
        ids |= {(r[0], r[1]): r[2] for r in result}
        if len(ids) < len(keys):  # inserted by a concurrent batch meanwhile
            ids |= await process_ids(session, org_id, [k for k in keys if k not in ids])
    for row in rows:
        proc = existing.get((row["namespace"], row["name"]))
        if proc is None:
            continue
        changes: dict[str, Any] = {}
        if row["type"] != "other" and row["type"] != proc.type:
            changes["type"] = row["type"]
        if row["sql"] and row["sql"] != proc.sql:
            changes["sql"] = row["sql"]
        if row["description"] and row["description"] != proc.description:
            changes["description"] = row["description"]
        if row["owners"] and row["owners"] != proc.owners:
            changes["owners"] = row["owners"]
        merged = {**(proc.source_code or {}), **row["source_code"]}
        if merged != (proc.source_code or {}):
            changes["source_code"] = merged
        if changes:
            await session.execute(
                update(Process)
                .where(Process.id == proc.id)
                .values(**changes, updated_at=func.now())
            )
    return ids


async def existing_runs(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, str]]
) -> set[tuple[uuid.UUID, str]]:
    if not keys:
        return set()
    rows = await session.execute(
        select(Run.process_id, Run.run_id).where(tuple_(Run.process_id, Run.run_id).in_(list(keys)))
    )
    return {(r[0], r[1]) for r in rows}


_UPSERT_RUNS = text(
    "WITH u AS (INSERT INTO runs AS r (id, process_id, run_id, state, started_at, ended_at, "
    "event_time, facets) "
    "SELECT u.id, u.process_id, u.run_id, u.state, u.started_at, u.ended_at, u.event_time, "
    "u.facets::jsonb FROM unnest(CAST(:id AS uuid[]), CAST(:process_id AS uuid[]), "
    "CAST(:run_id AS varchar[]), CAST(:state AS varchar[]), "
    "CAST(:started_at AS timestamptz[]), CAST(:ended_at AS timestamptz[]), "
    "CAST(:event_time AS timestamptz[]), CAST(:facets AS text[])) "
    "AS u(id, process_id, run_id, state, started_at, ended_at, event_time, facets) "
    "ON CONFLICT (process_id, run_id) DO UPDATE SET "
    "state = CASE WHEN excluded.event_time >= r.event_time THEN excluded.state ELSE r.state END, "
    "event_time = greatest(r.event_time, excluded.event_time), "
    "started_at = coalesce(r.started_at, excluded.started_at), "
    "ended_at = coalesce(excluded.ended_at, r.ended_at), "
    "facets = r.facets || excluded.facets "
    "RETURNING r.process_id, r.state, r.event_time) "
    "UPDATE processes p SET latest_run_state = n.state, latest_run_at = n.event_time "
    "FROM (SELECT DISTINCT ON (process_id) process_id, state, event_time FROM u "
    "      ORDER BY process_id, event_time DESC) n "
    "WHERE p.id = n.process_id "
    "AND (p.latest_run_at IS NULL OR n.event_time >= p.latest_run_at)"
)
_RUN_COLUMNS = ("id", "process_id", "run_id", "state", "started_at", "ended_at", "event_time")


async def upsert_runs(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Runs spread over many events: the newest event decides the state; start and end stick.
    One row per (process, run) in ``rows`` (a statement may not update a row twice).

    Their processes' latest run is kept in the same statement (one round trip, not a second
    that read the runs again): a run's ``event_time`` only grows and runs are deleted only
    with their process, so a process's latest run is the newest of what it was and the rows
    just written (as RETURNING gives them). The ``>=`` is rechecked on the process row's
    newest version when another transaction updated it first (READ COMMITTED), so a
    concurrent ingestion's newer run is not overwritten by an older one."""
    if not rows:
        return
    params: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in _RUN_COLUMNS}
    params["facets"] = [orjson.dumps(r["facets"]).decode() for r in rows]
    await session.execute(_UPSERT_RUNS, params)


_INSERT_EDGES = text(
    "INSERT INTO lineage_edges (id, src_id, dst_id, src_kind, dst_kind, org_id, origin) "
    "SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:src_id AS uuid[]), "
    "CAST(:dst_id AS uuid[]), CAST(:src_kind AS varchar[]), CAST(:dst_kind AS varchar[]), "
    "CAST(:org_id AS uuid[]), CAST(:origin AS varchar[])) "
    "ON CONFLICT DO NOTHING RETURNING src_id, dst_id"
)
_EDGE_COLUMNS = ("id", "src_id", "dst_id", "src_kind", "dst_kind", "org_id", "origin")


async def insert_edges(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Insert edges that are new; returns (src, dst) of those inserted."""
    if not rows:
        return []
    params = {c: [r[c] for r in rows] for c in _EDGE_COLUMNS}
    result = await session.execute(_INSERT_EDGES, params)
    return [(r[0], r[1]) for r in result]


async def insert_column_edges(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    result = await session.execute(
        insert(ColumnEdge).on_conflict_do_nothing().returning(ColumnEdge.id), rows
    )
    return len(result.all())


# -- dataset facets and quality ----------------------------------------------------------------
async def dataset_facet_state(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, str, str, list[str], str]]:
    """(org, description, who wrote it, facet owners last applied, name) per dataset."""
    if not ids:
        return {}
    rows = await session.execute(
        select(
            Dataset.id,
            Dataset.org_id,
            Dataset.description,
            Dataset.description_source,
            Dataset.facet_owners,
            Dataset.name,
        ).where(Dataset.id == any_(_uuids(ids)))
    )
    return {r[0]: (r[1], r[2], r[3], list(r[4] or []), r[5]) for r in rows}


async def org_users_by_email(
    session: AsyncSession, org_id: uuid.UUID, emails: Sequence[str]
) -> dict[str, uuid.UUID]:
    """Active users of an org with these (lower-case) e-mails."""
    if not emails:
        return {}
    rows = await session.execute(
        select(func.lower(User.email), User.id).where(
            User.org_id == org_id,
            User.disabled.is_(False),
            func.lower(User.email).in_(list(emails)),
        )
    )
    return {r[0]: r[1] for r in rows}


async def add_dataset_owners(
    session: AsyncSession, dataset_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> None:
    if user_ids:
        await session.execute(
            insert(DatasetOwner)
            .values([{"dataset_id": dataset_id, "user_id": u} for u in dict.fromkeys(user_ids)])
            .on_conflict_do_nothing()
        )


async def update_dataset_facets(
    session: AsyncSession, dataset_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Apply what facets said to a dataset (a new version: its ETag changes)."""
    await session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id)
        .values(**values, updated_at=func.now(), version=Dataset.version + 1)
    )


async def upsert_quality(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One row per run and dataset; a later event's figures replace earlier ones, absent ones
    keep them (a START may carry input metrics, the COMPLETE the output statistics)."""
    if not rows:
        return
    stmt = insert(DatasetQuality)
    new = stmt.excluded
    has_assertions = func.jsonb_array_length(new.assertions) > 0
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            DatasetQuality.dataset_id,
            DatasetQuality.process_id,
            DatasetQuality.run_id,
        ],
        set_={
            "event_time": func.greatest(DatasetQuality.event_time, new.event_time),
            "dataset_version": func.coalesce(new.dataset_version, DatasetQuality.dataset_version),
            "row_count": func.coalesce(new.row_count, DatasetQuality.row_count),
            "bytes": func.coalesce(new.bytes, DatasetQuality.bytes),
            "file_count": func.coalesce(new.file_count, DatasetQuality.file_count),
            "column_metrics": case(
                (new.column_metrics != text("'{}'::jsonb"), new.column_metrics),
                else_=DatasetQuality.column_metrics,
            ),
            "assertions": case((has_assertions, new.assertions), else_=DatasetQuality.assertions),
            "failed_assertions": case(
                (has_assertions, new.failed_assertions), else_=DatasetQuality.failed_assertions
            ),
        },
    )
    await session.execute(stmt, rows)


async def quality_history(
    session: AsyncSession, dataset_id: uuid.UUID, limit: int
) -> list[tuple[DatasetQuality, str, str]]:
    """A dataset's quality records, newest first, with the process's name and namespace."""
    rows = await session.execute(
        select(DatasetQuality, Process.name, Process.namespace)
        .join(Process, Process.id == DatasetQuality.process_id)
        .where(DatasetQuality.dataset_id == dataset_id)
        .order_by(DatasetQuality.event_time.desc(), DatasetQuality.id.desc())
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def dataset_and_process_names(
    session: AsyncSession, dataset_id: uuid.UUID, process_id: uuid.UUID
) -> tuple[str, uuid.UUID, str] | None:
    row = (
        await session.execute(
            select(
                Dataset.name,
                Dataset.org_id,
                select(Process.name).where(Process.id == process_id).scalar_subquery(),
            ).where(Dataset.id == dataset_id)
        )
    ).first()
    return (row[0], row[1], row[2]) if row and row[2] is not None else None


async def run_facets(session: AsyncSession, process_id: uuid.UUID, run_id: str) -> dict[str, Any]:
    """A run's facets as stored (merged over its events)."""
    found = await session.scalar(
        select(Run.facets).where(Run.process_id == process_id, Run.run_id == run_id)
    )
    return dict(found or {})


async def process_io(session: AsyncSession, process_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The datasets a process reads (``input``) and writes (``output``)."""
    rows = await session.execute(
        select(LineageEdge.src_id, text("'input'"))
        .where(LineageEdge.dst_id == process_id, LineageEdge.src_kind == "dataset")
        .union_all(
            select(LineageEdge.dst_id, text("'output'")).where(
                LineageEdge.src_id == process_id, LineageEdge.dst_kind == "dataset"
            )
        )
    )
    return [(r[0], r[1]) for r in rows]


async def replace_process_lineage(
    session: AsyncSession,
    edges: dict[uuid.UUID, list[dict[str, Any]]],
    column_edges: dict[uuid.UUID, list[dict[str, Any]]],
) -> tuple[list[tuple[uuid.UUID, uuid.UUID]], list[tuple[uuid.UUID, uuid.UUID]]]:
    """Make these processes' edges and column edges exactly these (their SQL decides them all):
    missing ones are added, stale ones deleted, the rest untouched, in a few statements for all
    processes at once. Returns (added, removed) edges."""
    procs = list(edges)
    if not procs:
        return [], []
    wanted = {(r["src_id"], r["dst_id"]) for rows in edges.values() for r in rows}
    current: set[tuple[uuid.UUID, uuid.UUID]] = set()
    existing: dict[tuple[Any, ...], uuid.UUID] = {}
    for start in range(0, len(procs), 5000):
        chunk = _uuids(procs[start : start + 5000])
        current |= {
            (r[0], r[1])
            for r in await session.execute(
                select(LineageEdge.src_id, LineageEdge.dst_id).where(
                    or_(LineageEdge.src_id == any_(chunk), LineageEdge.dst_id == any_(chunk))
                )
            )
        }
        existing |= {
            (r[1], r[2], r[3], r[4]): r[0]
            for r in await session.execute(
                select(
                    ColumnEdge.id,
                    ColumnEdge.output_dataset_id,
                    ColumnEdge.output_field,
                    ColumnEdge.input_dataset_id,
                    ColumnEdge.input_field,
                ).where(ColumnEdge.process_id == any_(chunk))
            )
        }
    stale = sorted(current - wanted, key=lambda k: (str(k[0]), str(k[1])))
    for start in range(0, len(stale), 5000):
        await session.execute(
            delete(LineageEdge).where(
                tuple_(LineageEdge.src_id, LineageEdge.dst_id).in_(stale[start : start + 5000])
            )
        )
    added = await insert_edges(
        session,
        [r for rows in edges.values() for r in rows if (r["src_id"], r["dst_id"]) not in current],
    )

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["output_dataset_id"], r["output_field"], r["input_dataset_id"], r["input_field"])

    keys = {key(r) for rows in column_edges.values() for r in rows}
    gone = [edge_id for k, edge_id in existing.items() if k not in keys]
    for start in range(0, len(gone), 5000):
        await session.execute(
            delete(ColumnEdge).where(ColumnEdge.id == any_(_uuids(gone[start : start + 5000])))
        )
    await insert_column_edges(
        session, [r for rows in column_edges.values() for r in rows if key(r) not in existing]
    )
    return added, stale


# -- projection cursor --------------------------------------------------------------------------
async def cursor(session: AsyncSession, name: str) -> int:
    value = await session.scalar(select(GraphCursor.last_seq).where(GraphCursor.name == name))
    return int(value or 0)


async def set_cursor(session: AsyncSession, name: str, seq: int) -> None:
    stmt = insert(GraphCursor).values(name=name, last_seq=seq)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[GraphCursor.name], set_={"last_seq": seq, "updated_at": func.now()}
        )
    )


async def node_statuses(
    session: AsyncSession, node_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Health of the connections (catalog nodes) datasets live on."""
    if not node_ids:
        return {}
    rows = await session.execute(
        select(Node.id, Node.status).where(Node.id.in_(list(set(node_ids))))
    )
    return {r[0]: r[1] for r in rows}


# -- lineage index (read model) -----------------------------------------------------------------
_VIS_CODE = "CASE visibility WHEN 'public' THEN 0 WHEN 'internal' THEN 1 WHEN 'private' THEN 2 END"
_NIL = "'00000000-0000-0000-0000-000000000000'::uuid"
_PLATFORM_NO = "(dense_rank() OVER (ORDER BY coalesce(platform, '')) - 1)::int4"
# Who has people, as a join: an ``id IN (SELECT ...)`` is hashed only while the hash fits in
# work_mem; past that (~650,000 ownerships and follows at 1M datasets) PostgreSQL rescans the
# subquery for every dataset and the build ran into the statement timeout.
_HAS_PEOPLE = "(coalesce(cardinality(named_owners), 0) > 0 OR people.dataset_id IS NOT NULL)"
_PEOPLE_JOIN = (
    " LEFT JOIN (SELECT dataset_id FROM dataset_owners UNION SELECT dataset_id FROM follows)"
    " AS people ON people.dataset_id = datasets.id"
)
SNAPSHOT_NODES = (
    f"SELECT id, false, coalesce(org_id, {_NIL}), coalesce({_VIS_CODE}, 255)::int2,"
    f" {_PLATFORM_NO}, {_HAS_PEOPLE}, octet_length(name)::int4 FROM datasets{_PEOPLE_JOIN}"
    f" UNION ALL SELECT id, true, coalesce(org_id, {_NIL}), 255::int2, -1, false, 0"
    " FROM processes"
)
SNAPSHOT_NAMES = "SELECT coalesce(string_agg(name, '' ORDER BY id), '') FROM datasets"
"""Every dataset's name, one after the other in id order (their lengths in bytes are in
``SNAPSHOT_NODES``): one value, no row per dataset."""
SNAPSHOT_PLATFORMS = "SELECT DISTINCT coalesce(platform, '') FROM datasets ORDER BY 1"
SNAPSHOT_PEOPLE = (
    "SELECT dataset_id, user_id, 0::int2 FROM dataset_owners"
    " UNION ALL SELECT dataset_id, user_id, 1::int2 FROM follows"
)
"""Who owns (0) and follows (1) each dataset, for the index's people arrays."""
_NAMED = (
    "FROM datasets d CROSS JOIN LATERAL unnest(d.named_owners) AS n(who)"
    " WHERE cardinality(d.named_owners) > 0 AND n.who IS NOT NULL"
)
SNAPSHOT_NAMED = 'SELECT d.id, (dense_rank() OVER (ORDER BY n.who COLLATE "C") - 1)::int4 ' + _NAMED
"""The owners named by ownership facets, as (dataset, number of the name in ``named_owners``)."""
SNAPSHOT_NAMED_NAMES = 'SELECT DISTINCT n.who COLLATE "C", lower(n.who) ' + _NAMED + " ORDER BY 1"
"""Those names in the order ``SNAPSHOT_NAMED`` numbers them, each with the key people are
grouped by (PostgreSQL's ``lower``, as ``people_of`` groups them)."""
"""The platform names, in the order ``SNAPSHOT_NODES`` numbers them (same snapshot)."""
SNAPSHOT_EDGES = (
    "SELECT src_id, dst_id, src_kind = 'process', dst_kind = 'process' FROM lineage_edges"
)
# Rows of ``COPY ... (FORMAT binary)`` with fixed-width, non-null columns have a fixed size, so
# numpy reads them as records: a field count, then per field its length and its bytes.
_F, _L = ">i2", ">i4"
NODE_ROW = np.dtype(
    [
        *(("n", _F), ("l0", _L), ("id", "V16"), ("l1", _L), ("proc", "?")),
        *(("l2", _L), ("org", "V16"), ("l3", _L), ("vis", ">i2"), ("l4", _L), ("plat", ">i4")),
        *(("l5", _L), ("people", "?"), ("l6", _L), ("name_len", ">i4")),
    ]
)
PEOPLE_ROW = np.dtype(
    [
        *(("n", _F), ("l0", _L), ("ds", "V16"), ("l1", _L), ("user", "V16")),
        *(("l2", _L), ("kind", ">i2")),
    ]
)
NAMED_ROW = np.dtype([("n", _F), ("l0", _L), ("ds", "V16"), ("l1", _L), ("who", ">i4")])
EDGE_ROW = np.dtype(
    [
        *(("n", _F), ("l0", _L), ("src", "V16"), ("l1", _L), ("dst", "V16")),
        *(("l2", _L), ("src_proc", "?"), ("l3", _L), ("dst_proc", "?")),
    ]
)
_COPY_HEADER = 19  # signature (11), flags (4), header extension length (4)
_COPY_CHUNK = 8 << 20
SNAPSHOT_SECONDS = 900.0
"""How long one snapshot read of an index build may take. A build is background work: a
catalog of millions of datasets reads for tens of seconds on a small machine, past the bound
of a request (``db_statement_timeout_ms``), and a build cut by it never completes (tried again
and again while PostgreSQL answers every walk)."""


async def copy_records(session: AsyncSession, query: str, row: np.dtype[Any]) -> Any:
    """``query``'s rows as a numpy record array, through ``COPY ... TO STDOUT (FORMAT binary)``
    on the session's connection (its transaction, its snapshot), parsed chunk by chunk: no
    Python object per row, and at most a chunk of raw bytes held on top of the records."""
    raw = await (await session.connection()).get_raw_connection()
    driver: Any = raw.driver_connection
    parts: list[Any] = []
    pending = bytearray()
    skip = _COPY_HEADER

    def take(final: bool) -> None:
        nonlocal pending, skip
        body = memoryview(pending)[skip:]
        if final:
            body = body[: len(body) - 2]  # the trailer: a field count of -1
        whole = len(body) // row.itemsize * row.itemsize
        if whole:
            parts.append(np.frombuffer(body[:whole], dtype=row).copy())
        rest = bytes(body[whole:])
        body.release()
        pending = bytearray(rest)
        skip = 0

    async def sink(chunk: bytes) -> None:
        pending.extend(chunk)
        if len(pending) >= _COPY_CHUNK:
            take(final=False)

    await driver.copy_from_query(query, output=sink, format="binary", timeout=SNAPSHOT_SECONDS)
    take(final=True)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=row)


async def allow_snapshot_time(session: AsyncSession) -> None:
    """Lift the request's statement timeout for this transaction to ``SNAPSHOT_SECONDS`` (an
    index build's reads; a ``SET`` takes no snapshot)."""
    await session.execute(text(f"SET LOCAL statement_timeout = '{int(SNAPSHOT_SECONDS)}s'"))


async def outbox_head(session: AsyncSession) -> int:
    """The newest event's position (an index-only probe of the unique seq index)."""
    return int(await session.scalar(text("SELECT coalesce(max(seq), 0) FROM events")) or 0)


async def unread_events(
    session: AsyncSession, pos: Position
) -> tuple[list[tuple[int, dict[str, Any] | None]], dict[int, str]]:
    """Every event ``pos`` has not read (after it, or in one of its gaps), in seq order: the
    number of each (the gap rule needs them all) and the payload of the ``lineage.changed``
    ones (None for the others); and the dataset or process each other event is about (its
    org, visibility or platform may have changed)."""
    lineage = Event.type == "lineage.changed"
    payload = case((lineage, Event.payload), else_=None)
    about = case(
        (~lineage & Event.subject_kind.in_(("dataset", "process")), Event.subject_id), else_=None
    )
    rows = await session.execute(
        select(Event.seq, payload, about).where(pos.unread()).order_by(Event.seq)
    )
    out, touched = [], {}
    for seq, p, subject in rows:
        out.append((int(seq), p))
        if subject is not None:
            touched[int(seq)] = str(subject)
    return out, touched


async def platform_names(session: AsyncSession) -> list[str]:
    return [str(r) for r in await session.scalars(text(SNAPSHOT_PLATFORMS))]


async def seqs_after(session: AsyncSession, after: int) -> list[int]:
    """The numbers of the events after ``after`` this snapshot sees (index-only)."""
    rows = await session.scalars(select(Event.seq).where(Event.seq > after).order_by(Event.seq))
    return [int(s) for s in rows]


async def platform_counts(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[str, int]:
    """How many of these datasets live on each platform."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Dataset.platform, func.count())
        .where(Dataset.id == uuid_any(ids))
        .group_by(Dataset.platform)
    )
    return {str(r[0] or ""): int(r[1]) for r in rows}


# Each dataset of the blast radius keeps its place (``ord``): a person's reasons come nearest
# first, an owner's before a follower's on the same dataset.
_PEOPLE = text(
    """
WITH w AS (SELECT t.id, t.ord FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(id, ord)),
r AS (
  SELECT o.user_id, w.ord, 0 AS k, w.id AS ds FROM w JOIN dataset_owners o ON o.dataset_id = w.id
  UNION ALL
  SELECT f.user_id, w.ord, 1, w.id FROM w JOIN follows f ON f.dataset_id = w.id
),
p AS (
  SELECT u.id, u.name, u.email, count(*) AS total,
         (array_agg(r.k ORDER BY r.ord, r.k))[1:CAST(:shown AS int)] AS kinds,
         (array_agg(r.ds ORDER BY r.ord, r.k))[1:CAST(:shown AS int)] AS datasets
  FROM r JOIN users u ON u.id = r.user_id
  WHERE r.k = 0 OR NOT u.disabled
  GROUP BY u.id
)
SELECT p.id, p.name, p.email, p.total, p.kinds,
       ARRAY(SELECT d.name FROM unnest(p.datasets) WITH ORDINALITY AS x(id, o)
             JOIN datasets d ON d.id = x.id ORDER BY x.o) AS names
FROM p
"""
)
_PLAN_FOR_THESE_IDS = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('work_mem', '32MB', true)"
)


async def all_names(session: AsyncSession) -> bytes:
    """``SNAPSHOT_NAMES``, as UTF-8."""
    return str(await session.scalar(text(SNAPSHOT_NAMES)) or "").encode()


async def named_names(session: AsyncSession) -> list[tuple[str, str]]:
    """``SNAPSHOT_NAMED_NAMES``: (name, key) in the order ``SNAPSHOT_NAMED`` numbers them."""
    return [(str(r[0]), str(r[1])) for r in await session.execute(text(SNAPSHOT_NAMED_NAMES))]


_PEOPLE_ROWS = text(
    "SELECT dataset_id::text, user_id::text, 0 FROM dataset_owners"
    " WHERE dataset_id = ANY(CAST(:ids AS uuid[]))"
    " UNION ALL SELECT dataset_id::text, user_id::text, 1 FROM follows"
    " WHERE dataset_id = ANY(CAST(:ids AS uuid[]))"
)
_NAMED_ROWS = text(
    "SELECT d.id::text, n.who, lower(n.who) " + _NAMED + " AND d.id = ANY(CAST(:ids AS uuid[]))"
)


async def people_rows(
    session: AsyncSession, ids: Sequence[str]
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, str]]]:
    """The people of a few datasets, one row each (what the index holds for the others):
    (dataset, user, 0 owns | 1 follows) and (dataset, named owner, its key)."""
    if not ids:
        return [], []
    params = {"ids": list(ids)}
    users = [(r[0], r[1], int(r[2])) for r in await session.execute(_PEOPLE_ROWS, params)]
    named = [(r[0], r[1], r[2]) for r in await session.execute(_NAMED_ROWS, params)]
    return users, named


# Ids sent as one bytea of 16-byte UUIDs (the index's own bytes): no text and no UUID object
# per id on either side; the answers come back as arrays in the same order.
_IDS = (
    "WITH x AS (SELECT encode(substr(CAST(:raw AS bytea), i * 16 + 1, 16), 'hex')::uuid AS id,"
    " i AS o FROM generate_series(0, length(CAST(:raw AS bytea)) / 16 - 1) AS i) "
)
_USERS_BRIEF = text(
    _IDS + "SELECT array_agg(u.id IS NOT NULL ORDER BY x.o), array_agg(u.name ORDER BY x.o),"
    " array_agg(u.email ORDER BY x.o), array_agg(coalesce(u.disabled, false) ORDER BY x.o)"
    " FROM x LEFT JOIN users u ON u.id = x.id"
)


async def users_brief(
    session: AsyncSession, raw: bytes
) -> tuple[list[bool], list[str], list[str | None], list[bool]]:
    """Whether each of these users (16-byte ids, one after the other) exists, and their names,
    e-mails and disabled flags as they are now, in the same order."""
    if not raw:
        return [], [], [], []
    row = (await session.execute(_USERS_BRIEF, {"raw": raw})).one()
    return list(row[0]), list(row[1]), list(row[2]), list(row[3])


_NAMES = text("SELECT id::text, name FROM datasets WHERE id = ANY(CAST(:ids AS uuid[]))")


async def dataset_names(session: AsyncSession, ids: Sequence[str]) -> dict[str, str]:
    """The names of these datasets, by id text."""
    if not ids:
        return {}
    return {r[0]: r[1] for r in await session.execute(_NAMES, {"ids": list(ids)})}


async def plan_for_these_ids(session: AsyncSession) -> None:
    """Until the transaction ends, plan each statement for the ids it is given: the generic
    plan a prepared statement falls back to after five runs guesses a handful of ids and walks
    the indexes (~6x slower for a hub's 10^4); and room to sort them in memory."""
    await session.execute(_PLAN_FOR_THESE_IDS)


_NAMED_OWNERS = text(
    """
WITH w AS (SELECT t.id, t.ord FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(id, ord))
SELECT lower(n.who), (array_agg(n.who ORDER BY w.ord))[1], count(*),
       (array_agg(d.name ORDER BY w.ord))[1:CAST(:shown AS int)]
FROM w JOIN datasets d ON d.id = w.id CROSS JOIN LATERAL unnest(d.named_owners) AS n(who)
WHERE cardinality(d.named_owners) > 0 AND n.who IS NOT NULL
GROUP BY lower(n.who)
"""
)


async def people_of(
    session: AsyncSession, ids: Sequence[uuid.UUID | str], *, shown: int
) -> tuple[
    list[tuple[uuid.UUID, str, str | None, int, list[str]]],
    list[tuple[str, str, int, list[str]]],
]:
    """Who owns and follows these datasets, one row per person, aggregated in PostgreSQL (a
    hub's blast radius has tens of thousands of ownerships): users as (id, name, email, how
    many reasons, the first ``shown`` reasons in ``ids``' order: "owns <dataset name>" or
    "follows <dataset name>"), and the owners named by ownership facets as (lowercased key,
    name, how many, the first reasons). Who is told, and how, is the service's rule."""
    if not ids:
        return [], []
    params = {"ids": list(ids), "shown": shown}
    await plan_for_these_ids(session)
    users = [
        (
            r[0],
            r[1],
            r[2],
            int(r[3]),
            [f"{'owns' if k == 0 else 'follows'} {n}" for k, n in zip(r[4], r[5], strict=True)],
        )
        for r in await session.execute(_PEOPLE, params)
    ]
    named = [
        (r[0], r[1], int(r[2]), [f"owns {n}" for n in r[3]])
        for r in await session.execute(_NAMED_OWNERS, params)
    ]
    return users, named


_OWNERS = text(
    "SELECT DISTINCT user_id FROM dataset_owners WHERE dataset_id = ANY(CAST(:ids AS uuid[]))"
)


async def owner_ids(session: AsyncSession, ids: Sequence[uuid.UUID | str]) -> set[uuid.UUID]:
    """The users who own any of these datasets (ids as UUIDs or their text)."""
    if not ids:
        return set()
    return set((await session.scalars(_OWNERS, {"ids": list(ids)})).all())


def uuid_any(ids: Sequence[uuid.UUID]) -> Any:
    """``= ANY($1::uuid[])``: one array parameter, however many ids (an IN list binds one
    parameter per id, at most 32,767, and costs more to compile)."""
    return any_(bindparam("ids", list(ids), type_=ARRAY(PG_UUID(as_uuid=True)), unique=True))
