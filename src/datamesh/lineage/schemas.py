"""Lineage payloads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, computed_field

from datamesh.catalog.schemas import DatasetCreate
from datamesh.kit.schemas import InputModel, OutputModel
from datamesh.lineage.openlineage import error_message

NodeKind = Literal["dataset", "process"]


class AssetCreate(DatasetCreate):
    """A lineage asset is a catalog dataset."""


class ProcessCreate(InputModel):
    namespace: str = Field(min_length=1, max_length=500)
    name: str = Field(min_length=1, max_length=1000)
    type: str = Field("other", pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    description: str = Field("", max_length=20_000)
    owners: list[str] = Field(default_factory=list, max_length=50)
    source_code: dict[str, str] = Field(
        default_factory=dict, description="type, url, repo_url, path, version"
    )
    sql: str | None = Field(None, max_length=200_000)


class ProcessUpdate(InputModel):
    type: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    description: str | None = Field(None, max_length=20_000)
    owners: list[str] | None = Field(None, max_length=50)
    source_code: dict[str, str] | None = None
    sql: str | None = Field(None, max_length=200_000)


class RunOut(OutputModel):
    run_id: str
    state: str
    started_at: datetime | None
    ended_at: datetime | None
    event_time: datetime
    facets: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @computed_field(  # type: ignore[prop-decorator]
        description="The errorMessage run facet's message (a failed run's error), if sent"
    )
    @property
    def error_message(self) -> str | None:
        return error_message(self.facets)

    @computed_field(  # type: ignore[prop-decorator]
        description="Seconds from START to the final event, once both are known"
    )
    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


class RunPage(OutputModel):
    items: list[RunOut]
    next_cursor: str | None


class ProcessOut(OutputModel):
    id: uuid.UUID
    namespace: str
    name: str
    type: str
    description: str
    owners: list[str]
    source_code: dict[str, Any]
    sql: str | None
    latest_run_state: str | None
    latest_run_at: datetime | None
    origin: str
    org_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    runs: list[RunOut] = []
    inputs: list[GraphNode] = Field(
        default_factory=list, description="Datasets it reads (on GET of one process)"
    )
    outputs: list[GraphNode] = Field(
        default_factory=list, description="Datasets it writes (on GET of one process)"
    )


class ProcessPage(OutputModel):
    items: list[ProcessOut]
    next_cursor: str | None


class EdgeCreate(InputModel):
    source: str = Field(description="Node reference: UUID, dataset:<ns>:<name> or job:<ns>:<name>")
    target: str = Field(description="Node reference")


class EdgeOut(OutputModel):
    id: uuid.UUID
    source: uuid.UUID
    target: uuid.UUID
    source_kind: NodeKind
    target_kind: NodeKind
    origin: str
    created_at: datetime


class EdgePage(OutputModel):
    items: list[EdgeOut]
    next_cursor: str | None


class GraphNode(OutputModel):
    id: str
    kind: NodeKind
    name: str | None = None
    namespace: str | None = None
    depth: int
    health: str | None = Field(
        None,
        description="ok | error | unknown: the connection a dataset lives on, or a job's last run",
    )
    restricted: bool = False
    platform: str | None = None
    visibility: str | None = None
    more_upstream: int = Field(
        0,
        description="On GET /api/lineage/graph, for a node at the edge of the drawing (cut by "
        "depth or by the node cap): how many distinct nodes lie beyond it upstream that are not "
        "drawn (reached from it through undrawn nodes only; hidden ones counted, never named). "
        "Exact when `more_exact` (the lineage index answered); otherwise (PostgreSQL or Bolt "
        "engine) the number of its undrawn direct neighbours upstream, a lower bound. 0 inside "
        "the drawing. Expand by asking the graph again with node=<this id>.",
    )
    more_downstream: int = Field(0, description="As `more_upstream`, downstream (what it feeds).")


class GraphEdge(OutputModel):
    source: str
    target: str


class GraphMore(OutputModel):
    upstream: int = Field(
        0, description="Distinct undrawn nodes upstream of the whole drawing (see `more_exact`)."
    )
    downstream: int = Field(
        0, description="Distinct undrawn nodes downstream of the whole drawing."
    )


class Graph(OutputModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool
    engine: str
    more: GraphMore = Field(
        default_factory=GraphMore,
        description="What lies beyond the drawing, per direction: the union of the nodes' "
        "`more_upstream` / `more_downstream` sets, each node counted once.",
    )
    more_exact: bool = Field(
        False,
        description="True when the lineage index counted `more` and the nodes' more_* exactly; "
        "false: they count undrawn direct neighbours only (a lower bound).",
    )


class NotifyPerson(OutputModel):
    id: uuid.UUID | None = Field(
        description="The user; null for a named owner who is not a user (from an ownership facet)"
    )
    name: str
    email: str | None = None
    reasons: list[str] = Field(
        description="Why, nearest first: the first five (`owns <dataset>`, `follows <dataset>`)"
    )
    reasons_total: int = Field(description="How many reasons in all (owned and followed datasets)")


class ImpactItem(OutputModel):
    id: str
    kind: NodeKind
    name: str | None
    namespace: str | None
    distance: int
    restricted: bool = False
    owners: list[str] = []
    follower_count: int = 0
    health: str | None = None
    latest_run_state: str | None = None
    platform: str | None = None


class ImpactTotals(OutputModel):
    datasets: int
    processes: int
    restricted: int
    people: int
    hidden_owners: int = Field(
        0,
        description="People who own affected datasets you may not see: not named, and not in "
        "`notify`; their organization's admins can reach them.",
    )


class DistanceCount(OutputModel):
    distance: int
    count: int


class PlatformCount(OutputModel):
    platform: str
    count: int


class Impact(OutputModel):
    node: GraphNode
    depth: int
    items: list[ImpactItem] = Field(
        description="One page of the blast radius, ordered by distance then id."
    )
    next_cursor: str | None = None
    totals: ImpactTotals = Field(description="The whole blast radius (see ``exact``).")
    by_distance: list[DistanceCount] = []
    by_platform: list[PlatformCount] = Field(
        default=[], description="Datasets the caller may see, per platform."
    )
    notify: list[NotifyPerson]
    truncated: bool = Field(description="The walk was cut at the node cap (never when exact).")
    exact: bool = Field(
        default=False,
        description="Answered by the lineage index: totals cover every node, however many.",
    )


class ColumnEdgeOut(OutputModel):
    output_dataset_id: str = Field(
        description="A UUID; an opaque restricted-... id when that dataset is hidden from you"
    )
    output_field: str | None = Field(
        description='"" means the dataset as a whole (an INDIRECT use); null when hidden'
    )
    input_dataset_id: str = Field(description="As `output_dataset_id`")
    input_field: str | None = Field(description="Null when the input dataset is hidden")
    transformation_type: str | None
    transformation_subtype: str | None
    description: str | None = Field(description="Null on a restricted edge")
    output_dataset_name: str | None = Field(
        None, description="Null when the output dataset is hidden from you (then `restricted`)"
    )
    input_dataset_name: str | None = Field(
        None, description="Null when the input dataset is hidden from you (then `restricted`)"
    )
    restricted: bool = Field(
        False, description="One end is a dataset you may not see: its id is opaque, unnamed"
    )


ColumnDirection = Literal["upstream", "downstream", "both"]


class ColumnRef(OutputModel):
    dataset_id: str
    name: str
    namespace: str
    field: str


class ColumnImpactItem(OutputModel):
    dataset_id: str = Field(description="A UUID; an opaque restricted-... id when hidden")
    name: str | None = Field(description="The dataset's name; null when hidden")
    namespace: str | None
    field: str | None = Field(
        description='Null when hidden; "" is the dataset as a whole (an INDIRECT use such as a '
        "filter or join on the column)"
    )
    distance: int = Field(description="Column edges crossed from the start column (1 = direct)")
    restricted: bool = False


class ColumnImpactEdge(OutputModel):
    source_dataset_id: str
    source_field: str
    target_dataset_id: str
    target_field: str


class ColumnImpactTotals(OutputModel):
    columns: int = Field(description="Columns reached, hidden ones included")
    datasets: int = Field(description="Distinct datasets those columns belong to, hidden included")
    restricted: int = Field(description="Columns of datasets you may not see (counted, unnamed)")


class ColumnImpact(OutputModel):
    column: ColumnRef
    depth: int
    items: list[ColumnImpactItem] = Field(
        description="Every downstream column within `depth` column edges, ordered by distance, "
        "dataset name, field (hidden ones last within a distance)"
    )
    edges: list[ColumnImpactEdge] = Field(
        description="Column edges among the start and the items; none touching a hidden dataset"
    )
    totals: ColumnImpactTotals


class IngestResult(OutputModel):
    accepted: int
    duplicates: int
    failed: int
    errors: list[dict[str, Any]] = []


class QualityAssertionOut(OutputModel):
    assertion: str
    success: bool
    column: str | None = None
    severity: str | None = None
    name: str | None = None
    description: str | None = None
    expected: str | None = None
    actual: str | None = None


class QualityRecord(OutputModel):
    """What one run measured on the dataset (OpenLineage quality and statistics facets)."""

    run_id: str
    process_id: uuid.UUID | None = Field(description="Null when the process is not yours to see")
    process_name: str | None
    event_time: datetime
    dataset_version: str | None
    row_count: int | None
    bytes: int | None
    file_count: int | None
    column_metrics: dict[str, Any]
    assertions: list[QualityAssertionOut]
    failed_assertions: int


class DatasetQualityOut(OutputModel):
    latest: QualityRecord | None
    history: list[QualityRecord] = Field(description="Newest first (for trends)")


ProcessOut.model_rebuild()


class DbtImportResult(OutputModel):
    datasets: int
    created: int
    updated: int
    unchanged: int
    processes: int
    edges_added: int
    runs: int
    failed_runs: int
    warnings: list[str]
