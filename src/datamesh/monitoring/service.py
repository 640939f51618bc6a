"""Pipeline health rules: freshness SLAs and their evaluation, node status, overview, coverage.

Freshness is the end of the last COMPLETE run of a process that writes the dataset (an output
edge). With no such run yet, deadlines count from when the SLA was set, so a pipeline that never
ran is flagged too. Every function that needs the time takes ``now``: the app's clock (which
tests control) is read by the caller.

- ``max_age`` of H hours: due ``H`` hours after the last complete run.
- ``daily_by`` HH:MM: the data must have been refreshed within the day before each day's
  deadline, so the next deadline to meet is the first HH:MM at least 24 hours after the last
  complete run (a run at 06:00 meets 07:00 the next day; one at 08:00 meets the one after).

Past its due time an SLA is ``breached`` (``breached_since`` = the missed deadline); before it,
``ok`` once a complete run is known, else ``unknown``. The evaluator moves states with a
conditional UPDATE, so with several replicas one transition is emitted once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.catalog import policies
from datamesh.catalog import service as catalog
from datamesh.errors import Forbidden, NotFound
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.refs import Ref
from datamesh.lineage import service as lineage
from datamesh.lineage.engine import GraphEngine
from datamesh.models.catalog import Dataset
from datamesh.models.monitoring import DatasetSla
from datamesh.monitoring import repository as repo
from datamesh.monitoring.schemas import DailyBy, MaxAge

EVALUATOR = Actor.system("sla-evaluator")
MAX_STATUS_IDS = 500
OVERVIEW_LIMIT = 100
_BATCH = 500
_FAILING = ("FAIL", "ABORT")
_RUNNING = ("START", "RUNNING")


# -- evaluation (pure) --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Evaluation:
    state: str
    due_at: datetime
    breached_since: datetime | None


def due_after(kind: str, at: str | None, hours: int | None, baseline: datetime) -> datetime:
    """The first deadline that a refresh at ``baseline`` does not meet."""
    baseline = baseline.astimezone(UTC)
    if kind == "max_age":
        assert hours is not None
        return baseline + timedelta(hours=hours)
    assert at is not None
    hh, mm = (int(x) for x in at.split(":"))
    earliest = baseline + timedelta(hours=24)
    deadline = datetime.combine(earliest.date(), time(hh, mm), tzinfo=UTC)
    return deadline if deadline >= earliest else deadline + timedelta(days=1)


def evaluate_one(
    kind: str,
    at: str | None,
    hours: int | None,
    set_at: datetime,
    last_complete_at: datetime | None,
    now: datetime,
) -> Evaluation:
    due = due_after(kind, at, hours, last_complete_at or set_at)
    if now > due:
        return Evaluation("breached", due, due)
    return Evaluation("ok" if last_complete_at is not None else "unknown", due, None)


# -- SLAs ---------------------------------------------------------------------------------------
def _spec(sla: DatasetSla | None) -> dict[str, Any]:
    return {"kind": sla.kind, "at": sla.at, "hours": sla.hours} if sla else {}


async def _editable_dataset(session: AsyncSession, p: Principal, dataset_id: uuid.UUID) -> Dataset:
    ds = await catalog.get(session, p, dataset_id)  # 404 if hidden
    owners = (await catalog.owners_of(session, [ds.id])).get(ds.id, [])
    if not policies.can_edit(p, ds.org_id, {u.id for u in owners}):
        raise Forbidden("You may not change this dataset's SLA.")
    return ds


async def get_sla(session: AsyncSession, p: Principal, dataset_id: uuid.UUID) -> DatasetSla:
    ds = await catalog.get(session, p, dataset_id)
    sla = await repo.get_sla(session, ds.id)
    if sla is None:
        raise NotFound("This dataset has no SLA.")
    return sla


async def set_sla(
    session: AsyncSession,
    p: Principal,
    dataset_id: uuid.UUID,
    data: DailyBy | MaxAge,
    now: datetime,
) -> DatasetSla:
    """Create or replace a dataset's SLA and evaluate it at once."""
    ds = await _editable_dataset(session, p, dataset_id)
    sla = await repo.get_sla(session, ds.id, for_update=True)
    before = _spec(sla)
    after = {
        "kind": data.kind,
        "at": data.at if isinstance(data, DailyBy) else None,
        "hours": data.hours if isinstance(data, MaxAge) else None,
    }
    if sla is not None and before == after:
        return sla
    previous = sla.state if sla is not None else None
    if sla is None:
        sla = await repo.add(
            session,
            DatasetSla(
                dataset_id=ds.id,
                org_id=ds.org_id,
                created_by=p.user_id if p.kind == "user" else None,
                updated_at=now,
                state="unknown",
                **after,
            ),
        )
    for key, value in after.items():
        setattr(sla, key, value)
    sla.updated_at = now
    last = await repo.last_complete(session, ds.id)
    ev = evaluate_one(sla.kind, sla.at, sla.hours, now, last, now)
    sla.state, sla.due_at, sla.breached_since, sla.last_complete_at = (
        ev.state,
        ev.due_at,
        ev.breached_since,
        last,
    )
    await session.flush()
    ref = catalog.ref(ds)
    await audit.record(
        session,
        p.actor(),
        "dataset.sla_set",
        ref,
        audit.diff(before, after),
        org_id=ds.org_id,
        details={"state": sla.state},
    )
    await events.emit(
        session, "dataset.sla_set", p.actor(), ref, {**after, "state": sla.state}, org_id=ds.org_id
    )
    await _announce(session, p.actor(), sla, ds.name, previous, with_audit=False)
    return sla


async def delete_sla(session: AsyncSession, p: Principal, dataset_id: uuid.UUID) -> None:
    ds = await _editable_dataset(session, p, dataset_id)
    sla = await repo.get_sla(session, ds.id, for_update=True)
    if sla is None:
        raise NotFound("This dataset has no SLA.")
    before = _spec(sla)
    await repo.delete(session, sla)
    ref = catalog.ref(ds)
    await audit.record(
        session, p.actor(), "dataset.sla_delete", ref, audit.diff(before, {}), org_id=ds.org_id
    )
    await events.emit(session, "dataset.sla_deleted", p.actor(), ref, before, org_id=ds.org_id)


async def _announce(
    session: AsyncSession,
    actor: Actor,
    sla: DatasetSla,
    dataset_name: str,
    previous: str | None,
    *,
    with_audit: bool,
) -> str | None:
    """Breach and recovery events (to the feed, the stream and the dataset's followers)."""
    if sla.state == "breached" and previous != "breached":
        kind = "breached"
    elif previous == "breached" and sla.state != "breached":
        kind = "recovered"
    else:
        return None
    ref = Ref("dataset", str(sla.dataset_id), dataset_name)
    payload = {
        "dataset_id": str(sla.dataset_id),
        "dataset_name": dataset_name,
        "kind": sla.kind,
        "due_at": sla.due_at,
        "last_complete_at": sla.last_complete_at,
    }
    if with_audit:
        await audit.record(
            session,
            actor,
            f"dataset.sla_{kind}",
            ref,
            {"state": {"before": previous, "after": sla.state}},
            org_id=sla.org_id,
            details=payload,
        )
    await events.emit(session, f"dataset.sla_{kind}", actor, ref, payload, org_id=sla.org_id)
    return kind


@dataclass(frozen=True, slots=True)
class Transition:
    dataset_id: uuid.UUID
    before: str
    after: str


async def evaluate(session: AsyncSession, now: datetime) -> list[Transition]:
    """Evaluate every SLA at ``now``; returns the state changes this call made (none if another
    process holds the evaluation lock). The caller commits."""
    if not await repo.try_evaluation_lock(session):
        return []
    moved: list[Transition] = []
    after: uuid.UUID | None = None
    while True:
        rows = await repo.slas_to_evaluate(session, after, _BATCH)
        for row in rows:
            sla = row.sla
            ev = evaluate_one(
                sla.kind, sla.at, sla.hours, sla.updated_at, row.last_complete_at, now
            )
            figures = {
                "due_at": ev.due_at,
                "breached_since": ev.breached_since,
                "last_complete_at": row.last_complete_at,
            }
            if ev.state == sla.state:
                if any(getattr(sla, k) != v for k, v in figures.items()):
                    await repo.refresh_figures(session, sla.dataset_id, sla.state, figures)
                continue
            previous = sla.state
            if not await repo.move_state(
                session,
                sla.dataset_id,
                ev.state,
                figures,
                only_from=previous,
                set_at=sla.updated_at,
            ):
                continue  # changed meanwhile (another evaluator, or the SLA was set again)
            session.expunge(sla)  # the UPDATE above wrote it; this copy only describes it
            sla.state, sla.due_at, sla.breached_since, sla.last_complete_at = (
                ev.state,
                ev.due_at,
                ev.breached_since,
                row.last_complete_at,
            )
            await _announce(session, EVALUATOR, sla, row.dataset_name, previous, with_audit=True)
            moved.append(Transition(sla.dataset_id, previous, ev.state))
        if len(rows) < _BATCH:
            return moved
        after = rows[-1].sla.dataset_id
        session.expunge_all()


# -- status, overview, coverage -----------------------------------------------------------------
def _run_health(state: str | None) -> str:
    if state in _FAILING:
        return "failing"
    if state in _RUNNING:
        return "running"
    if state == "COMPLETE":
        return "ok"
    return "unknown"


def _dataset_health(run_state: str | None, sla_state: str | None) -> str:
    if sla_state == "breached":
        return "breached"
    run = _run_health(run_state)
    if run in ("failing", "running"):
        return run
    if sla_state == "ok" or run == "ok":
        return "ok"
    return "unknown"


async def status(
    session: AsyncSession, p: Principal, ids: list[uuid.UUID]
) -> dict[str, dict[str, Any]]:
    """Health of the given datasets and processes; ids the caller may not see are left out."""
    datasets = await repo.readable_datasets(session, p, ids)
    seen = set(datasets)
    rest = [i for i in ids if i not in seen]
    processes = await repo.org_processes(session, p, rest)
    slas = await repo.sla_states(session, datasets)
    runs = await repo.writer_run_states(session, p, datasets)
    out: dict[str, dict[str, Any]] = {}
    for ds_id in datasets:
        out[str(ds_id)] = {
            "kind": "dataset",
            "health": _dataset_health(runs.get(ds_id), slas.get(ds_id)),
            "latest_run_state": runs.get(ds_id),
            "sla_state": slas.get(ds_id),
        }
    for proc_id, state in processes.items():
        out[str(proc_id)] = {
            "kind": "process",
            "health": _run_health(state),
            "latest_run_state": state,
            "sla_state": None,
        }
    return out


async def overview(
    session: AsyncSession, p: Principal, engine: GraphEngine, now: datetime, max_nodes: int
) -> dict[str, Any]:
    """Breached SLAs the caller may see and failing processes of their org, each with how many
    datasets are downstream."""
    breaches = []
    for sla, ds in await repo.breached(session, p, OVERVIEW_LIMIT):
        breaches.append(
            {
                "dataset": {"id": ds.id, "name": ds.name, "platform": ds.platform},
                "kind": sla.kind,
                "due_at": sla.due_at,
                "breached_since": sla.breached_since,
                "impact_count": await lineage.downstream_dataset_count(
                    session, ds.id, "dataset", engine=engine, max_nodes=max_nodes
                ),
            }
        )
    failed = []
    for proc, run_id, facets in await repo.failing_processes(session, p, OVERVIEW_LIMIT):
        failed.append(
            {
                "process": {"id": proc.id, "name": proc.name, "namespace": proc.namespace},
                "run_id": run_id,
                "error_message": lineage.error_message(facets),
                "failed_at": proc.latest_run_at,
                "impact_count": await lineage.downstream_dataset_count(
                    session, proc.id, "process", engine=engine, max_nodes=max_nodes
                ),
            }
        )
    assertions = []
    for q, ds, proc in await repo.failing_assertions(session, p, OVERVIEW_LIMIT):
        mine = proc.org_id == p.org_id  # another org's job is not named
        assertions.append(
            {
                "dataset": {"id": ds.id, "name": ds.name, "platform": ds.platform},
                "process": (
                    {"id": proc.id, "name": proc.name, "namespace": proc.namespace}
                    if mine
                    else None
                ),
                "run_id": q.run_id if mine else None,
                "failed_at": q.event_time,
                "failed": [a for a in q.assertions or [] if not a.get("success")][:20],
                "failed_count": q.failed_assertions,
                "impact_count": await lineage.downstream_dataset_count(
                    session, ds.id, "dataset", engine=engine, max_nodes=max_nodes
                ),
            }
        )
    return {
        "breaches": breaches,
        "failed_runs": failed,
        "failed_assertions": assertions,
        "generated_at": now,
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def coverage(session: AsyncSession, p: Principal) -> dict[str, Any]:
    """The seed's success metrics for the caller's org, over what the caller may see."""
    c = await repo.coverage(session, p)
    return {
        "org_id": p.org_id,
        **c,
        "lineage_share": _share(c["with_lineage"], c["datasets"]),
        "owners_share": _share(c["with_owners"], c["datasets"]),
        "sla_share": _share(c["with_sla"], c["datasets"]),
    }
