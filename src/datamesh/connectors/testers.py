"""Running connection testers safely, and helpers the testers share.

:func:`run_test` is the one entry point services use: it validates the config, applies defaults,
enforces the time budget even on a misbehaving tester, turns any exception into a failed outcome,
and scrubs every resolved secret out of the message and details, whatever the tester did.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import time
from collections.abc import Mapping
from typing import Any

from datamesh.connectors.registry import (
    ConnectorType,
    TestOutcome,
    apply_defaults,
    validate_config,
)
from datamesh.kit.ssrf import OutboundError, OutboundPolicy
from datamesh.secrets.scrub import scrub, scrub_exception

# Extra time a tester gets past its own timeout before run_test cuts it off.
_GRACE_SECONDS = 1.0


class TestNotSupported(Exception):
    """The connector type has no tester (it never pretends to test)."""

    __test__ = False

    def __init__(self, type_id: str) -> None:
        super().__init__(f"{type_id} connections cannot be tested")
        self.type_id = type_id


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def failure(message: str, start: float, **details: Any) -> TestOutcome:
    return TestOutcome(ok=False, message=message, latency_ms=elapsed_ms(start), details=details)


def describe_error(exc: BaseException, *, target: str, timeout: float) -> str:
    """A short, user-facing reason for a network-level failure (not yet scrubbed)."""
    if isinstance(exc, OutboundError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s connecting to {target}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {target}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate of {target} could not be verified: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error with {target}: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.errno is not None:
        reasons = {
            errno.EHOSTUNREACH: "host unreachable",
            errno.ENETUNREACH: "network unreachable",
            errno.ECONNRESET: "connection reset",
            errno.ETIMEDOUT: "connection timed out",
            errno.ECONNREFUSED: "connection refused",
        }
        if exc.errno in reasons:
            return f"{reasons[exc.errno]} ({target})"
        return f"{target}: {exc.strerror or exc}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _scrub_value(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, Mapping):
        return {scrub(str(k), secrets): _scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(v, secrets) for v in value]
    return value


def scrub_outcome(outcome: TestOutcome, secrets: Mapping[str, str]) -> TestOutcome:
    values = [v for v in secrets.values() if isinstance(v, str)]
    return TestOutcome(
        ok=outcome.ok,
        message=scrub(outcome.message, values),
        latency_ms=outcome.latency_ms,
        details=_scrub_value(outcome.details, values),
    )


async def run_test(
    connector: ConnectorType,
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    timeout: float,  # noqa: ASYNC109 - the tester protocol: a budget enforced inside
    policy: OutboundPolicy,
) -> TestOutcome:
    """Test a connection with resolved secrets; always returns a scrubbed outcome.

    Raises :class:`TestNotSupported` for a type without a tester.
    """
    if connector.tester is None:
        raise TestNotSupported(connector.type)
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    start = time.perf_counter()
    values = [v for v in secrets.values() if isinstance(v, str)]
    problems = validate_config(connector, config)
    if problems:
        text = "; ".join(f"{'.'.join(map(str, p.path)) or 'config'}: {p.message}" for p in problems)
        outcome = failure(f"invalid config: {text}", start)
        return scrub_outcome(outcome, secrets)
    unknown = sorted(set(secrets) - {s.name for s in connector.secret_fields})
    if unknown:
        return failure(f"unknown secret fields: {', '.join(unknown)}", start)
    try:
        async with asyncio.timeout(timeout + _GRACE_SECONDS):
            outcome = await connector.tester(
                apply_defaults(connector, config), dict(secrets), timeout, policy
            )
    except TimeoutError:
        outcome = failure(f"timed out after {timeout:g} s", start)
    except OutboundError as exc:
        outcome = failure(exc.message, start)
    except Exception as exc:
        # A tester bug or an unexpected driver error: described by type and scrubbed text.
        outcome = failure(scrub_exception(exc, values), start)
    return scrub_outcome(outcome, secrets)
