"""Organizations, users, sessions with rotating refresh tokens, API keys, login throttling."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datamesh.models.base import Base, Timestamps, UUIDPk

ROLES = ("admin", "steward", "producer", "viewer")


class Organization(UUIDPk, Timestamps, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(2000), default="")
    # Org policy: default visibility of assets created by ingestion, whether members may run
    # live connection tests from Connect.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (Index("uq_organizations_name_lower", func.lower(text("name")), unique=True),)


class User(UUIDPk, Timestamps, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    oidc_issuer: Mapped[str | None] = mapped_column(String(500))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None]
    # Sessions created before this instant are dead (set on disable, password or role change).
    sessions_valid_after: Mapped[datetime | None]

    __table_args__ = (
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
        UniqueConstraint("oidc_issuer", "oidc_subject"),
        CheckConstraint("role IN ('admin','steward','producer','viewer')", name="role"),
        Index("ix_users_org", "org_id"),
    )


class AuthSession(UUIDPk, Base):
    """A sign-in: the family of its refresh tokens. Revoking it ends every token in it."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32), default="password")  # password | oidc:<name>
    client: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_auth_sessions_user", "user_id"),)


class RefreshToken(UUIDPk, Base):
    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    used_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_refresh_tokens_session", "session_id"),)


class ApiKey(UUIDPk, Base):
    __tablename__ = "api_keys"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("role IN ('admin','steward','producer','viewer')", name="role"),
        Index("ix_api_keys_org", "org_id"),
    )


class LoginThrottle(Base):
    """Failed sign-ins per account and per client address, shared by every worker."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(server_default=func.now())
