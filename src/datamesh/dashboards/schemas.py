"""Dashboard payloads: a saved canvas (layout) plus what it shows, resolved for the reader.

Layout strings are kept exactly as sent (no whitespace stripping), so a saved canvas reloads
identical; cross-references (unique ids, edges and parents that point somewhere) are checked
by the service, which reports each problem with its field path.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from datamesh.catalog.schemas import Visibility
from datamesh.kit.schemas import InputModel, OutputModel

MAX_NODES = 2_000
MAX_EDGES = 5_000
MAX_GROUPS = 500
MAX_TEXT = 10_000

NodeKind = Literal["dataset", "process", "note"]
RefKind = Literal["dataset", "process"]

Coord = Annotated[float, Field(ge=-10_000_000, le=10_000_000, allow_inf_nan=False)]
Extent = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
ElementId = Annotated[str, Field(min_length=1, max_length=200)]


class _LayoutPart(InputModel):
    """Unknown keys are refused; strings are stored as sent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Point(_LayoutPart):
    x: Coord
    y: Coord


class Size(_LayoutPart):
    width: Extent
    height: Extent


class Annotations(_LayoutPart):
    owner: str | None = Field(None, max_length=200)
    sla: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=MAX_TEXT)


class LayoutNode(_LayoutPart):
    id: ElementId
    kind: NodeKind
    ref: uuid.UUID | None = Field(None, description="The dataset's or process's id.")
    text: str | None = Field(None, max_length=MAX_TEXT, description="A note's text.")
    position: Point
    size: Size | None = None
    parent: ElementId | None = Field(None, description="The id of the group it sits in.")
    annotations: Annotations | None = None


class LayoutEdge(_LayoutPart):
    id: ElementId
    source: ElementId
    target: ElementId
    label: str | None = Field(None, max_length=500)


class LayoutGroup(_LayoutPart):
    id: ElementId
    label: str = Field(max_length=200)
    position: Point
    size: Size


class Viewport(_LayoutPart):
    x: Coord = 0.0
    y: Coord = 0.0
    zoom: float = Field(1.0, gt=0, le=100, allow_inf_nan=False)


class Layout(_LayoutPart):
    nodes: list[LayoutNode] = Field(default_factory=list, max_length=MAX_NODES)
    edges: list[LayoutEdge] = Field(default_factory=list, max_length=MAX_EDGES)
    groups: list[LayoutGroup] = Field(default_factory=list, max_length=MAX_GROUPS)
    viewport: Viewport = Field(default_factory=Viewport)

    def stored(self) -> dict[str, Any]:
        """The JSON kept in the database: optional members left out when not given."""
        return self.model_dump(mode="json", exclude_none=True)


Title = Annotated[str, Field(min_length=1, max_length=200)]


class DashboardCreate(InputModel):
    title: Title
    description: str = Field("", max_length=MAX_TEXT)
    visibility: Visibility = "internal"
    layout: Layout = Field(default_factory=Layout)


class DashboardUpdate(InputModel):
    """Any of the fields; the others keep their value."""

    title: Title | None = None
    description: str | None = Field(None, max_length=MAX_TEXT)
    visibility: Visibility | None = None
    layout: Layout | None = None


class DashboardDuplicate(InputModel):
    title: Title | None = Field(None, description='Default: "Copy of <title>".')


class Creator(OutputModel):
    id: uuid.UUID
    name: str


class DatasetEntity(OutputModel):
    id: uuid.UUID
    kind: Literal["dataset"] = "dataset"
    name: str
    namespace: str
    platform: str
    restricted: Literal[False] = False


class ProcessEntity(OutputModel):
    id: uuid.UUID
    kind: Literal["process"] = "process"
    name: str
    namespace: str
    restricted: Literal[False] = False


class RestrictedEntity(OutputModel):
    """Something the reader may not see (or that no longer exists): its kind, never its name."""

    id: uuid.UUID
    kind: RefKind
    restricted: Literal[True] = True


Entity = DatasetEntity | ProcessEntity | RestrictedEntity


class Dashboard(OutputModel):
    id: uuid.UUID
    org_id: uuid.UUID
    title: str
    description: str
    visibility: Visibility
    version: int
    layout: dict[str, Any]
    created_by: Creator | None
    created_at: datetime
    updated_at: datetime
    can_edit: bool
    entities: dict[str, Entity]


class DashboardSummary(OutputModel):
    id: uuid.UUID
    title: str
    description: str
    visibility: Visibility
    version: int
    node_count: int
    created_by: Creator | None
    updated_at: datetime


class DashboardList(OutputModel):
    items: list[DashboardSummary]
    next_cursor: str | None = None
