"""User payloads. No schema here ever carries a password hash."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from datamesh.auth.principal import Role
from datamesh.kit.schemas import Email, InputModel, OutputModel


class UserCreate(InputModel):
    email: Email
    name: str = Field("", max_length=200)
    password: str | None = Field(
        None, min_length=8, max_length=256, description="Omit for users who sign in with SSO."
    )
    role: Role = "viewer"
    org_id: uuid.UUID | None = Field(None, description="Platform administrators only.")
    is_platform_admin: bool = False


class UserUpdate(InputModel):
    name: str | None = Field(None, max_length=200)
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=256)


class User(OutputModel):
    id: uuid.UUID
    email: str
    name: str
    org_id: uuid.UUID
    role: Role
    is_platform_admin: bool
    disabled: bool
    sso: bool = Field(description="Signs in through an OpenID Connect provider.")
    created_at: datetime
    last_login_at: datetime | None
