"""Organization payloads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from datamesh.kit.schemas import InputModel, OutputModel


class OrgSettings(InputModel):
    default_visibility: Literal["public", "internal", "private"] = Field(
        "internal", description="Visibility of datasets created by lineage ingestion."
    )
    allow_connection_tests: bool = Field(
        True, description="Whether Connect may run live connection tests for this org."
    )


class OrgCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")
    description: str = Field("", max_length=2000)
    settings: OrgSettings = OrgSettings()


class OrgUpdate(InputModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    settings: OrgSettings | None = None


class Org(OutputModel):
    id: uuid.UUID
    name: str
    slug: str
    description: str
    settings: OrgSettings
    created_at: datetime
    updated_at: datetime
