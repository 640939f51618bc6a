"""Pipeline health: freshness SLAs on datasets and the state their last evaluation found.

``state``, ``due_at``, ``last_complete_at`` and ``breached_since`` are what the evaluator last
computed; transitions of ``state`` are what breach/recovery events are emitted from, so they are
changed only by a conditional UPDATE (one replica wins, the event is written once).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from datamesh.models.base import Base

SLA_KINDS = ("daily_by", "max_age")
SLA_STATES = ("ok", "breached", "unknown")


class DatasetSla(Base):
    __tablename__ = "dataset_slas"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[str | None] = mapped_column(String(5))  # "HH:MM" UTC, for daily_by
    hours: Mapped[int | None] = mapped_column(Integer)  # for max_age
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    last_complete_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    breached_since: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # When the SLA was last set, by the app's clock: with no complete run yet, the first
    # deadline counts from here.
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("kind IN ('daily_by','max_age')", name="kind"),
        CheckConstraint("state IN ('ok','breached','unknown')", name="state"),
        CheckConstraint(
            "(kind = 'daily_by' AND at IS NOT NULL AND hours IS NULL) OR "
            "(kind = 'max_age' AND hours IS NOT NULL AND at IS NULL)",
            name="shape",
        ),
        CheckConstraint("hours IS NULL OR hours BETWEEN 1 AND 8760", name="hours"),
        Index("ix_dataset_slas_org", "org_id"),
        Index("ix_dataset_slas_state", "state"),
    )


__all__ = ["SLA_KINDS", "SLA_STATES", "DatasetSla"]
