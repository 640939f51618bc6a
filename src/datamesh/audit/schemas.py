"""Audit log payloads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from datamesh.kit.schemas import OutputModel


class AuditActor(OutputModel):
    id: uuid.UUID | None
    name: str
    kind: str


class AuditTarget(OutputModel):
    kind: str
    id: str | None
    name: str | None


class AuditItem(OutputModel):
    id: uuid.UUID
    seq: int
    at: datetime
    actor: AuditActor
    action: str
    target: AuditTarget
    org_id: uuid.UUID | None
    request_id: str | None
    trace_id: str | None
    client: str | None
    user_agent: str | None
    changes: dict[str, Any]
    details: dict[str, Any]
    hash: str


class AuditPage(OutputModel):
    items: list[AuditItem]
    next_cursor: str | None


class VerifyOut(OutputModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    first_bad_id: str | None
    reason: str | None
