"""Lineage: processes (jobs), their runs, edges between datasets and processes, column edges.

Datasets are the catalog's; a node id is a dataset's or a process's UUID (both UUIDv7, so they
never collide) and ``src_kind``/``dst_kind`` say which table it lives in.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datamesh.models.base import Base, UUIDPk

RUN_STATES = ("START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER")


class Process(UUIDPk, Base):
    __tablename__ = "processes"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    namespace: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(1000))
    type: Mapped[str] = mapped_column(String(40), default="other")
    description: Mapped[str] = mapped_column(Text, default="")
    owners: Mapped[list[str]] = mapped_column(JSONB, default=list)
    source_code: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    sql: Mapped[str | None] = mapped_column(Text)
    latest_run_state: Mapped[str | None] = mapped_column(String(16))
    latest_run_at: Mapped[datetime | None]
    origin: Mapped[str] = mapped_column(String(16), default="manual")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    # A job name is unique within its org (ADR 0005): another org's job of the same name is
    # another job, and neither org learns of the other's.
    __table_args__ = (
        UniqueConstraint("namespace", "name", "org_id"),
        Index("ix_processes_org", "org_id"),
    )


class Run(UUIDPk, Base):
    __tablename__ = "runs"

    process_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    event_time: Mapped[datetime]
    facets: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (
        UniqueConstraint("process_id", "run_id"),
        Index("ix_runs_process_time", "process_id", "event_time"),
    )


class DatasetQuality(UUIDPk, Base):
    """What one run said about one dataset: OpenLineage's ``dataQualityMetrics``,
    ``dataQualityAssertions`` (input facets) and ``outputStatistics`` (output facet)."""

    __tablename__ = "dataset_quality"

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    process_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(255))
    dataset_version: Mapped[str | None] = mapped_column(String(255))
    event_time: Mapped[datetime]
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_count: Mapped[int | None] = mapped_column(BigInteger)
    column_metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    assertions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    failed_assertions: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("dataset_id", "process_id", "run_id"),
        Index("ix_dataset_quality_dataset_time", "dataset_id", "event_time"),
    )


class LineageEdge(UUIDPk, Base):
    __tablename__ = "lineage_edges"

    src_id: Mapped[uuid.UUID]
    dst_id: Mapped[uuid.UUID]
    src_kind: Mapped[str] = mapped_column(String(16))
    dst_kind: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[uuid.UUID | None]
    origin: Mapped[str] = mapped_column(String(16), default="manual")  # manual | openlineage
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        UniqueConstraint("src_id", "dst_id"),
        Index("ix_lineage_edges_dst_src", "dst_id", "src_id"),
        CheckConstraint("src_id <> dst_id", name="no_self_loop"),
        CheckConstraint("src_kind IN ('dataset','process')", name="src_kind"),
        CheckConstraint("dst_kind IN ('dataset','process')", name="dst_kind"),
        CheckConstraint(
            "NOT (src_kind = 'process' AND dst_kind = 'process')", name="no_process_chain"
        ),
    )


class ColumnEdge(UUIDPk, Base):
    __tablename__ = "column_edges"

    output_dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE")
    )
    output_field: Mapped[str] = mapped_column(String(300))  # "" = the whole dataset
    input_dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE")
    )
    input_field: Mapped[str] = mapped_column(String(300))
    process_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("processes.id", ondelete="CASCADE")
    )
    transformation_type: Mapped[str | None] = mapped_column(String(40))
    transformation_subtype: Mapped[str | None] = mapped_column(String(60))
    description: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("output_dataset_id", "output_field", "input_dataset_id", "input_field"),
        Index("ix_column_edges_input", "input_dataset_id", "input_field"),
    )


class IngestedEvent(Base):
    """Hashes of OpenLineage events already applied: replaying one changes nothing."""

    __tablename__ = "ingested_events"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class GraphCursor(Base):
    """How far the graph engine's projection has read the events outbox."""

    __tablename__ = "graph_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
