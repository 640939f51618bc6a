"""Sign-in, token and API key payloads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from datamesh.auth.principal import Role
from datamesh.kit.schemas import InputModel, OutputModel


class LoginRequest(InputModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(InputModel):
    refresh_token: str | None = Field(
        None, max_length=512, description="Omit in a browser: the refresh cookie is used."
    )


class LogoutRequest(InputModel):
    refresh_token: str | None = Field(None, max_length=512)


class TokenPair(OutputModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class LogoutResult(OutputModel):
    logged_out: bool = True
    logout_url: str | None = Field(
        None, description="Open this to end the identity provider's session too."
    )


class OrgBrief(OutputModel):
    id: uuid.UUID
    name: str
    slug: str


class Me(OutputModel):
    id: uuid.UUID
    kind: Literal["user", "api_key"]
    email: str | None
    name: str
    role: Role
    is_platform_admin: bool
    org: OrgBrief


class Provider(OutputModel):
    name: str
    title: str
    login_url: str


class ApiKeyCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role = "viewer"


class ApiKey(OutputModel):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    created_by: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="Shown this once; store it now.")
