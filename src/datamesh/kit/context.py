"""Per-request context (request id, client address, actor) carried in context variables.

The write path reads it so every audit entry and event knows where it came from without
threading these values through every service call.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from opentelemetry import trace

ActorKind = Literal["user", "api_key", "system", "anonymous"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, as the audit log and events record it."""

    kind: ActorKind
    id: UUID | None = None
    name: str = ""
    org_id: UUID | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(kind="system", name=name)


@dataclass(slots=True)
class RequestContext:
    request_id: str | None = None
    client: str | None = None
    user_agent: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


request_context: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def current_request() -> RequestContext:
    return request_context.get() or RequestContext()


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
