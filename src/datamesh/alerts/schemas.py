"""Alert rules and deliveries: what the API takes and returns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from datamesh.events.types import ALERTABLE
from datamesh.kit.schemas import Email, InputModel, OutputModel
from datamesh.secrets.references import REFERENCE_HINT, is_ref

NodeRef = Annotated[str, Field(min_length=1, max_length=3000)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    if parts.username or parts.password:
        # A password in a URL would be stored and shown: put it in a secret reference instead.
        raise ValueError("must not carry credentials (user:password@)")
    return value


class WebhookChannel(InputModel):
    kind: Literal["webhook"]
    url: str = Field(max_length=2000)
    secret: str | None = Field(
        None,
        max_length=500,
        description=f"Signs the body (X-DataMesh-Signature); {REFERENCE_HINT}",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        # The error never repeats the value: it may be a raw secret.
        if v is not None and not is_ref(v):
            raise ValueError(f"must be {REFERENCE_HINT}, never the secret itself")
        return v


class SlackChannel(InputModel):
    kind: Literal["slack"]
    url: str = Field(max_length=2000, description="A Slack incoming-webhook URL")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)


class EmailChannel(InputModel):
    kind: Literal["email"]
    to: list[Email] = Field(min_length=1, max_length=50)


Channel = Annotated[WebhookChannel | SlackChannel | EmailChannel, Field(discriminator="kind")]


class Affects(InputModel):
    node: NodeRef = Field(description="A dataset or process: UUID or dataset:/job: typed id")
    depth: int = Field(5, ge=1, le=20, description="How far upstream of it events count")


class Scope(InputModel):
    """Every given part must hold (AND); an empty scope is everything the owner may see."""

    datasets: list[NodeRef] = Field(default_factory=list, max_length=200)
    processes: list[NodeRef] = Field(default_factory=list, max_length=200)
    affects: Affects | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    domains: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50
    )
    owned_by_me: bool = False
    followed_by_me: bool = False


EventType = Annotated[str, Field(max_length=64)]


def _event_types(v: list[str]) -> list[str]:
    unknown = [t for t in v if t not in ALERTABLE]
    if unknown:
        raise ValueError(
            f"unknown event type(s) {', '.join(sorted(set(unknown)))}; "
            f"known: {', '.join(ALERTABLE)}"
        )
    return list(dict.fromkeys(v))


class AlertRuleCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    events: list[EventType] = Field(min_length=1, max_length=len(ALERTABLE))
    scope: Scope = Field(default_factory=Scope)
    channel: Channel
    enabled: bool = True
    org_rule: bool = Field(
        False, description="An org rule (admins and stewards) instead of a personal one"
    )

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str]) -> list[str]:
        return _event_types(v)


class AlertRuleUpdate(InputModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    events: list[EventType] | None = Field(None, min_length=1, max_length=len(ALERTABLE))
    scope: Scope | None = None
    channel: Channel | None = None
    enabled: bool | None = None

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _event_types(v)


class ChannelOut(OutputModel):
    kind: str
    url: str | None = None
    secret: str | None = Field(None, description="The reference, never the secret")
    to: list[str] | None = None


class AlertRule(OutputModel):
    id: uuid.UUID
    org_id: uuid.UUID
    owner_id: uuid.UUID | None
    org_rule: bool
    name: str
    events: list[str]
    scope: dict[str, Any]
    channel: ChannelOut
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class AlertRulePage(OutputModel):
    items: list[AlertRule]
    next_cursor: str | None


class Attempt(OutputModel):
    at: datetime
    status_code: int | None = None
    error: str | None = None
    ms: int | None = None


class DeliveryEvent(OutputModel):
    id: uuid.UUID
    type: str
    occurred_at: datetime
    subject: dict[str, Any]


class Delivery(OutputModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    kind: Literal["single", "digest", "test"]
    state: Literal["pending", "delivered", "failed", "skipped"]
    attempts: int
    log: list[Attempt]
    events: list[DeliveryEvent] = Field(description="The events you may see now")
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(OutputModel):
    items: list[Delivery]
    next_cursor: str | None


class AlertTestResult(OutputModel):
    delivery_id: uuid.UUID
    ok: bool
    status_code: int | None = None
    error: str | None = None
    ms: int | None = None
