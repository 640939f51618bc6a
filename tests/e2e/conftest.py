"""Browser tests: a real DataMesh server (embedded PostgreSQL) driven by Debian's Chromium.

The server is started once per session (per xdist worker) from the built web UI in
``src/datamesh/static``; build it first with ``npm --prefix web run build``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

REPO = Path(__file__).resolve().parents[2]
STATIC_INDEX = REPO / "src" / "datamesh" / "static" / "index.html"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("DATAMESH_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_EMAIL = "admin@acme.test"
ADMIN_PASSWORD = "admin-pass-123"
ADMIN_NAME = "Ada Admin"
READY_TIMEOUT = 120.0

# Assertions wait as long as actions (15 s, set on each context): the 5 s default is the one
# wait in these tests that a loaded CI machine can outlast without anything being wrong.
expect.set_options(timeout=15_000)


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _datamesh() -> str:
    exe = Path(sys.executable).with_name("datamesh")
    return str(exe) if exe.exists() else (shutil.which("datamesh") or "datamesh")


def _server_env(data_dir: Path, port: int) -> dict[str, str]:
    # Nothing from the developer's environment may point the server elsewhere.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DATAMESH_") and k not in ("DATABASE_URL",)
    }
    env.update(
        DATAMESH_DATA_DIR=str(data_dir),
        DATAMESH_PORT=str(port),
        DATAMESH_HOST="127.0.0.1",
        DATAMESH_LOG_JSON="false",
        DATAMESH_HEALTH_CHECKS_ENABLED="false",
        # The nodes tests point connections at this very server (an HTTP node on /api/health,
        # a PostgreSQL node on a closed loopback port): let test connections reach loopback.
        DATAMESH_OUTBOUND_ALLOWED_NETWORKS='["127.0.0.1/32"]',
    )
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 15)):
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def e2e_server() -> Iterator[Server]:
    """A real `datamesh serve` on a free loopback port, with an admin user, for the session."""
    if not STATIC_INDEX.exists():
        pytest.fail(
            f"The web UI is not built: {STATIC_INDEX} is missing. "
            "Run `npm --prefix web ci && npm --prefix web run build` (or `make test`) first.",
            pytrace=False,
        )
    base = Path(tempfile.mkdtemp(prefix="datamesh-e2e-"))
    data_dir = base / "data"
    log_path = base / "server.log"
    port = _free_port()
    env = _server_env(data_dir, port)
    exe = _datamesh()

    created = subprocess.run(
        [
            exe, "users", "create",
            "--email", ADMIN_EMAIL,
            "--password", ADMIN_PASSWORD,
            "--name", ADMIN_NAME,
            "--org", "Acme",
            "--role", "admin",
            "--platform-admin",
        ],
        env=env, cwd=base, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    if created.returncode != 0:
        pytest.fail(f"`datamesh users create` failed:\n{created.stdout}\n{created.stderr}")

    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [exe, "serve", "--port", str(port)],
            env=env, cwd=base, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"datamesh serve exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                if httpx.get(f"{url}/api/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"datamesh serve was not ready in {READY_TIMEOUT}s:\n{_tail(log_path)}")
            time.sleep(0.3)
        yield Server(url=url, data_dir=data_dir, log=log_path)
    finally:
        _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def ws(e2e_server: Server) -> Any:
    """The lineage workspace (people, datasets, an OpenLineage pipeline), built once per session:
    several test modules use it, and building it twice would publish the same names twice."""
    from tests.e2e.live_data import build

    return build(e2e_server.url, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium`.",
            pytrace=False,
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser, e2e_server: Server) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        base_url=e2e_server.url,
        viewport={"width": 1280, "height": 720},
        color_scheme="light",
        locale="en-US",
        timezone_id="UTC",
    )
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on uncaught script errors."""
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(msg: ConsoleMessage) -> None:
        # Failed requests (e.g. the 401 of /api/auth/me when signed out) are expected.
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            errors.append(msg.text)

    pg.on("console", on_console)
    yield pg
    assert not errors, f"JavaScript errors in the page: {errors}"


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot into test-artifacts/screenshots/ (git-ignored) to be looked at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path


def sign_in(
    page: Page, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, path: str = "/"
) -> None:
    page.goto(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("button", name="Account menu").wait_for()


# -- single sign-on: a second server wired to the test OpenID provider ---------------------------
OIDC_PROVIDER_NAME = "test"
OIDC_PROVIDER_TITLE = "Test IdP"
OIDC_ACCOUNTS = {
    "olivia@acme.test": {"groups": ["data-producers"], "name": "Olivia Oidc"},
}


@dataclass(frozen=True)
class OIDCServer:
    server: Server
    issuer: str


@pytest.fixture(scope="module")
def oidc_e2e_server() -> Iterator[OIDCServer]:
    """A DataMesh server whose sign-in page offers the test OpenID provider (npm oidc-provider).

    Its own server, started only by the tests that ask for it, so the shared ``e2e_server``
    (and every other browser test) starts no provider and waits for none.
    """
    from tests.fixtures.oidc import OIDCProvider

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    callback = f"{url}/api/auth/oidc/{OIDC_PROVIDER_NAME}/callback"
    with OIDCProvider(
        redirect_uris=[callback], post_logout_uris=[f"{url}/login"], accounts=OIDC_ACCOUNTS
    ) as op:
        providers = [
            {
                "name": OIDC_PROVIDER_NAME,
                "title": OIDC_PROVIDER_TITLE,
                "issuer": op.issuer,
                "client_id": op.client_id,
                "client_secret": op.client_secret,
                "scopes": ["openid", "email", "profile", "groups"],
                "email_domains": {"acme.test": "Acme"},
                "group_roles": {"data-producers": "producer"},
                "jwks_min_refresh_seconds": 0,
            }
        ]
        base = Path(tempfile.mkdtemp(prefix="datamesh-e2e-oidc-"))
        data_dir, log_path = base / "data", base / "server.log"
        env = _server_env(data_dir, port)
        env.update(DATAMESH_PUBLIC_URL=url, DATAMESH_OIDC_PROVIDERS=json.dumps(providers))
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [_datamesh(), "serve", "--port", str(port)],
                env=env, cwd=base, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"datamesh serve exited with {proc.returncode}:\n{_tail(log_path)}")
                try:
                    if httpx.get(f"{url}/api/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"datamesh serve was not ready in time:\n{_tail(log_path)}")
                time.sleep(0.3)
            yield OIDCServer(
                server=Server(url=url, data_dir=data_dir, log=log_path), issuer=op.issuer
            )
        finally:
            _stop(proc)
            shutil.rmtree(base, ignore_errors=True)
