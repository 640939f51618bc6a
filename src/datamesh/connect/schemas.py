"""Platform profile and Connect payloads. Secrets appear only as references (``env:``,
``file:``, ``vault:``), never as values."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from datamesh.kit.schemas import InputModel, OutputModel

Scope = Literal["user", "org"]
PlatformName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[a-z][a-z0-9_-]{0,39}$", max_length=40
    ),
]
Kind = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$", max_length=40)]
SecretRef = Annotated[
    str,
    Field(
        max_length=1024,
        description="A reference: env:NAME, file:/absolute/path or vault:mount/path#key.",
    ),
]


class PlatformProfileCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    platform: PlatformName = Field(
        description="snowflake, databricks, bigquery, redshift or postgresql."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Validated against the JSON Schema of the platform's connector type "
        "(GET /api/connectors/{platform}).",
    )
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict, description="Secret field -> reference; a raw value is refused."
    )
    is_default: bool | None = Field(
        None,
        description="Use it when you connect to a dataset on this platform without naming a "
        "profile. Omitted: the first profile for a platform becomes its default.",
    )
    scope: Scope = Field(
        "user", description="org: an org-wide profile for every member (org admins only)."
    )


class PlatformProfileUpdate(InputModel):
    """Only the fields given change."""

    name: str | None = Field(None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = Field(
        None, description="Merged into the settings; a key set to null is removed."
    )
    secrets: dict[str, SecretRef | None] | None = Field(
        None, description="Merged into the secret references; a field set to null is removed."
    )
    is_default: bool | None = Field(
        None, description="true makes it the default for its platform (the old one stops being)."
    )


class PlatformProfile(OutputModel):
    id: uuid.UUID
    name: str
    platform: str
    settings: dict[str, Any]
    secrets: dict[str, str] = Field(description="Secret field -> reference (never a value).")
    is_default: bool
    scope: Scope
    created_at: datetime
    updated_at: datetime


# -- Connect -----------------------------------------------------------------------------------
class ConnectRequest(InputModel):
    profile_id: uuid.UUID | None = Field(
        None,
        description="Your profile or an org-wide one; omitted: your default for the dataset's "
        "platform, else your organization's.",
    )
    platform: PlatformName | None = Field(
        None, description="The platform you expect the dataset on; 409 if it lives elsewhere."
    )
    kinds: list[Kind] | None = Field(
        None,
        max_length=20,
        description="Artifact kinds (python, sql, pyspark, jdbc, dbt); omitted: all of them.",
    )
    action: Literal["copy", "download"] | None = Field(
        None,
        description="What you do with the code (copy or download an artifact), recorded with "
        "the connect. To look at the code without connecting, GET this path instead.",
    )
    test: bool = Field(
        False,
        description="Also test the connection live, where the platform has a tester, your "
        "organization allows it and your role may (producers, stewards, admins).",
    )


class Artifact(OutputModel):
    kind: str
    language: str
    filename: str
    content: str


class ConnectionTest(OutputModel):
    ok: bool
    message: str = Field(description="What happened; never contains a secret.")
    latency_ms: float | None


class ConnectResult(OutputModel):
    dataset_id: uuid.UUID
    platform: str
    profile_id: uuid.UUID | None = Field(description="The profile used; null: none was found.")
    artifacts: list[Artifact]
    connection_test: ConnectionTest | None = Field(
        description="null unless a test was asked for and allowed (the warnings say why not)."
    )
    warnings: list[str]
