"""Connector catalog and nodes: rules, validation, connection tests and health.

Members of an organization read its nodes; its admins create, change and delete them and run
tests of unsaved settings (a test resolves secrets and connects where the settings say). Other
organizations' nodes answer 404.

A connection test never runs inside a database transaction: what the test needs is read, the
transaction is ended (its connection goes back to the pool, no row stays locked), the test runs
with its own timeout, and the result is written in a short new transaction. A status change
writes exactly one ``node.status_changed`` event: the result is written under a row lock, so
two concurrent checks cannot both announce the same change.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.connectors import registry
from datamesh.connectors import repository as repo
from datamesh.connectors.registry import ConnectorType, UnknownConnector
from datamesh.connectors.schemas import Connector as ConnectorOut
from datamesh.connectors.schemas import (
    ConnectorDetail,
    NodeCreate,
    NodeUpdate,
    SecretFieldInfo,
    TestResult,
)
from datamesh.connectors.testers import describe_error, run_test
from datamesh.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable, field_error
from datamesh.events import service as events
from datamesh.kit.context import Actor, current_trace_id
from datamesh.kit.pagination import decode_cursor, split_page
from datamesh.kit.refs import Ref
from datamesh.kit.ssrf import OutboundPolicy
from datamesh.models.nodes import Node, NodeCheck
from datamesh.secrets.references import parse_ref
from datamesh.secrets.resolver import SecretResolutionError, SecretResolver
from datamesh.secrets.scrub import scrub

log = logging.getLogger(__name__)
tracer = trace.get_tracer("datamesh.connectors")

HISTORY_KEEP = 50
MAX_MESSAGE = 2000
HEALTH_CHECKER = Actor.system("health-checker")
# References that would hand DataMesh's own credentials to a connection test.
PROTECTED_ENV_PREFIXES: tuple[str, ...] = ("DATAMESH_", "DATABASE_URL")
PROTECTED_PATHS: tuple[str, ...] = ("/proc", "/sys", "/dev")


@dataclass(frozen=True, slots=True)
class Runtime:
    """What connection tests need; built once per app from settings (``health.lifespan``)."""

    resolver: SecretResolver
    policy: OutboundPolicy
    timeout: float
    # Files under these directories (the data directory, the .env file) are never resolved.
    protected_paths: tuple[Path, ...] = ()
    # A crawl's budget for connecting and for each statement it runs on the source.
    crawl_timeout: float = 120.0


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """What a check of a saved node needs, read before the transaction ends."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> Ref:
        return Ref("node", str(self.id), self.name)


def target_of(node: Node) -> NodeTarget:
    return NodeTarget(
        node.id, node.org_id, node.name, node.type, dict(node.config), dict(node.secrets)
    )


def _now() -> datetime:
    return datetime.now(UTC)


# -- connector types ---------------------------------------------------------------------------
def _connector(type_id: str, *, field_name: str | None = None) -> ConnectorType:
    try:
        return registry.get(type_id)
    except UnknownConnector:
        if field_name is None:
            raise NotFound("No such connector type.") from None
        known = ", ".join(t.type for t in registry.all_types())
        raise Unprocessable(
            f"{field_name}: is not a connector type (known: {known})",
            errors=[field_error([field_name], f"is not a connector type (known: {known})")],
        ) from None


def connector_summary(ctype: ConnectorType) -> ConnectorOut:
    return ConnectorOut(
        type=ctype.type,
        title=ctype.title,
        description=ctype.description,
        capabilities=dict(ctype.capabilities),
        secret_fields=[
            SecretFieldInfo(name=s.name, description=s.description, required=s.required)
            for s in ctype.secret_fields
        ],
        config_schema_ref=f"/api/connectors/{ctype.type}#/config_schema",
    )


def list_connectors() -> list[ConnectorOut]:
    return [connector_summary(t) for t in registry.all_types()]


def get_connector(type_id: str) -> ConnectorDetail:
    ctype = _connector(type_id)
    return ConnectorDetail(
        **connector_summary(ctype).model_dump(), config_schema=dict(ctype.config_schema)
    )


# -- validation --------------------------------------------------------------------------------
_ECHOING_SUFFIXES = {
    "has too many properties": "has too many entries",
    "does not have enough properties": "has too few entries",
    "is too long": "has too many items",
    "is too short": "has too few items",
    "has non-unique elements": "has duplicate items",
}


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (str(k), *_strings_in(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings_in(v)]
    return []


def _safe_message(message: str, config: Mapping[str, Any]) -> str:
    """A schema message that does not repeat what was submitted (it may be a pasted secret):
    jsonschema's own messages for some keywords quote the whole offending value."""
    for suffix, replacement in _ECHOING_SUFFIXES.items():
        if message.endswith(suffix):
            return replacement
    if any(len(s) >= 8 and s in message for s in _strings_in(config)):
        return "is not valid"
    return message


def _validate(ctype: ConnectorType, config: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
    errors = [
        field_error(["config", *e.path], _safe_message(e.message, config))
        for e in registry.validate_config(ctype, config)
    ]
    errors += [
        field_error(["secrets", *e.path], e.message)
        for e in registry.validate_secrets(ctype, secrets)
    ]
    if errors:
        summary = "; ".join(f"{e['field']}: {e['msg']}" for e in errors[:5])
        raise Unprocessable(f"Invalid {ctype.type} settings: {summary}", errors=errors)


def _require_crawlable(type_id: str, interval: int | None) -> None:
    if interval is None:
        return
    ctype = _connector(type_id)
    if ctype.crawler is None:
        raise Unprocessable(
            f"{ctype.title} nodes cannot be crawled.",
            errors=[field_error(["crawl_interval_minutes"], "this connector type cannot crawl")],
        )


def _require_admin(actor: Principal) -> None:
    if not (actor.is_org_admin or actor.is_platform_admin):
        raise Forbidden("Only admins of the organization may do this.")


# -- nodes: CRUD ------------------------------------------------------------------------------
def _ref(node: Node) -> Ref:
    return Ref("node", str(node.id), node.name)


def _snapshot(node: Node) -> dict[str, Any]:
    """What audit diffs compare; each secret reference is its own (secret-marked) field."""
    return {
        "name": node.name,
        "type": node.type,
        "config": dict(node.config),
        "tags": list(node.tags),
        "check_interval_seconds": node.check_interval_seconds,
        "crawl_interval_minutes": node.crawl_interval_minutes,
        **{f"secrets.{k}": v for k, v in sorted(node.secrets.items())},
    }


def _secret_keys(*snapshots: Mapping[str, Any]) -> set[str]:
    return {k for s in snapshots for k in s if k.startswith("secrets.")}


def _tags(tags: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(tags))


async def get_node(session: AsyncSession, actor: Principal, node_id: uuid.UUID) -> Node:
    node = await repo.get(session, actor.org_id, node_id)
    if node is None:
        raise NotFound("No such node.")
    return node


async def create_node(session: AsyncSession, actor: Principal, data: NodeCreate) -> Node:
    _require_admin(actor)
    ctype = _connector(data.type, field_name="type")
    _validate(ctype, data.config, data.secrets)
    _require_crawlable(ctype.type, data.crawl_interval_minutes)
    if await repo.name_taken(session, actor.org_id, data.name):
        raise Conflict(f"A node named {data.name!r} already exists in this organization.")
    node = await repo.add(
        session,
        Node(
            org_id=actor.org_id,
            name=data.name,
            type=ctype.type,
            config=dict(data.config),
            secrets=dict(data.secrets),
            tags=_tags(data.tags),
            created_by=actor.user_id,
            status="unknown",
            check_interval_seconds=data.check_interval_seconds,
            next_check_at=_now() if data.check_interval_seconds else None,
            crawl_interval_minutes=data.crawl_interval_minutes,
            next_crawl_at=_now() if data.crawl_interval_minutes else None,
        ),
    )
    after = _snapshot(node)
    await audit.record(
        session,
        actor.actor(),
        "node.create",
        _ref(node),
        audit.diff({}, after, secret_fields=_secret_keys(after)),
        org_id=node.org_id,
    )
    await events.emit(
        session, "node.created", actor.actor(), _ref(node), {"type": node.type}, org_id=node.org_id
    )
    return node


def _merged(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


async def update_node(
    session: AsyncSession, actor: Principal, node_id: uuid.UUID, data: NodeUpdate
) -> Node:
    node = await get_node(session, actor, node_id)
    _require_admin(actor)
    before = _snapshot(node)
    if data.config is not None or data.secrets is not None:
        try:
            ctype = registry.get(node.type)
        except UnknownConnector:
            raise Conflict(
                f"The connector type {node.type!r} is not installed; its settings cannot be "
                "validated or changed."
            ) from None
        config = _merged(node.config, data.config or {})
        secrets = _merged(node.secrets, data.secrets or {})
        _validate(ctype, config, secrets)
        if (config, secrets) != (node.config, node.secrets) and node.check_interval_seconds:
            node.next_check_at = _now()  # new settings: check them at the next poll
        node.config, node.secrets = config, secrets
    if data.name is not None and data.name != node.name:
        if await repo.name_taken(session, node.org_id, data.name, exclude=node.id):
            raise Conflict(f"A node named {data.name!r} already exists in this organization.")
        node.name = data.name
    if data.tags is not None:
        node.tags = _tags(data.tags)
    if (
        "check_interval_seconds" in data.model_fields_set
        and data.check_interval_seconds != node.check_interval_seconds
    ):
        node.check_interval_seconds = data.check_interval_seconds
        node.next_check_at = _now() if data.check_interval_seconds else None
    if (
        "crawl_interval_minutes" in data.model_fields_set
        and data.crawl_interval_minutes != node.crawl_interval_minutes
    ):
        _require_crawlable(node.type, data.crawl_interval_minutes)
        node.crawl_interval_minutes = data.crawl_interval_minutes
        node.next_crawl_at = _now() if data.crawl_interval_minutes else None
    after = _snapshot(node)
    changes = audit.diff(before, after, secret_fields=_secret_keys(before, after))
    if not changes:
        return node
    node = await repo.save(session, node)
    await audit.record(
        session, actor.actor(), "node.update", _ref(node), changes, org_id=node.org_id
    )
    await events.emit(
        session,
        "node.updated",
        actor.actor(),
        _ref(node),
        {"fields": sorted(changes)},
        org_id=node.org_id,
    )
    return node


async def delete_node(session: AsyncSession, actor: Principal, node_id: uuid.UUID) -> None:
    node = await get_node(session, actor, node_id)
    _require_admin(actor)
    before = _snapshot(node)
    ref = _ref(node)
    await audit.record(
        session,
        actor.actor(),
        "node.delete",
        ref,
        audit.diff(before, {}, secret_fields=_secret_keys(before)),
        org_id=node.org_id,
    )
    await events.emit(
        session,
        "node.deleted",
        actor.actor(),
        ref,
        {"name": node.name, "type": node.type},
        org_id=node.org_id,
    )
    await repo.delete_node(session, node)


def _cursor_key(node: Node, sort: str) -> list[Any]:
    if sort == "updated":
        return [sort, node.updated_at.isoformat(), str(node.id)]
    if sort == "status":
        return [sort, node.status, node.name.lower(), str(node.id)]
    return [sort, node.name.lower(), str(node.id)]


async def list_nodes(
    session: AsyncSession,
    actor: Principal,
    filters: repo.NodeFilters,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[Node], str | None]:
    after = decode_cursor(cursor, repo.sort_arity(sort) + 1)
    if after is not None and after[0] != sort:
        raise BadRequest("The cursor belongs to another sort order; start again without it.")
    rows = await repo.page(
        session, actor.org_id, filters, sort, after[1:] if after else None, limit
    )
    return split_page(rows, limit, lambda n: _cursor_key(n, sort))


async def list_checks(
    session: AsyncSession, actor: Principal, node_id: uuid.UUID
) -> list[NodeCheck]:
    node = await get_node(session, actor, node_id)
    return await repo.checks(session, node.id, HISTORY_KEEP)


# -- connection tests ------------------------------------------------------------------------
async def _release(session: AsyncSession) -> None:
    """End the request's transaction before a connection test, keeping what it wrote so far
    (e.g. an API key's last use): its connection goes back to the pool and no row stays locked
    while the test waits on the network. The session begins a new transaction when next used.
    """
    await session.commit()


def _protected(runtime: Runtime, ref: str) -> bool:
    parsed = parse_ref(ref)
    if parsed.scheme == "env":
        return parsed.location.upper().startswith(PROTECTED_ENV_PREFIXES)
    if parsed.scheme == "file":
        real = Path(os.path.realpath(parsed.location))
        roots = [Path(p) for p in PROTECTED_PATHS] + [
            Path(os.path.realpath(p)) for p in runtime.protected_paths
        ]
        return any(real == root or root in real.parents for root in roots)
    return False


def is_protected(runtime: Runtime, ref: str) -> bool:
    """Whether a reference names DataMesh's own configuration (never handed to a user's call)."""
    return _protected(runtime, ref)


async def _resolve(runtime: Runtime, refs: Mapping[str, str]) -> dict[str, str]:
    for name, ref in refs.items():
        if _protected(runtime, ref):
            raise SecretResolutionError(
                f"{name}: {ref} is DataMesh's own configuration and is never used for a connection",
                ref=ref,
                field=name,
            )
    return await runtime.resolver.resolve_many(refs)


async def resolve_secrets(runtime: Runtime, refs: Mapping[str, str]) -> dict[str, str]:
    """Resolve a node's secret references at the moment of use (never DataMesh's own)."""
    return await _resolve(runtime, refs)


def _clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


async def execute(
    runtime: Runtime, type_id: str, config: Mapping[str, Any], refs: Mapping[str, str]
) -> TestResult:
    """Resolve the secrets and run the type's tester: a scrubbed result, never an exception."""
    try:
        ctype = registry.get(type_id)
    except UnknownConnector:
        return TestResult(
            ok=False,
            status="unknown",
            message=f"the connector type {type_id} is not installed on this server",
            latency_ms=None,
            checked_at=_now(),
        )
    if ctype.tester is None:
        return TestResult(
            ok=False,
            status="unknown",
            message=f"{ctype.type} has no live connection test in DataMesh; its settings are "
            "used for Connect snippets, so check the connection from your platform",
            latency_ms=None,
            checked_at=_now(),
        )
    start = time.perf_counter()
    try:
        values = await _resolve(runtime, refs)
    except SecretResolutionError as exc:
        return TestResult(
            ok=False,
            status="error",
            message=_clip(f"secret {exc.message}"),
            latency_ms=round((time.perf_counter() - start) * 1000, 1),
            checked_at=_now(),
        )
    outcome = await run_test(ctype, config, values, timeout=runtime.timeout, policy=runtime.policy)
    return TestResult(
        ok=outcome.ok,
        status="ok" if outcome.ok else "error",
        message=_clip(outcome.message),
        latency_ms=outcome.latency_ms,
        checked_at=_now(),
    )


def _target_hint(config: Mapping[str, Any]) -> str | None:
    """Where a test pointed (host:port or URL), for the audit log."""
    if isinstance(config.get("url"), str):
        return str(config["url"])[:500]
    if isinstance(config.get("host"), str):
        port = config.get("port")
        return f"{config['host']}:{port}" if port else str(config["host"])
    return None


def _outcome_details(result: TestResult, **extra: Any) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "status": result.status,
        "message": result.message,
        "latency_ms": result.latency_ms,
        **{k: v for k, v in extra.items() if v is not None},
    }


async def run_settings_test(
    session: AsyncSession,
    actor: Principal,
    runtime: Runtime,
    type_id: str,
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    type_field: str | None = None,
) -> TestResult:
    """Test unsaved settings (admins). ``type_field`` names the payload field holding the type
    (an unknown type is then a 422 on it, else a 404)."""
    _require_admin(actor)
    ctype = _connector(type_id, field_name=type_field)
    _validate(ctype, config, secrets)
    await _release(session)
    with tracer.start_as_current_span(
        "connector.test", attributes={"connector.type": ctype.type, "org.id": str(actor.org_id)}
    ) as span:
        result = await execute(runtime, ctype.type, config, secrets)
        _annotate(span, result)
    await audit.record(
        session,
        actor.actor(),
        "connector.test",
        Ref("connector", ctype.type, ctype.title),
        details=_outcome_details(result, target=_target_hint(config)),
        org_id=actor.org_id,
    )
    return result


async def run_node_test(
    session: AsyncSession, actor: Principal, runtime: Runtime, node_id: uuid.UUID
) -> TestResult:
    """Test a saved node (members of its organization) and record its health."""
    target = target_of(await get_node(session, actor, node_id))
    await _release(session)
    return await check_node(session, actor.actor(), runtime, target, trigger="manual")


def _annotate(span: trace.Span, result: TestResult) -> None:
    span.set_attribute("check.ok", result.ok)
    span.set_attribute("check.status", result.status)
    if result.latency_ms is not None:
        span.set_attribute("check.latency_ms", result.latency_ms)
    if not result.ok and result.status == "error":
        span.set_status(Status(StatusCode.ERROR, "connection check failed"))


async def check_node(
    session: AsyncSession, actor: Actor, runtime: Runtime, target: NodeTarget, *, trigger: str
) -> TestResult:
    """Check a node's connection and record the result.

    The session must hold no open transaction: the test runs before it is first used, and the
    result is written in the transaction that use begins (the caller commits it).
    """
    with tracer.start_as_current_span(
        "node.check",
        attributes={
            "node.id": str(target.id),
            "node.type": target.type,
            "node.trigger": trigger,
            "org.id": str(target.org_id),
        },
    ) as span:
        result = await execute(runtime, target.type, target.config, target.secrets)
        _annotate(span, result)
        changed = await record_check(session, actor, target, result, trigger=trigger)
        if changed:
            span.set_attribute("node.status_changed", True)
            span.set_attribute("node.previous_status", changed[0])
    log.log(
        logging.INFO if changed else logging.DEBUG,
        "node check: node=%s type=%s trigger=%s status=%s%s latency_ms=%s",
        target.id,
        target.type,
        trigger,
        result.status,
        f" (was {changed[0]})" if changed else "",
        result.latency_ms,
    )
    return result


async def record_check(
    session: AsyncSession,
    actor: Actor,
    target: NodeTarget,
    result: TestResult,
    *,
    trigger: str,
) -> tuple[str, str] | None:
    """Write a check's result; returns (from, to) when the node's status changed.

    Under the node's row lock: a result is applied only if the node still has the settings that
    were tested and no newer result was written meanwhile.
    """
    node = await repo.lock(session, target.id)
    changed: tuple[str, str] | None = None
    applied = (
        node is not None
        and result.status != "unknown"
        and (node.type, node.config, node.secrets) == (target.type, target.config, target.secrets)
        and (node.last_checked_at is None or node.last_checked_at <= result.checked_at)
    )
    if node is not None and applied:
        previous = node.status
        await repo.add_check(
            session,
            NodeCheck(
                node_id=node.id,
                checked_at=result.checked_at,
                ok=result.ok,
                status=result.status,
                latency_ms=result.latency_ms,
                message=result.message,
                trigger=trigger,
                trace_id=current_trace_id(),
            ),
            HISTORY_KEEP,
        )
        interval = node.check_interval_seconds
        await repo.set_health(
            session,
            node.id,
            status=result.status,
            checked_at=result.checked_at,
            latency_ms=result.latency_ms,
            message=result.message,
            next_check_at=result.checked_at + timedelta(seconds=interval) if interval else None,
        )
        if previous != result.status:
            changed = (previous, result.status)
            await events.emit(
                session,
                "node.status_changed",
                actor,
                target.ref,
                {
                    "from": previous,
                    "to": result.status,
                    "message": result.message,
                    "latency_ms": result.latency_ms,
                },
                org_id=target.org_id,
            )
    status_change = {"status": {"before": changed[0], "after": changed[1]}} if changed else {}
    details = _outcome_details(result, trigger=trigger, target=_target_hint(target.config))
    if trigger == "manual":
        await audit.record(
            session,
            actor,
            "node.test",
            target.ref,
            status_change,
            org_id=target.org_id,
            details={**details, "recorded": applied},
        )
    elif changed:
        await audit.record(
            session,
            actor,
            "node.status_change",
            target.ref,
            status_change,
            org_id=target.org_id,
            details=details,
        )
    return changed


async def claim_due_nodes(
    session: AsyncSession, limit: int, lease_seconds: int, exclude: Sequence[uuid.UUID] = ()
) -> list[NodeTarget]:
    """Nodes whose periodic check is due, leased to the caller (commit to take the lease)."""
    if limit <= 0:
        return []
    return [target_of(n) for n in await repo.claim_due(session, limit, lease_seconds, exclude)]


class SchemaReadError(Exception):
    """Reading a table's columns failed; the message is scrubbed and safe to show."""


async def read_columns(
    session: AsyncSession,
    runtime: Runtime,
    actor: Principal,
    node_id: uuid.UUID,
    schema: str,
    table: str,
) -> list[dict[str, str]]:
    """Columns of a table on a saved PostgreSQL node, read outside the request's transaction."""
    from datamesh.connectors.types import postgresql

    node = await get_node(session, actor, node_id)
    target = target_of(node)
    if target.type != "postgresql":
        raise Conflict(f"Schema refresh reads PostgreSQL nodes; {target.name} is {target.type}.")
    await _release(session)
    try:
        values = await _resolve(runtime, target.secrets)
    except SecretResolutionError as exc:
        raise SchemaReadError(_clip(f"secret {exc.message}")) from None
    config = registry.apply_defaults("postgresql", target.config)
    try:
        columns = await postgresql.read_columns(
            config, values, runtime.timeout, runtime.policy, schema, table
        )
    except Exception as exc:  # any failure becomes a scrubbed message, never a trace
        where = f"{config.get('host')}:{config.get('port')}"
        reason = (
            str(exc).strip() or type(exc).__name__
            if isinstance(exc, asyncpg.PostgresError)
            else describe_error(exc, target=where, timeout=runtime.timeout)
        )
        raise SchemaReadError(_clip(scrub(reason, values.values()))) from None
    return columns
