"""Outbound-connection guard (SSRF) for calls the server makes on a user's behalf.

Test connection lets a user point the server at any host. Self-hosted databases live on loopback
and private networks, so those are allowed by default; what is refused by default is what no data
source lives on and what an attacker wants: link-local addresses and cloud metadata endpoints
(they hand out instance credentials). Admins may deny more (e.g. ``127.0.0.0/8``) or allow a
default-denied range back by listing it explicitly.

Every address a name resolves to is checked (all A/AAAA), and callers connect to the checked
address rather than resolving again, so a DNS answer cannot change between check and use.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (network, why it is denied) — denied unless an admin allows it back explicitly.
DEFAULT_DENIED_NETWORKS: tuple[tuple[str, str], ...] = (
    ("169.254.0.0/16", "link-local / cloud metadata"),
    ("fe80::/10", "IPv6 link-local"),
    ("fd00:ec2::254/128", "AWS metadata (IPv6)"),
    ("100.100.100.200/32", "Alibaba Cloud metadata"),
    # "This host" addresses reach local services while dodging a loopback deny rule.
    ("0.0.0.0/8", "unspecified address"),
    ("::/128", "unspecified address"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("ff00::/8", "IPv6 multicast"),
)
DEFAULT_DENIED_HOSTS: frozenset[str] = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
MAX_REDIRECTS = 5

Resolver = Callable[[str, int | None], Awaitable[Sequence[str]]]


class OutboundError(Exception):
    """An outbound call was not made; the text names the host and is safe to show."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.message = message
        self.host = host


class OutboundBlocked(OutboundError):
    """The policy refuses the host or one of the addresses it resolves to."""


class HostNotResolved(OutboundError):
    """The host name has no address (DNS failure)."""


class RedirectLimitExceeded(OutboundError):
    """More redirects than allowed; the chain is not followed further."""


@dataclass(frozen=True, slots=True)
class _Rule:
    network: IPNetwork
    deny: bool
    # Tie-break at equal prefix length: admin deny (2) > admin allow (1) > default deny (0).
    rank: int
    reason: str


async def system_resolver(host: str, port: int | None) -> list[str]:
    """All A/AAAA addresses for a host, through the event loop's getaddrinfo."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _net(value: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"not an IP network: {value!r}") from None


def _normalise_host(host: str) -> str:
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    return h.rstrip(".")


def _embedded_ipv4(ip: IPAddress) -> list[IPAddress]:
    """The address plus any IPv4 address tunnelled inside an IPv6 one (mapped, 6to4, NAT64)."""
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found.append(ip.teredo[1])
        if ip in _NAT64:
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


class OutboundPolicy:
    """Which hosts outbound calls may reach; the most specific matching network decides."""

    def __init__(
        self,
        denied: Iterable[str] = (),
        allowed: Iterable[str] = (),
        *,
        denied_hosts: Iterable[str] = DEFAULT_DENIED_HOSTS,
        resolver: Resolver | None = None,
    ) -> None:
        self.denied: tuple[IPNetwork, ...] = tuple(_net(n) for n in denied)
        self.allowed: tuple[IPNetwork, ...] = tuple(_net(n) for n in allowed)
        self.denied_hosts = frozenset(_normalise_host(h) for h in denied_hosts)
        self._resolver: Resolver = resolver or system_resolver
        rules = [_Rule(_net(n), True, 0, why) for n, why in DEFAULT_DENIED_NETWORKS]
        rules += [_Rule(n, False, 1, "allowed by admin") for n in self.allowed]
        rules += [_Rule(n, True, 2, "denied by admin") for n in self.denied]
        self._rules = tuple(rules)

    def __repr__(self) -> str:
        return (
            f"OutboundPolicy(denied={[str(n) for n in self.denied]}, "
            f"allowed={[str(n) for n in self.allowed]})"
        )

    def _deciding_rule(self, ip: IPAddress) -> _Rule | None:
        best: _Rule | None = None
        for rule in self._rules:
            if ip.version == rule.network.version and ip in rule.network:
                key = (rule.network.prefixlen, rule.rank)
                if best is None or key > (best.network.prefixlen, best.rank):
                    best = rule
        return best

    def denial(self, ip: IPAddress) -> str | None:
        """Why the address is denied, or None when it may be reached."""
        for candidate in _embedded_ipv4(ip):
            rule = self._deciding_rule(candidate)
            if rule is not None and rule.deny:
                return f"{candidate} is in a denied network ({rule.network}, {rule.reason})"
        return None

    def is_allowed(self, ip: str | IPAddress) -> bool:
        addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        return self.denial(addr) is None

    async def check_host(self, host: str, port: int | None = None) -> list[IPAddress]:
        """Resolve a host and return its addresses if every one of them is allowed."""
        name = _normalise_host(host)
        if not name:
            raise OutboundBlocked("no host given", host=host)
        if name in self.denied_hosts:
            raise OutboundBlocked(
                f"outbound connection to {name} refused: cloud metadata host name", host=name
            )
        addresses = await self._addresses(name, port)
        for ip in addresses:
            reason = self.denial(ip)
            if reason is not None:
                target = name if str(ip) == name else f"{name} ({ip})"
                raise OutboundBlocked(
                    f"outbound connection to {target} refused: {reason}", host=name
                )
        return addresses

    async def _addresses(self, name: str, port: int | None) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(name)]
        except ValueError:
            pass
        try:
            raw = await self._resolver(name, port)
        except (OSError, UnicodeError):
            raw = []
        addresses: list[IPAddress] = []
        for item in raw:
            try:
                ip = ipaddress.ip_address(item)
            except ValueError:
                continue
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise HostNotResolved(f"{name}: host name could not be resolved", host=name)
        return addresses


# -- httpx ------------------------------------------------------------------------------------
DEFAULT_POOL = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks every request (so every redirect hop) against the policy
    and connects to the checked IP, keeping the Host header and TLS server name of the URL."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        verify: bool | str = True,
        inner: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport(
            verify=verify, retries=0, limits=limits or DEFAULT_POOL
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        if url.scheme not in ("http", "https"):
            raise OutboundBlocked(
                f"outbound connection to {host or url.scheme} refused: only http and https",
                host=host,
            )
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await self.policy.check_host(host, port)
        is_literal = any(str(ip) == _normalise_host(host) for ip in addresses)
        last_error: httpx.TransportError | None = None
        for ip in addresses:
            extensions: dict[str, Any] = dict(request.extensions)
            if url.scheme == "https" and not is_literal:
                extensions["sni_hostname"] = host  # certificate checked against the name
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(ip)),
                headers=request.headers,  # keeps Host: <name>
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # try the next address, as a resolver would
                last_error = exc
        if last_error is None:  # unreachable: check_host never returns an empty list
            raise HostNotResolved(f"{host}: host name could not be resolved", host=host)
        raise last_error

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_client(
    policy: OutboundPolicy,
    *,
    timeout: float,
    verify: bool | str = True,
    headers: dict[str, str] | None = None,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient whose every request goes through the policy (``limits``: its pool's).

    ``trust_env=False``: an HTTP(S)_PROXY from the environment would connect on our behalf and
    bypass the address check. Redirects are not followed automatically; use
    :func:`request_following_redirects` (the client's own cap of 5 is a backstop).
    """
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, verify=verify, limits=limits),
        timeout=timeout,
        follow_redirects=False,
        max_redirects=MAX_REDIRECTS,
        trust_env=False,
        headers=headers,
    )


async def request_following_redirects(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    max_redirects: int = MAX_REDIRECTS,
    read_body: bool = False,
) -> tuple[httpx.Response, int]:
    """Send a request and follow redirects by hand, each hop checked by the transport.

    Returns the final response (body unread and closed unless ``read_body``) and the number of
    redirects followed. httpx builds each next request, dropping Authorization when the origin
    changes.
    """
    request = client.build_request(method, url, headers=headers)
    hops = 0
    while True:
        response = await client.send(request, stream=True, follow_redirects=False)
        next_request = response.next_request
        if next_request is None:
            if read_body:
                await response.aread()
            await response.aclose()
            return response, hops
        await response.aclose()
        hops += 1
        if hops > max_redirects:
            host = next_request.url.host
            raise RedirectLimitExceeded(
                f"more than {max_redirects} redirects (last to {host})", host=host
            )
        request = next_request
