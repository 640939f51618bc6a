"""SQL for pipeline health: SLAs and their evaluation, node status, overview, coverage."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.models.catalog import Dataset, DatasetOwner
from datamesh.models.dashboards import Dashboard
from datamesh.models.lineage import DatasetQuality, LineageEdge, Process, Run
from datamesh.models.monitoring import DatasetSla

EVALUATION_LOCK = "datamesh.sla_evaluation"


def last_complete_of(dataset_id: Any) -> Any:
    """End of the last COMPLETE run of any process that writes the dataset (an output edge)."""
    return (
        select(func.max(func.coalesce(Run.ended_at, Run.event_time)))
        .join(LineageEdge, LineageEdge.src_id == Run.process_id)
        .where(
            LineageEdge.dst_id == dataset_id,
            LineageEdge.src_kind == "process",
            Run.state == "COMPLETE",
        )
        .scalar_subquery()
    )


# -- SLAs ---------------------------------------------------------------------------------------
async def get_sla(
    session: AsyncSession, dataset_id: uuid.UUID, *, for_update: bool = False
) -> DatasetSla | None:
    stmt = select(DatasetSla).where(DatasetSla.dataset_id == dataset_id)
    if for_update:
        stmt = stmt.with_for_update()
    found: DatasetSla | None = await session.scalar(stmt)
    return found


async def add(session: AsyncSession, sla: DatasetSla) -> DatasetSla:
    session.add(sla)
    await session.flush()
    return sla


async def delete(session: AsyncSession, sla: DatasetSla) -> None:
    await session.delete(sla)
    await session.flush()


async def last_complete(session: AsyncSession, dataset_id: uuid.UUID) -> datetime | None:
    found: datetime | None = await session.scalar(select(last_complete_of(dataset_id)))
    return found


async def try_evaluation_lock(session: AsyncSession) -> bool:
    """One evaluator at a time across replicas (released at the end of the transaction)."""
    got = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"), {"name": EVALUATION_LOCK}
    )
    return bool(got)


@dataclass(slots=True)
class SlaRow:
    sla: DatasetSla
    dataset_name: str
    last_complete_at: datetime | None


async def slas_to_evaluate(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[SlaRow]:
    stmt = (
        select(DatasetSla, Dataset.name, last_complete_of(DatasetSla.dataset_id))
        .join(Dataset, Dataset.id == DatasetSla.dataset_id)
        .order_by(DatasetSla.dataset_id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(DatasetSla.dataset_id > after)
    return [SlaRow(r[0], r[1], r[2]) for r in (await session.execute(stmt)).all()]


async def move_state(
    session: AsyncSession,
    dataset_id: uuid.UUID,
    state: str,
    values: dict[str, Any],
    *,
    only_from: str,
    set_at: datetime,
) -> bool:
    """Move an SLA from ``only_from`` to ``state`` if nobody changed it since it was read (not
    another evaluator, not a new setting): of two evaluators racing, one moves it, once."""
    moved = await session.scalar(
        update(DatasetSla)
        .where(
            DatasetSla.dataset_id == dataset_id,
            DatasetSla.state == only_from,
            DatasetSla.updated_at == set_at,
        )
        .values(state=state, **values)
        .returning(DatasetSla.dataset_id)
    )
    return moved is not None


async def refresh_figures(
    session: AsyncSession, dataset_id: uuid.UUID, state: str, values: dict[str, Any]
) -> None:
    """Update due date and freshness within the same state (no transition, no event)."""
    cols = [getattr(DatasetSla, k) for k in values]
    changed = or_(*[c.is_distinct_from(values[k]) for k, c in zip(values, cols, strict=True)])
    await session.execute(
        update(DatasetSla)
        .where(DatasetSla.dataset_id == dataset_id, DatasetSla.state == state, changed)
        .values(**values)
    )


# -- status -------------------------------------------------------------------------------------
async def readable_datasets(
    session: AsyncSession, p: Principal, ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    if not ids:
        return []
    rows = await session.scalars(
        select(Dataset.id).where(Dataset.id.in_(list(ids)), catalog.readable_clause(p, Dataset))
    )
    return list(rows)


async def org_processes(
    session: AsyncSession, p: Principal, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Process.id, Process.latest_run_state).where(
            Process.id.in_(list(ids)), Process.org_id == p.org_id
        )
    )
    return {r[0]: r[1] for r in rows}


async def sla_states(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(DatasetSla.dataset_id, DatasetSla.state).where(DatasetSla.dataset_id.in_(list(ids)))
    )
    return {r[0]: r[1] for r in rows}


async def writer_run_states(
    session: AsyncSession, p: Principal, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Per dataset, the latest run state among the processes that write it and that the caller
    may see (those of their org: another org's jobs are not shown, so neither are their runs)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(LineageEdge.dst_id, Process.latest_run_state)
        .join(Process, Process.id == LineageEdge.src_id)
        .where(
            LineageEdge.dst_id.in_(list(ids)),
            LineageEdge.src_kind == "process",
            Process.org_id == p.org_id,
            Process.latest_run_at.is_not(None),
        )
        .order_by(LineageEdge.dst_id, Process.latest_run_at.desc())
        .distinct(LineageEdge.dst_id)
    )
    return {r[0]: r[1] for r in rows if r[1] is not None}


# -- overview -----------------------------------------------------------------------------------
async def breached(
    session: AsyncSession, p: Principal, limit: int
) -> list[tuple[DatasetSla, Dataset]]:
    rows = await session.execute(
        select(DatasetSla, Dataset)
        .join(Dataset, Dataset.id == DatasetSla.dataset_id)
        .where(DatasetSla.state == "breached", catalog.readable_clause(p, Dataset))
        .order_by(DatasetSla.breached_since.asc().nulls_last(), Dataset.name)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


async def failing_processes(
    session: AsyncSession, p: Principal, limit: int
) -> list[tuple[Process, str | None, dict[str, Any]]]:
    """Processes of the caller's org whose latest run failed, with that run's id and facets."""
    last_run = (
        select(Run.run_id, Run.facets)
        .where(Run.process_id == Process.id)
        .order_by(Run.event_time.desc())
        .limit(1)
        .lateral("last_run")
    )
    rows = await session.execute(
        select(Process, last_run.c.run_id, last_run.c.facets)
        .outerjoin(last_run, true())
        .where(Process.org_id == p.org_id, Process.latest_run_state == "FAIL")
        .order_by(Process.latest_run_at.desc(), Process.id)
        .limit(limit)
    )
    return [(r[0], r[1], dict(r[2] or {})) for r in rows]


async def failing_assertions(
    session: AsyncSession, p: Principal, limit: int
) -> list[tuple[DatasetQuality, Dataset, Process]]:
    """Datasets the caller may read whose latest quality record has failed assertions."""
    latest = (
        select(DatasetQuality.id)
        .distinct(DatasetQuality.dataset_id)
        .order_by(
            DatasetQuality.dataset_id, DatasetQuality.event_time.desc(), DatasetQuality.id.desc()
        )
        .subquery()
    )
    rows = await session.execute(
        select(DatasetQuality, Dataset, Process)
        .join(latest, latest.c.id == DatasetQuality.id)
        .join(Dataset, Dataset.id == DatasetQuality.dataset_id)
        .join(Process, Process.id == DatasetQuality.process_id)
        .where(DatasetQuality.failed_assertions > 0, catalog.readable_clause(p, Dataset))
        .order_by(DatasetQuality.event_time.desc(), DatasetQuality.id)
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in rows]


# -- coverage -----------------------------------------------------------------------------------
def _readable_dashboard(p: Principal) -> ColumnElement[bool]:
    """The org's dashboards the caller may see (private ones: creator, admins, stewards)."""
    private_ok: list[ColumnElement[bool]] = []
    if p.kind == "user" and p.user_id is not None:
        private_ok.append(Dashboard.created_by == p.user_id)
    if p.role in ("admin", "steward"):
        private_ok.append(Dashboard.org_id == p.org_id)
    return and_(
        Dashboard.org_id == p.org_id,
        or_(Dashboard.visibility != "private", *private_ok),
    )


async def coverage(session: AsyncSession, p: Principal) -> dict[str, int]:
    """Counts over the org's datasets the caller may see, and its dashboards."""
    has_lineage = or_(
        exists().where(LineageEdge.src_id == Dataset.id),
        exists().where(LineageEdge.dst_id == Dataset.id),
    )
    has_owner = exists().where(DatasetOwner.dataset_id == Dataset.id)
    has_sla = exists().where(DatasetSla.dataset_id == Dataset.id)
    row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(has_lineage),
                func.count().filter(has_owner),
                func.count().filter(has_sla),
            ).where(
                Dataset.org_id == p.org_id,
                Dataset.status == "active",
                catalog.readable_clause(p, Dataset),
            )
        )
    ).one()
    layout_nodes = Dashboard.layout.op("->")("nodes")
    node = (
        func.jsonb_array_elements(
            case(
                (func.jsonb_typeof(layout_nodes) == "array", layout_nodes),
                else_=literal_column("'[]'::jsonb"),
            )
        )
        .table_valued("value")
        .lateral("node")
    )
    annotated = await session.scalar(
        select(func.count())
        .select_from(Dashboard)
        .join(node, true())
        .where(
            _readable_dashboard(p),
            func.jsonb_path_exists(
                node.c.value.op("->")("annotations"),
                literal_column("""'$.* ? (@.type() == "string" && @ != "")'::jsonpath"""),
            ),
        )
    )
    count_dashboards = await session.scalar(
        select(func.count()).select_from(Dashboard).where(_readable_dashboard(p))
    )
    return {
        "datasets": int(row[0]),
        "with_lineage": int(row[1]),
        "with_owners": int(row[2]),
        "with_sla": int(row[3]),
        "dashboards": int(count_dashboards or 0),
        "annotated_nodes": int(annotated or 0),
    }
