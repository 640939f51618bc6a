"""Node health rules in the service: history bounds, one event per status change under
concurrency, stale results, tracing, uninstalled types. Real PostgreSQL and HTTP targets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from datamesh.auth.principal import Principal
from datamesh.connectors import service
from datamesh.connectors.schemas import NodeCreate, NodeUpdate, TestResult
from datamesh.connectors.service import NodeTarget, Runtime
from datamesh.db import session_scope
from datamesh.errors import Conflict, Forbidden, NotFound, Unprocessable
from datamesh.kit.context import Actor
from tests.factories import make_user
from tests.fixtures.http_target import HttpTarget

SYSTEM = Actor.system("test")


@pytest.fixture
async def admin(app: FastAPI) -> Principal:
    account = await make_user(app, "admin@acme.test", role="admin")
    return Principal(
        kind="user",
        id=uuid.UUID(account.id),
        name="Admin",
        email=account.email,
        org_id=uuid.UUID(account.org_id),
        role="admin",
        user_id=uuid.UUID(account.id),
    )


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    rt: Runtime = app.state.connector_runtime
    return rt


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "the app configures an SDK tracer provider"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


async def _node(app: FastAPI, admin: Principal, url: str, name: str = "api") -> NodeTarget:
    async with session_scope(app.state.sessionmaker) as session:
        node = await service.create_node(
            session,
            admin,
            NodeCreate(name=name, type="http_api", config={"url": url}),
        )
        return service.target_of(node)


def _result(status: str, at: datetime | None = None) -> TestResult:
    return TestResult(
        ok=status == "ok",
        status=status,  # type: ignore[arg-type]
        message=f"it is {status}",
        latency_ms=1.5,
        checked_at=at or datetime.now(UTC),
    )


async def test_history_keeps_the_latest_fifty_checks(
    app: FastAPI,
    admin: Principal,
    runtime: Runtime,
    http_target: HttpTarget,
    raw_conn: asyncpg.Connection,
) -> None:
    target = await _node(app, admin, http_target.url("/ok"))
    for _ in range(55):
        async with session_scope(app.state.sessionmaker) as session:
            result = await service.check_node(session, SYSTEM, runtime, target, trigger="schedule")
            assert result.ok
    rows = await raw_conn.fetch(
        "SELECT checked_at FROM node_checks WHERE node_id = $1 ORDER BY checked_at", target.id
    )
    assert len(rows) == service.HISTORY_KEEP == 50
    last = await raw_conn.fetchval("SELECT last_checked_at FROM nodes WHERE id = $1", target.id)
    assert rows[-1]["checked_at"] == last, "the newest checks are the ones kept"
    async with session_scope(app.state.sessionmaker) as session:
        listed = await service.list_checks(session, admin, target.id)
    assert len(listed) == 50
    assert listed[0].checked_at == last


async def test_concurrent_checks_announce_a_status_change_once(
    app: FastAPI, admin: Principal, http_target: HttpTarget, raw_conn: asyncpg.Connection
) -> None:
    target = await _node(app, admin, http_target.url("/ok"))
    await raw_conn.execute("UPDATE nodes SET status = 'ok' WHERE id = $1", target.id)

    async def record(result: TestResult) -> tuple[str, str] | None:
        async with session_scope(app.state.sessionmaker) as session:
            return await service.record_check(session, SYSTEM, target, result, trigger="schedule")

    now = datetime.now(UTC)
    outcomes = await asyncio.gather(*(record(_result("error", now)) for _ in range(4)))
    assert sorted(outcomes, key=str) == [("ok", "error"), None, None, None]
    events = await raw_conn.fetch(
        "SELECT payload FROM events WHERE type = 'node.status_changed' AND subject_id = $1",
        str(target.id),
    )
    assert len(events) == 1
    assert await raw_conn.fetchval("SELECT count(*) FROM node_checks") == 4
    audits = await raw_conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'node.status_change'"
    )
    assert audits == 1, "a scheduled check is audited only when the status changes"


async def test_a_result_for_old_settings_or_an_older_check_is_not_applied(
    app: FastAPI, admin: Principal, http_target: HttpTarget, raw_conn: asyncpg.Connection
) -> None:
    target = await _node(app, admin, http_target.url("/ok"))
    async with session_scope(app.state.sessionmaker) as session:
        await service.update_node(
            session, admin, target.id, NodeUpdate(config={"url": http_target.url("/fail")})
        )
    async with session_scope(app.state.sessionmaker) as session:
        changed = await service.record_check(
            session, admin.actor(), target, _result("ok"), trigger="manual"
        )
    assert changed is None
    row = await raw_conn.fetchrow("SELECT status, last_checked_at FROM nodes")
    assert (row["status"], row["last_checked_at"]) == ("unknown", None)
    recorded = await raw_conn.fetchval(
        "SELECT details->>'recorded' FROM audit_log WHERE action = 'node.test'"
    )
    assert recorded == "false", "the test is still audited"

    fresh = NodeTarget(
        target.id, target.org_id, target.name, "http_api", {"url": http_target.url("/fail")}, {}
    )
    now = datetime.now(UTC)
    async with session_scope(app.state.sessionmaker) as session:
        assert await service.record_check(
            session, SYSTEM, fresh, _result("error", now), trigger="schedule"
        ) == ("unknown", "error")
    async with session_scope(app.state.sessionmaker) as session:
        late = _result("ok", now - timedelta(seconds=5))
        assert await service.record_check(session, SYSTEM, fresh, late, trigger="schedule") is None
    assert await raw_conn.fetchval("SELECT status FROM nodes") == "error"


async def test_a_check_is_traced_and_its_event_carries_the_trace(
    app: FastAPI,
    admin: Principal,
    runtime: Runtime,
    http_target: HttpTarget,
    spans: InMemorySpanExporter,
    raw_conn: asyncpg.Connection,
) -> None:
    target = await _node(app, admin, http_target.url("/fail"))
    spans.clear()
    async with session_scope(app.state.sessionmaker) as session:
        result = await service.check_node(session, SYSTEM, runtime, target, trigger="schedule")
    assert result.status == "error"
    checks: list[ReadableSpan] = [s for s in spans.get_finished_spans() if s.name == "node.check"]
    assert len(checks) == 1
    span = checks[0]
    assert span.attributes is not None
    assert span.attributes["node.id"] == str(target.id)
    assert span.attributes["node.type"] == "http_api"
    assert span.attributes["node.trigger"] == "schedule"
    assert span.attributes["check.status"] == "error"
    assert span.attributes["node.status_changed"] is True
    trace_id = format(span.context.trace_id, "032x")
    event_trace = await raw_conn.fetchval(
        "SELECT trace_id FROM events WHERE type = 'node.status_changed' AND subject_id = $1",
        str(target.id),
    )
    assert event_trace == trace_id
    # The outbound request is a child of the check.
    children = [s for s in spans.get_finished_spans() if s.parent is not None]
    assert any(s.parent.span_id == span.context.span_id for s in children if s.parent)


async def test_an_uninstalled_type_is_reported_not_pretended(
    app: FastAPI, admin: Principal, runtime: Runtime, raw_conn: asyncpg.Connection
) -> None:
    node_id = await raw_conn.fetchval(
        "INSERT INTO nodes (id, org_id, name, type, config, secrets, tags, status) "
        "VALUES (gen_random_uuid(), $1, 'legacy', 'gone_plugin', '{}', '{}', '{}', 'ok') "
        "RETURNING id",
        admin.org_id,
    )
    async with session_scope(app.state.sessionmaker) as session:
        result = await service.run_node_test(session, admin, runtime, node_id)
    assert (result.ok, result.status) == (False, "unknown")
    assert "not installed" in result.message
    assert await raw_conn.fetchval("SELECT status FROM nodes") == "ok", "unchanged"
    with pytest.raises(Conflict):
        async with session_scope(app.state.sessionmaker) as session:
            await service.update_node(session, admin, node_id, NodeUpdate(config={"a": 1}))
    async with session_scope(app.state.sessionmaker) as session:
        renamed = await service.update_node(session, admin, node_id, NodeUpdate(name="old"))
    assert renamed.name == "old"


async def test_service_rules_without_http(app: FastAPI, admin: Principal) -> None:
    viewer = Principal(
        kind="user",
        id=uuid.uuid4(),
        name="v",
        org_id=admin.org_id,
        role="viewer",
    )
    stranger = Principal(kind="user", id=uuid.uuid4(), name="s", org_id=uuid.uuid4(), role="admin")
    body = NodeCreate(name="n", type="http_api", config={"url": "http://db.internal/"})
    async with session_scope(app.state.sessionmaker) as session:
        with pytest.raises(Forbidden):
            await service.create_node(session, viewer, body)
        node = await service.create_node(session, admin, body)
    async with session_scope(app.state.sessionmaker) as session:
        with pytest.raises(NotFound):
            await service.get_node(session, stranger, node.id)
        with pytest.raises(Forbidden):
            await service.delete_node(session, viewer, node.id)
    with pytest.raises(Unprocessable) as info:
        async with session_scope(app.state.sessionmaker) as session:
            await service.create_node(
                session,
                admin,
                NodeCreate(name="m", type="http_api", config={"url": "ftp://x/"}),
            )
    assert [e["field"] for e in info.value.errors or []] == ["config.url"]
