"""Shared fixtures: one embedded PostgreSQL for the run, one database per xdist worker,
each test starting from empty tables, and an httpx client over the ASGI app."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from datamesh import migrate
from datamesh.app import create_app
from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres
from datamesh.lineage.schemas import Graph, Impact

TEMPLATE_DB = "datamesh_template"
_ENV_DIR = "DATAMESH_TEST_PG_DIR"


def _cheap_password_hashing() -> None:
    """Real argon2id, with cheap parameters: the suite signs in thousands of times."""
    from argon2 import PasswordHasher

    from datamesh.auth import passwords

    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


_cheap_password_hashing()


def _is_master(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """Start the shared server once (in the xdist controller, or the only process)."""
    if not _is_master(config) or os.environ.get(_ENV_DIR):
        return
    base = Path(tempfile.mkdtemp(prefix="datamesh-test-pg-"))
    pg = EmbeddedPostgres(base)
    pg.start()
    pg.drop_database(TEMPLATE_DB)
    pg.create_database(TEMPLATE_DB)
    migrate.upgrade(pg.url(TEMPLATE_DB))
    os.environ[_ENV_DIR] = str(base)
    config._datamesh_pg = pg  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    pg: EmbeddedPostgres | None = getattr(config, "_datamesh_pg", None)
    if pg is not None:
        pg.stop("immediate")
        shutil.rmtree(pg.data_dir, ignore_errors=True)
        os.environ.pop(_ENV_DIR, None)


@pytest.fixture(scope="session")
def pg() -> EmbeddedPostgres:
    return EmbeddedPostgres(Path(os.environ[_ENV_DIR]))


@pytest.fixture(scope="session")
def worker_id_name(request: pytest.FixtureRequest) -> str:
    wid = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return str(wid)


@pytest.fixture(scope="session")
def db_name(pg: EmbeddedPostgres, worker_id_name: str) -> Iterator[str]:
    name = f"datamesh_test_{worker_id_name}"
    pg.drop_database(name)
    pg.create_database(name, template=TEMPLATE_DB)
    yield name
    pg.drop_database(name)


@pytest.fixture(scope="session")
def db_url(pg: EmbeddedPostgres, db_name: str) -> str:
    return pg.url(db_name)


@pytest.fixture(scope="session")
async def raw_conn(pg: EmbeddedPostgres, db_name: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection for setting up and inspecting state behind the app's back."""
    conn = await asyncpg.connect(pg.url(db_name, driver="postgresql"))
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
async def _tables(raw_conn: asyncpg.Connection) -> list[str]:
    rows = await raw_conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'alembic_version'"
    )
    return [r["tablename"] for r in rows]


@pytest.fixture
async def clean_db(raw_conn: asyncpg.Connection, _tables: list[str]) -> None:
    """Empty every table (bypassing the audit log's append-only trigger as superuser)."""
    if _tables:
        async with raw_conn.transaction():
            await raw_conn.execute("SET LOCAL session_replication_role = replica")
            await raw_conn.execute(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in _tables) + " RESTART IDENTITY CASCADE"
            )


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        log_format="json",
        secret_key="test-secret-key-0123456789abcdef0123456789abcdef",
        db_pool_size=5,
        db_max_overflow=5,
        # The background node checks and SLA evaluator write events and audit entries whenever
        # they get to run; tests of them turn them on, the others count only their own writes.
        health_checks_enabled=False,
        sla_check_interval_seconds=0,
        lineage_index=True,  # the default (ADR 0011), said here: every lineage test walks it
        crawls_enabled=False,  # the crawl tests turn the crawl worker on
        alerts_enabled=False,  # on in the alert tests
    )


@asynccontextmanager
async def running_app(settings: Settings, **kw: Any) -> AsyncIterator[FastAPI]:
    """An app with its lifespan running (engine open), as under a real server."""
    app = create_app(settings, **kw)
    async with app.router.lifespan_context(app):
        yield app


# Answers encoded by ``kit.schemas.encoded`` (not validated by FastAPI on the way out): every
# one a test receives must be its response model exactly, or the test fails.
ENCODED_ANSWERS: dict[str, type[BaseModel]] = {
    "/api/lineage/graph": Graph,
    "/api/lineage/impact": Impact,
}


async def _check_encoded(response: httpx.Response) -> None:
    model = ENCODED_ANSWERS.get(response.request.url.path)
    if model is None or response.status_code != 200:
        return
    body = (await response.aread()) and response.json()
    dump = model.model_validate(body).model_dump(mode="json")
    assert dump == body, (
        f"{response.request.url.path} answered outside its model {model.__name__}: "
        f"{_first_difference(dump, body)}"
    )


def _first_difference(want: Any, got: Any, at: str = "") -> str:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(want.keys() | got.keys()):
            if key not in got or key not in want:
                a, b = want.get(key, "<none>"), got.get(key, "<none>")
                return f"{at}.{key}: model {a!r}, answer {b!r}"
            if want[key] != got[key]:
                return _first_difference(want[key], got[key], f"{at}.{key}")
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{at}[{i}]")
    return f"{at}: model {want!r}, answer {got!r}"


def client_for(app: FastAPI, **kw: Any) -> httpx.AsyncClient:
    # raise_app_exceptions=False: see the 500 the user gets, as a real server would send it.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    hooks = kw.pop("event_hooks", {})
    hooks = {**hooks, "response": [*hooks.get("response", []), _check_encoded]}
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver", event_hooks=hooks, **kw
    )


@pytest.fixture
async def app(settings: Settings, clean_db: None) -> AsyncIterator[FastAPI]:
    async with running_app(settings, migrate_on_start=False) as app:
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[Any]:
    """A session on the app's engine, for calling services directly (caller commits)."""
    async with app.state.sessionmaker() as s:
        yield s


def run(coro: Any) -> Any:
    return asyncio.run(coro)
