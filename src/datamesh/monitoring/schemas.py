"""Pipeline health payloads (see the API contract, section "Pipeline health")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from datamesh.kit.schemas import InputModel, OutputModel

SlaState = Literal["ok", "breached", "unknown"]
Health = Literal["ok", "failing", "breached", "running", "unknown"]


class DailyBy(InputModel):
    """Updated every day by a time of day (UTC)."""

    kind: Literal["daily_by"]
    at: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, UTC")


class MaxAge(InputModel):
    """Never older than a number of hours."""

    kind: Literal["max_age"]
    hours: int = Field(ge=1, le=8760)


SlaSet = Annotated[DailyBy | MaxAge, Field(discriminator="kind")]


class Sla(OutputModel):
    dataset_id: uuid.UUID
    kind: Literal["daily_by", "max_age"]
    at: str | None
    hours: int | None
    state: SlaState
    last_complete_at: datetime | None = Field(
        description="End of the last COMPLETE run of a process that writes the dataset"
    )
    due_at: datetime | None = Field(
        description="The deadline the data must next meet (the missed one while breached)"
    )
    breached_since: datetime | None
    updated_at: datetime


class NodeStatus(OutputModel):
    kind: Literal["dataset", "process"]
    health: Health
    latest_run_state: str | None
    sla_state: SlaState | None


class DatasetBrief(OutputModel):
    id: uuid.UUID
    name: str
    platform: str


class ProcessBrief(OutputModel):
    id: uuid.UUID
    name: str
    namespace: str


class Breach(OutputModel):
    dataset: DatasetBrief
    kind: Literal["daily_by", "max_age"]
    due_at: datetime | None
    breached_since: datetime | None
    impact_count: int


class FailedRun(OutputModel):
    process: ProcessBrief
    run_id: str | None
    error_message: str | None = Field(
        None, description="The errorMessage facet of the failed run, if its producer sent one"
    )
    failed_at: datetime | None
    impact_count: int


class FailedCheck(OutputModel):
    assertion: str
    column: str | None = None
    severity: str | None = None
    name: str | None = None
    expected: str | None = None
    actual: str | None = None


class FailedAssertions(OutputModel):
    """A dataset whose latest run-reported data quality assertions found issues."""

    dataset: DatasetBrief
    process: ProcessBrief | None = Field(description="Null when the job is another org's")
    run_id: str | None
    failed_at: datetime
    failed: list[FailedCheck]
    failed_count: int
    impact_count: int


class Overview(OutputModel):
    breaches: list[Breach]
    failed_runs: list[FailedRun]
    failed_assertions: list[FailedAssertions] = []
    generated_at: datetime


class Coverage(OutputModel):
    org_id: uuid.UUID
    datasets: int
    with_lineage: int
    with_owners: int
    with_sla: int
    lineage_share: float
    owners_share: float
    sla_share: float
    dashboards: int
    annotated_nodes: int
