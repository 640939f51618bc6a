"""Ingestion: crawls of database nodes and the schema versions crawls (and dbt) record."""

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

from datamesh.models.base import Base, UUIDPk

CRAWL_STATUSES = ("queued", "running", "succeeded", "partial", "failed")
ACTIVE_CRAWL = ("queued", "running")


class NodeCrawl(UUIDPk, Base):
    """One crawl of a node: queued by a person or the schedule, run by one leased worker."""

    __tablename__ = "node_crawls"

    node_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    requested_by_name: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # The worker running it holds it until then (renewed while it runs); past it, another
    # worker takes the crawl over, so a crawl is never lost with a dead worker.
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (
        CheckConstraint(
            "status IN ('queued','running','succeeded','partial','failed')", name="status"
        ),
        # One crawl at a time per node: a second request joins the one queued or running.
        Index(
            "uq_node_crawls_active",
            "node_id",
            unique=True,
            postgresql_where=text("status IN ('queued','running')"),
        ),
        Index("ix_node_crawls_node_created", "node_id", "created_at", "id"),
        Index(
            "ix_node_crawls_due",
            "lease_until",
            postgresql_where=text("status IN ('queued','running')"),
        ),
    )


class SchemaVersion(UUIDPk, Base):
    """A dataset's columns as a crawl or import saw them, with the change from the version
    before (none for the first)."""

    __tablename__ = "dataset_schema_versions"

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    diff: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    breaking: Mapped[bool] = mapped_column(Boolean, default=False)
    origin: Mapped[str] = mapped_column(String(16))  # crawl | dbt
    source_id: Mapped[uuid.UUID | None]  # the crawl that saw it
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (UniqueConstraint("dataset_id", "version"),)
