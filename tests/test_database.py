"""The database choice: embedded by default, DATABASE_URL otherwise; outages answer 503."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres
from tests.conftest import client_for, running_app


@pytest.fixture(scope="module")
def second_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A separately started PostgreSQL, standing in for an external server."""
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("second-pg"))
    pg.start()
    yield pg
    pg.stop("immediate")


def test_embedded_restart_keeps_data(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path)
    pg.start()
    pg.psql("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')", "datamesh")
    port = pg.port
    pg.stop()
    assert not pg.is_running()
    pg.start()
    try:
        assert pg.psql("SELECT v FROM kept", "datamesh") == "survives"
        assert pg.port == port, "the port is reused across restarts when free"
    finally:
        pg.stop()


def test_superuser_password_file_is_private(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path)
    pg.start()
    try:
        assert (tmp_path / "pg-superuser.secret").stat().st_mode & 0o077 == 0
    finally:
        pg.stop()


async def test_database_url_points_at_another_server(
    second_pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    second_pg.create_database("external_app")
    url = second_pg.url("external_app", driver="postgresql")  # plain postgresql:// accepted
    settings = Settings(database_url=url, data_dir=tmp_path / "unused")
    async with running_app(settings) as app, client_for(app) as client:
        ready = await client.get("/api/ready")
        assert ready.status_code == 200, ready.text
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1
    finally:
        await conn.close()
    assert not (tmp_path / "unused" / "pg").exists(), "no embedded server was started"


async def test_ready_is_503_while_database_is_down_and_recovers(
    second_pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    second_pg.create_database("outage")
    settings = Settings(
        database_url=second_pg.url("outage"), data_dir=tmp_path, db_connect_timeout=2
    )
    async with running_app(settings) as app, client_for(app) as client:
        assert (await client.get("/api/ready")).status_code == 200
        await asyncio.to_thread(second_pg.stop, "immediate")
        try:
            down = await client.get("/api/ready")
            assert down.status_code == 503
            assert down.headers["content-type"].startswith("application/problem+json")
            assert down.headers.get("retry-after")
            assert "Traceback" not in down.text
            health = await client.get("/api/health")
            assert health.status_code == 200, "the process itself stays alive"
        finally:
            await asyncio.to_thread(second_pg.start)
        for _ in range(150):  # recovers by itself, without a restart
            if (await client.get("/api/ready")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert (await client.get("/api/ready")).status_code == 200


async def test_ready_is_503_when_schema_is_behind(
    second_pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    second_pg.create_database("behind")
    settings = Settings(database_url=second_pg.url("behind"), data_dir=tmp_path)
    async with running_app(settings, migrate_on_start=False) as app, client_for(app) as client:
        resp = await client.get("/api/ready")
        assert resp.status_code == 503
        assert "schema" in resp.json()["detail"]


async def test_no_free_connection_in_time_is_a_503_busy_not_a_500(
    settings: Settings, clean_db: None
) -> None:
    """Every pooled connection held past ``db_connect_timeout``: a request is told to retry
    shortly (503, Retry-After), not given an internal error; once one is free it works."""
    from tests.factories import PASSWORD, make_user

    one = settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_connect_timeout": 0.5}
    )
    async with running_app(one, migrate_on_start=False) as app, client_for(app) as client:
        await make_user(app, "busy@acme.test", role="producer")
        r = await client.post(
            "/api/auth/login", json={"email": "busy@acme.test", "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        async with app.state.engine.connect() as held:  # the pool's only connection
            await held.exec_driver_sql("SELECT 1")
            busy = await client.get("/api/datasets", headers=headers)
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] == "2"
            assert busy.json()["type"].endswith("/busy")
            assert "no database connection came free" in busy.json()["detail"]
            assert "Traceback" not in busy.text and "QueuePool" not in busy.text
        assert (await client.get("/api/datasets", headers=headers)).status_code == 200
