"""The command line: db upgrade/current, openapi, audit verify."""

from __future__ import annotations

import asyncio
import json
import socket

import asyncpg
import pytest
from typer.testing import CliRunner

from datamesh.cli import app
from datamesh.embedded_pg import EmbeddedPostgres

runner = CliRunner()


@pytest.fixture
def cli_env(pg: EmbeddedPostgres, tmp_path, worker_id_name: str) -> dict[str, str]:
    # One database per xdist worker: two workers' tests of this file may run at once.
    name = f"cli_test_{worker_id_name}"
    pg.drop_database(name)
    pg.create_database(name)
    return {
        "DATABASE_URL": pg.url(name, driver="postgresql"),
        "DATAMESH_DATA_DIR": str(tmp_path),
    }


def _invoke(args: list[str], env: dict[str, str]):
    from datamesh.config import get_settings

    get_settings.cache_clear()
    try:
        return runner.invoke(app, args, env=env)
    finally:
        get_settings.cache_clear()


def test_db_upgrade_then_current(cli_env: dict[str, str]) -> None:
    behind = _invoke(["db", "current"], cli_env)
    assert behind.exit_code == 1
    assert "current: None" in behind.output
    assert "not at the head revision: run `datamesh db upgrade`" in behind.stderr
    up = _invoke(["db", "upgrade"], cli_env)
    assert up.exit_code == 0, up.output
    now = _invoke(["db", "current"], cli_env)
    assert now.exit_code == 0, now.output


def test_openapi_prints_the_spec(cli_env: dict[str, str]) -> None:
    result = _invoke(["openapi"], cli_env)
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert "/api/ready" in spec["paths"]


async def test_audit_verify_exit_codes(cli_env: dict[str, str], pg: EmbeddedPostgres) -> None:
    assert (await asyncio.to_thread(_invoke, ["db", "upgrade"], cli_env)).exit_code == 0
    from datamesh.audit.service import record, record_many
    from datamesh.config import Settings
    from datamesh.db import make_engine, make_sessionmaker
    from datamesh.kit.context import Actor
    from datamesh.kit.refs import Ref

    url = cli_env["DATABASE_URL"]
    engine = make_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1), Settings())
    async with make_sessionmaker(engine)() as s:
        await record(s, Actor("system"), "test.action", Ref("thing", "0"))
        # the bulk path (a first crawl) joins the same chain, which the command checks
        await record_many(
            s, Actor("system"), [("test.action", Ref("thing", str(i)), None, None) for i in (1, 2)]
        )
        await s.commit()
    await engine.dispose()
    ok = await asyncio.to_thread(_invoke, ["audit", "verify"], cli_env)
    assert ok.exit_code == 0, ok.output
    assert "3 entries" in ok.output
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("UPDATE audit_log SET action = 'forged' WHERE seq = 2")
    finally:
        await conn.close()
    bad = await asyncio.to_thread(_invoke, ["audit", "verify"], cli_env)
    assert bad.exit_code == 1
    assert "#2" in bad.output


def test_audit_verify_on_a_fresh_database_says_there_is_nothing_to_verify(
    cli_env: dict[str, str],
) -> None:
    result = _invoke(["audit", "verify"], cli_env)
    assert result.exit_code == 0, result.output
    assert "nothing to verify" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_serve_on_a_port_in_use_says_so_in_one_sentence(cli_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _invoke(["serve", "--port", str(port)], cli_env)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is already in use: stop what uses it, or pick "
        "another port with --port (or DATAMESH_PORT)."
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
