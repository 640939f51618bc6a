"""Fixtures for connector tests: a separate, real PostgreSQL to test connections against (not
the app's database), a real HTTP target and a real OpenBao, all on loopback."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from datamesh.embedded_pg import EmbeddedPostgres
from tests.fixtures.http_target import HttpTarget
from tests.fixtures.openbao import OpenBaoServer

# Characters that change under URL encoding, so scrubbing of encoded forms is exercised too.
CANARY = f"Cnry-{secrets.token_hex(8)}/+=@%"
HTTP_TOKEN = f"tok-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class TargetDatabase:
    pg: EmbeddedPostgres
    user: str
    password: str
    database: str

    @property
    def port(self) -> int:
        return self.pg.port


@pytest.fixture(scope="session")
def canary() -> str:
    return CANARY


@pytest.fixture(scope="session")
def target_db() -> Iterator[TargetDatabase]:
    # Not under pytest's tmp root: when tests run as root the server runs as another OS user,
    # and pytest resets its tmp root to 0700 at every session start (also other sessions').
    data_dir = Path(tempfile.mkdtemp(prefix="datamesh-target-pg-"))
    pg = EmbeddedPostgres(data_dir)
    user = "canary_user"
    try:
        pg.start()
        pg.psql(f"CREATE ROLE {user} LOGIN PASSWORD '{CANARY}'")
        pg.psql(f"CREATE DATABASE canary_db OWNER {user}")
        yield TargetDatabase(pg=pg, user=user, password=CANARY, database="canary_db")
    finally:
        pg.stop("immediate")
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def http_target() -> Iterator[HttpTarget]:
    with HttpTarget(expected_token=HTTP_TOKEN) as target:
        yield target


@pytest.fixture(scope="session")
def openbao() -> Iterator[OpenBaoServer]:
    with OpenBaoServer() as server:
        yield server
