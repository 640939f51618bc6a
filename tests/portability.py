"""CI's portability step (`make portability`, part of `make test`): the wheel built once from
the repository, installed into a fresh virtual environment for each other supported Python,
serves the whole product on the embedded PostgreSQL: sign in, publish, search, the web UI.

    python -m tests.portability dist/datamesh-0.1.0-py3-none-any.whl 3.12 3.13

A Python that is not installed is skipped with the reason printed; any failure exits 1.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYENV = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
UV = ROOT / ".tools" / "bin" / "uv"
PASSWORD = "portability-pass-123"


def say(message: str) -> None:
    print(f"portability: {message}", flush=True)


def find_python(minor: str) -> Path | None:
    """The newest installed CPython ``minor`` (e.g. 3.12): pyenv's versions first, then PATH."""

    def patch(p: Path) -> int:
        found = re.fullmatch(rf"{re.escape(minor)}\.(\d+)", p.parents[1].name)
        return int(found.group(1)) if found else -1

    installed = [p for p in PYENV.glob(f"{minor}.*/bin/python{minor}") if patch(p) >= 0]
    if installed:
        return max(installed, key=patch)
    on_path = shutil.which(f"python{minor}")
    if on_path and _runs(on_path, minor):
        return Path(on_path)
    return None


def _runs(python: str, minor: str) -> bool:
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return done.returncode == 0 and done.stdout.strip() == minor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done


def check(python: Path, wheel: Path, requirements: Path, work: Path) -> None:
    venv = work / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAMESH_", "UV_PYTHON"))}
    env.pop("DATABASE_URL", None)
    env.pop("VIRTUAL_ENV", None)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    _run(UV, "venv", "--quiet", "--python", python, venv, env=env)
    _run(
        UV,
        "pip",
        "install",
        "--quiet",
        "--python",
        venv / "bin" / "python",
        "-r",
        requirements,
        wheel,
        env=env,
    )
    data = Path(tempfile.mkdtemp(prefix="datamesh-portability-"))
    port = _free_port()
    env.update(
        DATAMESH_DATA_DIR=str(data), DATAMESH_PORT=str(port), DATAMESH_USER_PASSWORD=PASSWORD
    )
    datamesh = venv / "bin" / "datamesh"
    log = (work / "serve.log").open("w")
    server = subprocess.Popen(
        [str(datamesh), "serve"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(900):  # a hang guard, not a speed goal
            if server.poll() is not None:
                raise RuntimeError("`datamesh serve` exited while starting")
            try:
                if httpx.get(f"{base}/api/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("`datamesh serve` never became ready")
        _run(
            datamesh,
            "users",
            "create",
            "--email",
            "ci@portability.test",
            "--org",
            "Portability",
            "--role",
            "producer",
            cwd=work,
            env=env,
        )
        with httpx.Client(base_url=base, timeout=30) as http:
            login = http.post(
                "/api/auth/login", json={"email": "ci@portability.test", "password": PASSWORD}
            )
            login.raise_for_status()
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            published = http.post(
                "/api/datasets",
                headers=auth,
                json={
                    "namespace": "postgres://warehouse:5432",
                    "name": "analytics.public.portable_orders",
                    "platform": "postgresql",
                    "description": "Published by the portability check",
                    "visibility": "internal",
                },
            )
            assert published.status_code == 201, published.text
            found = http.get("/api/datasets", params={"q": "portable orders"}, headers=auth)
            found.raise_for_status()
            names = [d["name"] for d in found.json()["items"]]
            assert "analytics.public.portable_orders" in names, names
            page = http.get("/")
            assert page.status_code == 200, page.text[:300]
            assert '<div id="root">' in page.text, page.text[:300]
            asset = re.search(r'src="(/assets/[^"]+\.js)"', page.text)
            assert asset is not None and http.get(asset.group(1)).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        finally:
            log.close()
    if server.returncode != 0:
        raise RuntimeError(f"`datamesh serve` ended with {server.returncode}")
    if (data / "pg" / "postmaster.pid").exists():
        raise RuntimeError("`datamesh serve` left the embedded PostgreSQL running")
    shutil.rmtree(data, ignore_errors=True)


def main(argv: list[str]) -> int:
    wheel, minors = Path(argv[0]).resolve(), argv[1:]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="datamesh-portability-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        _run(
            UV,
            "export",
            "--quiet",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-project",
            "--output-file",
            requirements,
            cwd=ROOT,
        )
        for minor in minors:
            python = find_python(minor)
            if python is None:
                say(f"SKIPPED Python {minor}: not installed (looked in {PYENV} and on the PATH)")
                continue
            work = Path(tmp) / minor
            work.mkdir()
            start = time.monotonic()
            try:
                check(python, wheel, requirements, work)
            except Exception as exc:  # report every Python, then fail
                failed += 1
                say(f"FAILED on Python {minor} ({python}): {exc}")
                serve_log = work / "serve.log"
                if serve_log.exists():
                    print(serve_log.read_text()[-4000:], file=sys.stderr)
                continue
            say(
                f"Python {minor} ({python}): installed {wheel.name}, served the UI and the API "
                f"on the embedded PostgreSQL, signed in, published, searched "
                f"({time.monotonic() - start:.0f} s)"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
