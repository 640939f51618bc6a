"""Feed items and follows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from datamesh.kit.schemas import InputModel, OutputModel


class ActorOut(OutputModel):
    id: uuid.UUID | None
    name: str
    kind: str


class SubjectOut(OutputModel):
    kind: str
    id: str
    name: str | None


class FeedItem(OutputModel):
    id: uuid.UUID
    type: str
    occurred_at: datetime
    actor: ActorOut
    org_id: uuid.UUID | None
    subject: SubjectOut
    payload: dict[str, Any]


class FeedPage(OutputModel):
    items: list[FeedItem]
    next_cursor: str | None


class FollowToggle(InputModel):
    dataset_id: uuid.UUID


class FollowState(OutputModel):
    dataset_id: uuid.UUID
    following: bool
    follower_count: int


class Followed(OutputModel):
    dataset_id: uuid.UUID
    name: str
    display_name: str
    platform: str
    followed_at: datetime
