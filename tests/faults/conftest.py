"""Fault-test fixtures: a database of its own per test (cloned from the migrated template on the
shared embedded PostgreSQL) for servers started as real processes, with users in it."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres
from tests.conftest import TEMPLATE_DB, running_app
from tests.factories import PASSWORD, make_user
from tests.faults.support import SECRET_KEY, ServerProcess


@dataclass
class Workspace:
    db_url: str
    base: Path
    settings: Settings
    servers: list[ServerProcess]

    def server(self, workers: int = 1, **env: str) -> ServerProcess:
        srv = ServerProcess(self.db_url, self.base, workers=workers, env=env)
        self.servers.append(srv)
        return srv.start()

    async def user(self, email: str, role: str = "producer", org: str = "Acme") -> str:
        async with running_app(self.settings, migrate_on_start=False) as app:
            await make_user(app, email, role=role, org=org)
        return PASSWORD


@pytest.fixture
def own_database(pg: EmbeddedPostgres) -> Iterator[str]:
    name = f"faults_{uuid.uuid4().hex[:12]}"
    for attempt in range(10):  # another worker may be cloning the template this very moment
        try:
            pg.create_database(name, template=TEMPLATE_DB)
            break
        except RuntimeError:
            if attempt == 9:
                raise
            time.sleep(0.5)
    yield pg.url(name)
    pg.drop_database(name)


@pytest.fixture
async def workspace(own_database: str, tmp_path: Path) -> AsyncIterator[Workspace]:
    settings = Settings(
        database_url=own_database,
        data_dir=tmp_path / "data",
        secret_key=SECRET_KEY,
        db_pool_size=2,
        db_max_overflow=2,
        health_checks_enabled=False,
    )
    ws = Workspace(own_database, tmp_path, settings, [])
    try:
        yield ws
    finally:
        for srv in ws.servers:
            srv.stop()
