"""HTTP APIs (REST endpoints, health URLs): settings and a real request as the test.

Credentials never sit in the config: the bearer token is a secret reference, and header names
that usually carry credentials are refused so nobody pastes one there by habit.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from datamesh.connectors.registry import ConnectorType, SecretField, TestOutcome
from datamesh.connectors.testers import describe_error, elapsed_ms, failure
from datamesh.kit.ssrf import (
    OutboundError,
    OutboundPolicy,
    guarded_client,
    request_following_redirects,
)

METHODS = ("GET", "HEAD", "POST")
# http(s), a host, no user:password@ in the authority, no whitespace.
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+([/?#]\S*)?$"
# RFC 9110 token characters only.
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"


def _ci(word: str) -> str:
    """Case-insensitive regex without inline flags (JSON Schema patterns are ECMA-262)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# Authorization/Cookie and any name that looks like it carries a credential.
CREDENTIAL_HEADER_PATTERN = "|".join(
    [f"^{_ci(n)}$" for n in ("proxy-authorization", "cookie")]
    + [_ci(w) for w in ("auth", "token", "secret", "passw", "api-key", "apikey", "api_key")]
)

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "HTTP API",
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "url": {
            "type": "string",
            "title": "URL",
            "maxLength": 2048,
            "format": "uri",
            "pattern": URL_PATTERN,
            "x-errors": {
                "pattern": "must be an http:// or https:// URL without user:password@",
                "format": "must be an http:// or https:// URL without user:password@",
            },
        },
        "method": {"enum": list(METHODS), "title": "Method", "default": "GET"},
        "expected_status": {
            "title": "Expected status",
            "description": "Status code, or list of codes, that count as success.",
            "default": 200,
            "anyOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 100, "maximum": 599},
                    "minItems": 1,
                    "maxItems": 20,
                    "uniqueItems": True,
                },
            ],
            "x-errors": {"anyOf": "must be a status code (100-599) or a list of them"},
        },
        "headers": {
            "type": "object",
            "title": "Extra headers",
            "maxProperties": 20,
            "propertyNames": {
                "pattern": HEADER_NAME_PATTERN,
                "not": {"pattern": CREDENTIAL_HEADER_PATTERN},
                "x-errors": {
                    "pattern": "is not a valid header name",
                    "not": "carries credentials: use the token secret "
                    "(sent as Authorization: Bearer) instead",
                },
            },
            "additionalProperties": {
                "type": "string",
                "maxLength": 1024,
                "pattern": r"^[\x20-\x7E\t]*$",
                "x-errors": {"pattern": "must be a single line of printable ASCII"},
            },
        },
    },
}


_HEADER_SAFE = re.compile(r"[\x21-\x7E]+")


def _os_cause(exc: BaseException) -> OSError | None:
    """The most specific OSError under httpx/httpcore/anyio wrapping (one with an errno)."""
    seen: set[int] = set()
    found: OSError | None = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            if current.errno is not None:
                return current
            found = found or current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return found


def _expected(config: Mapping[str, Any]) -> list[int]:
    value = config.get("expected_status", 200)
    return [int(v) for v in value] if isinstance(value, list) else [int(value)]


async def check_connection(
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - the tester protocol: a budget enforced inside
    policy: OutboundPolicy,
) -> TestOutcome:
    """Send the configured request through the SSRF guard; ok iff the status is expected."""
    start = time.perf_counter()
    url = str(config["url"])
    method = str(config.get("method", "GET"))
    expected = _expected(config)
    headers = {str(k): str(v) for k, v in dict(config.get("headers") or {}).items()}
    headers.setdefault("User-Agent", "DataMesh-connection-test")
    parsed = httpx.URL(url)
    target = f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"
    token = secrets.get("token")
    if token:
        if not _HEADER_SAFE.fullmatch(token):
            # Checked here so the HTTP library never gets to quote the value in its error.
            return failure("token contains characters not allowed in an HTTP header", start)
        headers["Authorization"] = f"Bearer {token}"
    try:
        # httpx's timeout bounds each phase; asyncio.timeout bounds the whole chain of hops.
        async with asyncio.timeout(timeout), guarded_client(policy, timeout=timeout) as client:
            response, hops = await request_following_redirects(client, method, url, headers=headers)
    except OutboundError as exc:
        return failure(exc.message, start)
    except (httpx.TimeoutException, TimeoutError):
        return failure(f"timed out after {timeout:g} s waiting for {target}", start)
    except httpx.ConnectError as exc:
        cause = _os_cause(exc)
        if cause is not None:
            return failure(describe_error(cause, target=target, timeout=timeout), start)
        return failure(f"cannot connect to {target}: {exc}", start)
    except httpx.HTTPError as exc:
        return failure(f"HTTP error with {target}: {type(exc).__name__}: {exc}", start)
    latency = elapsed_ms(start)
    status = response.status_code
    details: dict[str, Any] = {"status": status, "redirects": hops}
    if status in expected:
        return TestOutcome(True, f"HTTP {status} in {latency:.0f} ms", latency, details)
    wanted = " or ".join(str(s) for s in expected)
    return TestOutcome(False, f"expected {wanted}, got {status}", latency, details)


CONNECTOR = ConnectorType(
    type="http_api",
    title="HTTP API",
    description="An HTTP(S) endpoint; the test sends one request and checks the status code.",
    capabilities={"test_connection": True, "connect_snippets": True, "schema_refresh": False},
    config_schema=CONFIG_SCHEMA,
    secret_fields=(SecretField("token", "Bearer token, sent as Authorization: Bearer <token>."),),
    tester=check_connection,
)
