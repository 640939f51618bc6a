"""Connect rules in the service, against the real database: defaults under concurrency, the
one transaction of a connect, and the connection test holding no transaction while it waits
on the network (a real loopback server that accepts and never answers)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from fastapi import FastAPI

from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.catalog.schemas import DatasetCreate
from datamesh.config import Settings
from datamesh.connect import renderer, service
from datamesh.connect.schemas import ConnectRequest, ConnectResult, PlatformProfileCreate
from datamesh.connectors.service import Runtime
from datamesh.db import session_scope
from datamesh.errors import Conflict, Forbidden, NotFound
from tests.factories import make_user

PG_SETTINGS = {"host": "db.example.com", "port": 5432, "database": "app", "user": "u"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"health_checks_enabled": False, "outbound_timeout_seconds": 1.5}
    )


async def _principal(
    app: FastAPI, email: str, role: str = "producer", org: str = "Acme"
) -> Principal:
    account = await make_user(app, email, role=role, org=org)
    return Principal(
        kind="user",
        id=uuid.UUID(account.id),
        name=email,
        email=email,
        org_id=uuid.UUID(account.org_id),
        role=role,  # type: ignore[arg-type]
        user_id=uuid.UUID(account.id),
    )


@pytest.fixture
async def producer(app: FastAPI) -> Principal:
    return await _principal(app, "p@acme.test")


async def _profile(app: FastAPI, p: Principal, name: str, **kw: object) -> uuid.UUID:
    async with session_scope(app.state.sessionmaker) as session:
        profile = await service.create_profile(
            session,
            p,
            PlatformProfileCreate.model_validate(
                {"name": name, "platform": "postgresql", "settings": PG_SETTINGS, **kw}
            ),
        )
        return profile.id


async def _dataset(app: FastAPI, p: Principal, name: str = "app.public.orders") -> uuid.UUID:
    async with session_scope(app.state.sessionmaker) as session:
        ds = await catalog.publish(
            session,
            p,
            DatasetCreate(
                namespace="postgres://db.example.com:5432", name=name, platform="postgres"
            ),
        )
        return ds.id


async def _defaults(raw_conn: asyncpg.Connection) -> list[str]:
    rows = await raw_conn.fetch("SELECT name FROM platform_profiles WHERE is_default ORDER BY name")
    return [r["name"] for r in rows]


def test_platforms_of_profiles_are_the_rendered_ones_with_a_schema() -> None:
    assert service.profile_platforms() == list(renderer.PLATFORMS)
    assert service.canonical_platform("Postgres") == "postgresql"
    assert service.canonical_platform("kafka") is None


async def test_concurrent_default_changes_queue_and_leave_one_default(
    app: FastAPI, producer: Principal, raw_conn: asyncpg.Connection
) -> None:
    ids = [await _profile(app, producer, f"p{i}") for i in range(6)]
    assert await _defaults(raw_conn) == ["p0"]

    async def make_default(profile_id: uuid.UUID) -> None:
        async with session_scope(app.state.sessionmaker) as session:
            await service.make_default(session, producer, profile_id)

    # Every change succeeds (none fails on the one-default index); exactly one default remains.
    await asyncio.gather(*(make_default(i) for i in ids[1:]))
    assert len(await _defaults(raw_conn)) == 1

    # Concurrent first profiles of a platform: exactly one of them becomes the default.
    other = await _principal(app, "q@acme.test")
    await asyncio.gather(*(_profile(app, other, f"q{i}") for i in range(4)))
    rows = await raw_conn.fetch(
        "SELECT count(*) FILTER (WHERE is_default) AS n FROM platform_profiles WHERE owner_id = $1",
        other.user_id,
    )
    assert rows[0]["n"] == 1


async def test_profile_rules(app: FastAPI, producer: Principal) -> None:
    admin = await _principal(app, "a@acme.test", role="admin")
    outsider = await _principal(app, "x@other.test", role="admin", org="Other")
    mine = await _profile(app, producer, "mine")
    org_wide = await _profile(app, admin, "org", scope="org")
    async with session_scope(app.state.sessionmaker) as session:
        with pytest.raises(NotFound):
            await service.get_profile(session, outsider, mine)
        with pytest.raises(NotFound):
            await service.get_profile(session, outsider, org_wide)
        with pytest.raises(NotFound):
            await service.get_profile(session, admin, mine)  # admins do not see members' own
        with pytest.raises(Forbidden):
            await service.delete_profile(session, producer, org_wide)
        with pytest.raises(Forbidden):
            await service.create_profile(
                session,
                producer,
                PlatformProfileCreate(
                    name="x", platform="postgresql", settings=PG_SETTINGS, scope="org"
                ),
            )
        with pytest.raises(Conflict):
            await service.create_profile(
                session,
                producer,
                PlatformProfileCreate(name="MINE", platform="postgresql", settings=PG_SETTINGS),
            )


async def test_a_connect_is_one_transaction(
    app: FastAPI, producer: Principal, raw_conn: asyncpg.Connection
) -> None:
    dataset_id = await _dataset(app, producer)
    runtime: Runtime = app.state.connector_runtime

    async def counts() -> tuple[int, int]:
        events = await raw_conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'dataset.connected'"
        )
        audits = await raw_conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'dataset.connect'"
        )
        return int(events), int(audits)

    async with app.state.sessionmaker() as session:
        result = await service.connect(session, producer, runtime, dataset_id, ConnectRequest())
        assert result.platform == "postgresql"
        await session.rollback()
    assert await counts() == (0, 0), "a rolled-back connect leaves neither event nor entry"
    async with session_scope(app.state.sessionmaker) as session:
        await service.connect(session, producer, runtime, dataset_id, ConnectRequest())
    assert await counts() == (1, 1)


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP server on loopback that accepts connections and never says a word."""
    accepted = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        accepted.set()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port, accepted
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_connection_test_holds_no_transaction_while_it_waits(
    app: FastAPI,
    raw_conn: asyncpg.Connection,
    db_name: str,
    silent_server: tuple[int, asyncio.Event],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An admin: personal profiles are tested live only for admins.
    producer = await _principal(app, "adm@acme.test", role="admin")
    port, accepted = silent_server
    monkeypatch.setenv("DM_TEST_CONNECT_SILENT_PASSWORD", "not-used")
    dataset_id = await _dataset(app, producer)
    await _profile(
        app,
        producer,
        "silent",
        settings={**PG_SETTINGS, "host": "127.0.0.1", "port": port, "sslmode": "disable"},
        secrets={"password": "env:DM_TEST_CONNECT_SILENT_PASSWORD"},
    )
    runtime: Runtime = app.state.connector_runtime

    async def run() -> ConnectResult:
        async with session_scope(app.state.sessionmaker) as session:
            return await service.connect(
                session, producer, runtime, dataset_id, ConnectRequest(test=True)
            )

    task = asyncio.create_task(run())
    await asyncio.wait_for(accepted.wait(), timeout=10)
    # The test is waiting on the network: no session of the app is inside a transaction.
    idle_in_tx = await raw_conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
        "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()",
        db_name,
    )
    assert idle_in_tx == 0
    assert app.state.engine.sync_engine.pool.checkedout() == 0
    result = await task
    test = result.connection_test
    assert test is not None and test.ok is False
    assert "timed out" in test.message
    # The event and the entry were written after the test, together.
    assert (
        await raw_conn.fetchval(
            "SELECT details->>'test_ok' FROM audit_log WHERE action = 'dataset.connect'"
        )
        == "false"
    )
    assert (
        await raw_conn.fetchval("SELECT count(*) FROM events WHERE type = 'dataset.connected'") == 1
    )
