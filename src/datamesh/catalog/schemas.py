"""Dataset payloads."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from datamesh.kit.schemas import InputModel, OutputModel

Visibility = Literal["public", "internal", "private"]
Status = Literal["active", "deprecated"]
# removed: gone from its source at the last complete crawl (set by crawls, never by hand)
StatusOut = Literal["active", "deprecated", "removed"]


def _token(pattern: str, what: str) -> AfterValidator:
    """Lower-case, then check the pattern (pydantic checks a pattern before any transform)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        value = value.strip().lower()
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value

    return AfterValidator(check)


# The platforms a dataset may be on (what OpenLineage namespaces map to as well); publishing
# and editing check the same list, so no made-up platform reaches the catalog.
PLATFORMS = (
    "snowflake",
    "databricks",
    "bigquery",
    "redshift",
    "postgresql",
    "s3",
    "kafka",
    "gcs",
    "azure",
    "hive",
    "mysql",
    "sqlserver",
    "trino",
    "athena",
    "oracle",
    "mariadb",
    "clickhouse",
    "duckdb",
    "sqlite",
    "db2",
    "teradata",
    "vertica",
    "synapse",
    "iceberg",
    "delta",
    "mongodb",
    "cassandra",
    "elasticsearch",
    "kinesis",
    "pubsub",
    "file",
    "other",
)
PLATFORM_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "mssql": "sqlserver"}


def _known_platform(value: str) -> str:
    value = value.strip().lower()
    value = PLATFORM_ALIASES.get(value, value)
    if value not in PLATFORMS:
        raise ValueError(f"is not a known platform (one of {', '.join(PLATFORMS)})")
    return value


Platform = Annotated[
    str,
    AfterValidator(_known_platform),
    Field(max_length=40, json_schema_extra={"enum": list(PLATFORMS)}),
]
Tag = Annotated[str, _token(r"[a-z0-9][a-z0-9_.:-]{0,63}", "letters, digits, . _ : - (at most 64)")]


class FieldSpec(InputModel):
    name: str = Field(min_length=1, max_length=300)
    type: str = Field("", max_length=200)
    description: str = Field("", max_length=5000)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class Source(InputModel):
    node_id: uuid.UUID | None = None
    database: str | None = Field(None, max_length=300)
    schema_: str | None = Field(None, max_length=300, alias="schema")
    table: str | None = Field(None, max_length=300)
    path: str | None = Field(None, max_length=2000)

    model_config = InputModel.model_config | {"populate_by_name": True}


class DatasetBase(InputModel):
    display_name: str = Field("", max_length=300)
    description: str = Field("", max_length=100_000, description="Markdown.")
    domain: str | None = Field(None, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    owners: list[uuid.UUID] | None = Field(
        None, max_length=50, description="User ids; default: you."
    )
    visibility: Visibility = "internal"
    source: Source = Field(default_factory=Source)
    fields: list[FieldSpec] = Field(default_factory=list, max_length=2000)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class DatasetCreate(DatasetBase):
    namespace: str = Field(
        min_length=1,
        max_length=500,
        description="OpenLineage namespace, e.g. snowflake://acme.eu-west-1",
    )
    name: str = Field(
        min_length=1, max_length=1000, description="OpenLineage name, e.g. ANALYTICS.PUBLIC.ORDERS"
    )
    platform: Platform


class DatasetUpdate(InputModel):
    """Only the fields given change."""

    display_name: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=100_000)
    platform: Platform | None = None
    domain: str | None = Field(None, max_length=100)
    tags: list[Tag] | None = Field(None, max_length=50)
    owners: list[uuid.UUID] | None = Field(None, max_length=50)
    named_owners: list[Annotated[str, Field(min_length=1, max_length=300)]] | None = Field(
        None,
        max_length=50,
        description="Owners who are not users (from OpenLineage ownership facets), as text.",
    )
    visibility: Visibility | None = None
    status: Status | None = None
    source: Source | None = None
    fields: list[FieldSpec] | None = Field(None, max_length=2000)


class Person(OutputModel):
    id: uuid.UUID
    name: str
    email: str | None = None


class OrgRef(OutputModel):
    id: uuid.UUID
    name: str


class FieldOut(OutputModel):
    name: str
    type: str = ""
    description: str = ""
    tags: list[str] = []
    nullable: bool | None = Field(None, description="As the source says (crawls).")
    default: str | None = Field(None, description="The column default in the source (crawls).")


class SourceOut(OutputModel):
    node_id: uuid.UUID | None = None
    database: str | None = None
    schema_: str | None = Field(None, serialization_alias="schema")
    table: str | None = None
    path: str | None = None


class Dataset(OutputModel):
    id: uuid.UUID
    namespace: str
    name: str
    display_name: str
    description: str
    platform: str
    domain: str | None
    tags: list[str]
    owners: list[Person]
    named_owners: list[str] = Field(
        default_factory=list,
        description="Owners who are not users of the org (named by an OpenLineage ownership "
        "facet), as text",
    )
    org: OrgRef
    visibility: Visibility
    status: StatusOut
    origin: str
    kind: str | None = Field(
        None, description="What the source says it is: table, view, materialized_view, ..."
    )
    properties: dict[str, Any] = Field(
        default_factory=dict,
        description="What a crawl read besides columns: row_estimate, size_bytes, primary_key, "
        "foreign_keys.",
    )
    source: SourceOut
    fields: list[FieldOut]
    follower_count: int = 0
    following: bool = False
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None
    updated_by: uuid.UUID | None
    version: int


class DatasetSummary(OutputModel):
    id: uuid.UUID
    namespace: str
    name: str
    display_name: str
    description: str
    platform: str
    domain: str | None
    tags: list[str]
    org: OrgRef
    visibility: Visibility
    status: StatusOut
    updated_at: datetime
    score: float | None = None


class FacetCount(OutputModel):
    value: str
    label: str | None = None
    count: int


class Facets(OutputModel):
    platform: list[FacetCount]
    domain: list[FacetCount]
    tag: list[FacetCount]
    org: list[FacetCount]


class SearchResult(OutputModel):
    items: list[DatasetSummary]
    next_cursor: str | None
    total: int
    total_is_lower_bound: bool = Field(
        False, description="True past 10,000 matches: total and facet counts then cover those."
    )
    facets: Facets


class SchemaVersionOut(OutputModel):
    version: int
    fields: list[FieldOut]
    diff: dict[str, Any] = Field(
        description="added, dropped, type_changed (from the version before)."
    )
    breaking: bool
    origin: str
    created_at: datetime
