"""The web UI in the package: a server without it says how to build it; the build step (wheel
hook and `make web`) rebuilds only when the web sources changed, and says what to install when
npm is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_server_without_the_built_ui_says_how_to_build_it(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    app.state.spa_index = tmp_path / "static" / "index.html"  # a package built without the UI
    page = await client.get("/")
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "The DataMesh web UI is not built" in page.text
    assert "make web" in page.text
    assert (await client.get("/datasets/some-id")).status_code == 503
    assert (await client.get("/api/health")).status_code == 200, "the API still answers"
    assert (await client.get("/api/nothing-here")).status_code == 404


def _fake_checkout(root: Path) -> Path:
    web = root / "web"
    (web / "src").mkdir(parents=True)
    (web / "package.json").write_text('{"name": "x"}')
    (web / "package-lock.json").write_text("{}")
    (web / "src" / "main.tsx").write_text("export {}")
    return web


def test_an_up_to_date_build_is_kept_and_a_changed_source_is_noticed(tmp_path: Path) -> None:
    hook = _hook()
    web = _fake_checkout(tmp_path)
    static = tmp_path / "src" / "datamesh" / "static"
    static.mkdir(parents=True)
    (static / "index.html").write_text("<div id=root></div>")
    (static / hook.DIGEST_FILE).write_text(hook.web_sources_digest(web))
    assert hook.ensure_web_build(tmp_path, log=lambda _m: None) is False
    (web / "src" / "main.tsx").write_text("export const changed = 1")
    assert hook.web_sources_digest(web) != (static / hook.DIGEST_FILE).read_text()


def test_missing_npm_is_one_sentence(tmp_path: Path) -> None:
    _fake_checkout(tmp_path)
    (tmp_path / "hatch_build.py").write_text((ROOT / "hatch_build.py").read_text())
    done = subprocess.run(
        [sys.executable, str(tmp_path / "hatch_build.py")],
        env={"PATH": str(tmp_path / "no-such-bin")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert done.stderr.strip() == _hook().NO_NPM
    assert "Traceback" not in done.stderr
