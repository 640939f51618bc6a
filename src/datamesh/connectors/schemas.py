"""Connector and node payloads. Secrets appear only as references (``env:``, ``file:``,
``vault:``), never as values."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from datamesh.kit.schemas import InputModel, OutputModel

NodeStatus = Literal["ok", "error", "unknown"]
NodeSort = Literal["name", "updated", "status"]
CheckTrigger = Literal["manual", "schedule"]

TYPE_PATTERN = r"^[a-z][a-z0-9_]{1,48}$"
MIN_CHECK_INTERVAL = 10
MAX_CHECK_INTERVAL = 7 * 24 * 3600

ConnectorTypeId = Annotated[str, StringConstraints(pattern=TYPE_PATTERN, max_length=50)]
Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$",
    ),
]
CheckInterval = Annotated[int, Field(ge=MIN_CHECK_INTERVAL, le=MAX_CHECK_INTERVAL)]
CrawlInterval = Annotated[int, Field(ge=5, le=31 * 24 * 60)]
CrawlStatus = Literal["queued", "running", "succeeded", "partial", "failed"]
SecretRefs = dict[
    str,
    Annotated[
        str,
        Field(
            max_length=1024,
            description="A reference: env:NAME, file:/absolute/path or vault:mount/path#key.",
        ),
    ],
]


# -- connector types ---------------------------------------------------------------------------
class SecretFieldInfo(OutputModel):
    name: str
    description: str
    required: bool


class Connector(OutputModel):
    type: str
    title: str
    description: str
    capabilities: dict[str, bool] = Field(
        description="test_connection, connect_snippets, schema_refresh."
    )
    secret_fields: list[SecretFieldInfo]
    config_schema_ref: str = Field(description="Where the JSON Schema of the config is served.")


class ConnectorDetail(Connector):
    config_schema: dict[str, Any] = Field(description="JSON Schema (draft 2020-12) of the config.")


# -- connection tests --------------------------------------------------------------------------
class ConnectionTest(InputModel):
    """An unsaved configuration to test."""

    config: dict[str, Any] = Field(default_factory=dict)
    secrets: SecretRefs = Field(default_factory=dict)


class NodeConnectionTest(ConnectionTest):
    type: ConnectorTypeId


class TestResult(OutputModel):
    __test__ = False  # not a pytest test class, despite the name

    ok: bool
    status: NodeStatus = Field(description="unknown: the type has no live connection test.")
    message: str
    latency_ms: float | None
    checked_at: datetime


# -- nodes -------------------------------------------------------------------------------------
class NodeCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    type: ConnectorTypeId
    config: dict[str, Any] = Field(
        default_factory=dict, description="Validated against the type's JSON Schema."
    )
    secrets: SecretRefs = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    check_interval_seconds: CheckInterval | None = Field(
        None, description="Check the connection periodically; null: only on demand."
    )
    crawl_interval_minutes: CrawlInterval | None = Field(
        None, description="Crawl periodically (types that can crawl); null: only on demand."
    )


class NodeUpdate(InputModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = Field(
        None, description="Merged into the config; a key set to null is removed."
    )
    secrets: dict[str, Annotated[str, Field(max_length=1024)] | None] | None = Field(
        None, description="Merged into the secret references; a field set to null is removed."
    )
    tags: list[Tag] | None = Field(None, max_length=50)
    check_interval_seconds: CheckInterval | None = Field(
        None, description="Omit to keep; null turns periodic checks off."
    )
    crawl_interval_minutes: CrawlInterval | None = Field(
        None, description="Omit to keep; null turns scheduled crawls off."
    )


class LastCrawl(OutputModel):
    id: uuid.UUID
    status: Literal["queued", "running", "succeeded", "partial", "failed"]
    finished_at: datetime | None
    counts: dict[str, int]
    errors: int


class Node(OutputModel):
    id: uuid.UUID
    name: str
    type: str
    config: dict[str, Any]
    secrets: dict[str, str] = Field(description="Secret field -> reference (never a value).")
    tags: list[str]
    status: NodeStatus
    last_checked_at: datetime | None
    last_latency_ms: float | None
    last_message: str | None
    check_interval_seconds: int | None
    crawl_interval_minutes: int | None = None
    last_crawl: LastCrawl | None = Field(None, description="The latest crawl, if any.")
    created_at: datetime
    updated_at: datetime


class NodeCheck(OutputModel):
    checked_at: datetime
    ok: bool
    status: NodeStatus
    latency_ms: float | None
    message: str
    trigger: CheckTrigger


# -- crawls ------------------------------------------------------------------------------------
class CrawlCounts(OutputModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0


class CrawlError(OutputModel):
    object: str = Field("", description="The schema, table or view concerned (db.schema.name).")
    kind: str = Field(description="failed, read, parse, skipped.")
    message: str


class CrawlProgress(OutputModel):
    step: str = ""
    done: int = 0
    total: int = 0


class Crawl(OutputModel):
    id: uuid.UUID
    node_id: uuid.UUID
    status: CrawlStatus = Field(
        description="partial: some schemas could not be read (nothing was marked removed)."
    )
    trigger: CheckTrigger
    requested_by: str = Field(description="Who asked for it, or 'schedule'.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: CrawlCounts
    errors: list[CrawlError]
    progress: CrawlProgress
