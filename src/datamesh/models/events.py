"""The events table: the transactional outbox that feed, stream and graph projection read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datamesh.kit.ids import uuid7
from datamesh.models.base import Base


class Event(Base):
    __tablename__ = "events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(320), default="")
    org_id: Mapped[uuid.UUID | None]
    # Generic reference "<kind>:<id>" so the outbox never imports the domains it serves.
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    subject_name: Mapped[str | None] = mapped_column(Text)
    related: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    __table_args__ = (
        Index("ix_events_occurred", "occurred_at", "id"),
        Index("ix_events_subject", "subject_kind", "subject_id", "occurred_at"),
        Index("ix_events_org_occurred", "org_id", "occurred_at"),
        Index("ix_events_type", "type"),
    )


class OutboxPosition(Base):
    """How far a consumer of the events outbox has read: every event up to ``last_seq`` except
    the ``gaps`` (numbers taken by transactions not committed when last looked), which are read
    when they commit, or forgotten once no transaction that could hold them is left."""

    __tablename__ = "outbox_positions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # [[seq, xid horizon, first seen (epoch seconds)], ...]
    gaps: Mapped[list[list[float]]] = mapped_column(JSONB, default=list)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
