"""Where alerts go: small adapters behind one interface (like connector types).

An adapter turns a :class:`Message` into one outbound call and reports a :class:`SendResult`
(never raising for a failed delivery). Errors are short, scrubbed of any secret resolved for
the call, and safe to store in the delivery log.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable, Iterator
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


class Lanes:
    """Several outbound clients with small pools, each send taken by the least busy one.

    httpcore looks at every connection of its pool on each request (is it idle, has it
    expired: a poll of the socket), so one pool as wide as a process sends at once costs
    O(width) per request; lanes of ``width / n`` connections cost 1/n of it, for the same
    number of sends at once. The least busy lane is the first while the process is quiet, so
    connections to a receiver are still reused."""

    def __init__(self, lanes: list[Outbound]) -> None:
        self.lanes = lanes
        self._busy = [0] * len(lanes)

    @contextlib.contextmanager
    def take(self) -> Iterator[Outbound]:
        i = self._busy.index(min(self._busy))
        self._busy[i] += 1
        try:
            yield self.lanes[i]
        finally:
            self._busy[i] -= 1

    async def aclose(self) -> None:
        for lane in self.lanes:
            if lane.http is not None:
                await lane.http.aclose()


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
