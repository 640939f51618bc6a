"""Alerts: rules (who wants to hear about which events, where), the deliveries made from the
events outbox for them, and the outbox consumers' positions.

A rule's channel holds a secret only as a reference (``env:``/``file:``/``vault:``). A delivery
keeps ids, states and attempt results (status code or a scrubbed error), never a secret and
never the message it sent: the message is rebuilt at each attempt, with the visibility of that
moment.
"""

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
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from datamesh.kit.ids import uuid7
from datamesh.models.base import Base

DELIVERY_STATES = ("pending", "delivered", "failed", "skipped")
DELIVERY_KINDS = ("single", "digest", "test")


class AlertRule(Base):
    __tablename__ = "alert_rules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # The person a personal rule belongs to; NULL for an org rule (made by its admins/stewards).
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    scope: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    channel: Mapped[dict[str, Any]] = mapped_column(JSONB)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why the system turned the rule off (e.g. the receiver answered 410 Gone).
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Digest window: events within a minute of the one sent at once go out together at its end.
    window_until: Mapped[datetime | None]
    digest_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("ix_alert_rules_org", "org_id"),
        Index("ix_alert_rules_owner", "owner_id"),
        Index("ix_alert_rules_events", "events", postgresql_using="gin"),
    )


class AlertDelivery(Base):
    __tablename__ = "alert_deliveries"

    # Sent as X-DataMesh-Delivery: the same on every attempt, for the receiver's dedupe.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # The events it carries (one, or a digest's); empty for a test.
    event_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(PG_UUID(as_uuid=True)), default=list)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # [{at, status_code, error, ms}], newest last, the last few kept
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("state IN ('pending','delivered','failed','skipped')", name="state"),
        CheckConstraint("kind IN ('single','digest','test')", name="kind"),
        Index(
            "ix_alert_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_alert_deliveries_rule", "rule_id", "created_at"),
    )


class AlertMatch(Base):
    """One row per (rule, what happened): what makes a replayed event, or a second event about
    the same failing run, never alert twice."""

    __tablename__ = "alert_matches"

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True
    )
    # The event id, or "run:<id>" for a run failure (one alert per failing run).
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_deliveries.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID]

    __table_args__ = (Index("ix_alert_matches_delivery", "delivery_id"),)


__all__ = [
    "DELIVERY_KINDS",
    "DELIVERY_STATES",
    "AlertDelivery",
    "AlertMatch",
    "AlertRule",
]
