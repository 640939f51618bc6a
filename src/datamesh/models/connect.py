"""Platform profiles: a user's (or an organization's default) connection settings for one data
platform, used by Connect to fill in generated code.

A profile keeps secret *references* only (``{"password": "env:PGPASSWORD"}``), never values.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datamesh.models.base import Base, Timestamps, UUIDPk

PROFILE_SCOPES = ("user", "org")


class PlatformProfile(UUIDPk, Timestamps, Base):
    __tablename__ = "platform_profiles"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # user: the owner's own profile; org: an org-wide profile its admins manage (owner is NULL).
    scope: Mapped[str] = mapped_column(String(8))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(40))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Secret field -> reference (env:, file:, vault:); never a value.
    secrets: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    __table_args__ = (
        CheckConstraint("scope IN ('user','org')", name="scope"),
        CheckConstraint("(scope = 'user') = (owner_id IS NOT NULL)", name="owner"),
        # One default per user per platform, and one org-wide default per org per platform.
        Index(
            "uq_platform_profiles_user_default",
            "owner_id",
            "platform",
            unique=True,
            postgresql_where=text("is_default AND scope = 'user'"),
        ),
        Index(
            "uq_platform_profiles_org_default",
            "org_id",
            "platform",
            unique=True,
            postgresql_where=text("is_default AND scope = 'org'"),
        ),
        # Names are unique among a user's profiles, and among an org's org-wide profiles.
        Index(
            "uq_platform_profiles_user_name",
            "owner_id",
            func.lower(text("name")),
            unique=True,
            postgresql_where=text("scope = 'user'"),
        ),
        Index(
            "uq_platform_profiles_org_name",
            "org_id",
            func.lower(text("name")),
            unique=True,
            postgresql_where=text("scope = 'org'"),
        ),
        Index("ix_platform_profiles_org_scope_platform", "org_id", "scope", "platform"),
    )


__all__ = ["PROFILE_SCOPES", "PlatformProfile"]
