"""Nodes (configured connections to data sources), their health and a short check history.

A node keeps secret *references* only (``{"password": "env:PG_PASSWORD"}``), never values.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datamesh.models.base import Base, Timestamps, UUIDPk

NODE_STATUSES = ("ok", "error", "unknown")


class Node(UUIDPk, Timestamps, Base):
    __tablename__ = "nodes"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(50))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Secret field -> reference (env:, file:, vault:); never a value.
    secrets: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Health: written by connection tests and periodic checks (not an edit: updated_at stays).
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    last_checked_at: Mapped[datetime | None]
    last_latency_ms: Mapped[float | None] = mapped_column(Float)
    last_message: Mapped[str | None] = mapped_column(Text)
    # Periodic checks: None = off. next_check_at is also the lease a checker takes on the node.
    check_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    next_check_at: Mapped[datetime | None]
    # Scheduled crawls (types that can crawl): None = only on demand.
    crawl_interval_minutes: Mapped[int | None] = mapped_column(Integer)
    next_crawl_at: Mapped[datetime | None]

    __table_args__ = (
        Index("uq_nodes_org_name_lower", "org_id", func.lower(text("name")), unique=True),
        CheckConstraint("status IN ('ok','error','unknown')", name="status"),
        CheckConstraint(
            "check_interval_seconds IS NULL OR check_interval_seconds > 0", name="check_interval"
        ),
        Index("ix_nodes_org_type", "org_id", "type"),
        Index("ix_nodes_org_status", "org_id", "status"),
        Index("ix_nodes_org_updated", "org_id", "updated_at", "id"),
        Index("ix_nodes_tags", "tags", postgresql_using="gin"),
        CheckConstraint(
            "crawl_interval_minutes IS NULL OR crawl_interval_minutes > 0", name="crawl_interval"
        ),
        Index(
            "ix_nodes_crawl_due",
            "next_crawl_at",
            postgresql_where=text("crawl_interval_minutes IS NOT NULL"),
        ),
        Index(
            "ix_nodes_due",
            "next_check_at",
            postgresql_where=text("check_interval_seconds IS NOT NULL"),
        ),
    )


class NodeCheck(Base):
    """One connection check of a node; only the latest few per node are kept."""

    __tablename__ = "node_checks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    node_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule
    trace_id: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        CheckConstraint("status IN ('ok','error','unknown')", name="status"),
        Index("ix_node_checks_node_checked", "node_id", "checked_at", "id"),
    )
