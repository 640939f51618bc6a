"""Where alerts go: small adapters behind one interface (like connector types).

An adapter turns a :class:`Message` into one outbound call and reports a :class:`SendResult`
(never raising for a failed delivery). Errors are short, scrubbed of any secret resolved for
the call, and safe to store in the delivery log.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from datamesh.kit.ssrf import OutboundPolicy
from datamesh.secrets.resolver import SecretResolver


@dataclass(frozen=True, slots=True)
class Smtp:
    host: str | None
    port: int
    sender: str
    user: str | None = None
    password: str | None = None  # a secret reference
    starttls: bool = True
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class Outbound:
    """What adapters need to reach the world: the SSRF policy, a timeout, secrets, SMTP."""

    policy: OutboundPolicy
    timeout: float
    resolver: SecretResolver
    smtp: Smtp
    # References to DataMesh's own configuration (env:DATAMESH_*, its data directory): a
    # rule's secret may not name them (it would sign with, or leak, the server's secrets).
    protected: Callable[[str], bool] = lambda _ref: False
    # One client through the SSRF guard, shared by every send (connections to a receiver are
    # reused); None: each send makes its own.
    http: httpx.AsyncClient | None = None


@dataclass(frozen=True, slots=True)
class Message:
    delivery_id: uuid.UUID
    event_type: str  # X-DataMesh-Event; "alert.digest" for a digest
    title: str
    summary: str
    link: str
    body: dict[str, Any]  # the webhook JSON
    lines: list[str] = field(default_factory=list)  # one per event (digests), for people
    # ``body`` serialized, when it is shared by several deliveries (serialized once for all)
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    ms: int = 0
    gone: bool = False  # the receiver answered 410: stop sending to it


class Adapter(Protocol):
    kind: str

    async def send(self, config: dict[str, Any], message: Message, out: Outbound) -> SendResult:
        """Deliver the message once; never raises for a failed delivery."""
        ...


@functools.cache
def adapters() -> dict[str, Adapter]:
    """The adapters by kind (imported on first use: the SMTP client takes a while to import,
    so the workers ask for them at start rather than on their first delivery)."""
    from datamesh.alerts.channels import email, slack, webhook

    return {a.kind: a for a in (webhook.ADAPTER, slack.ADAPTER, email.ADAPTER)}


def adapter(kind: str) -> Adapter:
    return adapters()[kind]
