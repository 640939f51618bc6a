"""Dashboards: saved, annotated lineage canvases (nodes, hand-drawn edges, groups, viewport).

The layout is one versioned JSONB document; ``version`` drives optimistic concurrency (If-Match).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from datamesh.models.base import Base, Timestamps, UUIDPk


class Dashboard(UUIDPk, Timestamps, Base):
    __tablename__ = "dashboards"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(16), default="internal")
    layout: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    __table_args__ = (
        CheckConstraint("visibility IN ('public','internal','private')", name="visibility"),
        Index("ix_dashboards_org", "org_id"),
        Index("ix_dashboards_updated", "updated_at", "id"),
    )


__all__ = ["Dashboard"]
