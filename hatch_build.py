"""The web UI build, shared by the wheel/sdist build hook and ``make web``.

A wheel is the whole product: building one (``uv build``, ``python -m build``, ``pip wheel``)
builds the web UI into ``src/datamesh/static`` first, unless the build there is already the
build of the current web sources (a digest of them is kept beside it). The sdist carries the web
sources and the built UI, so a wheel built from it needs no Node.js. Editable installs (``uv
sync``) skip it: ``make web`` builds the UI for a checkout.

Run as ``python hatch_build.py`` it does what ``make web`` needs and nothing else.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

# What the UI build reads; a change to any of these makes the build out of date.
WEB_FILES = (
    "package.json",
    "package-lock.json",
    "index.html",
    "vite.config.ts",
    "tsconfig.json",
)
WEB_TREES = ("src", "public")
STATIC = Path("src/datamesh/static")
DIGEST_FILE = ".web-sources.sha256"
NO_NPM = (
    "Building the DataMesh web UI needs Node.js 20.19+ with npm on the PATH: install them "
    "(Debian/Ubuntu: apt-get install nodejs npm; macOS: brew install node) and run it again."
)


def web_sources_digest(web: Path) -> str:
    digest = hashlib.sha256()
    files = [web / name for name in WEB_FILES if (web / name).is_file()]
    for tree in WEB_TREES:
        files += sorted(p for p in (web / tree).rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(web).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_web_build(root: Path, log: Any = print) -> bool:
    """Build the web UI into the package unless it is up to date; True when it built."""
    web, static = root / "web", root / STATIC
    if not (web / "package.json").is_file():
        if (static / "index.html").is_file():
            return False  # no sources here, only a build (an unpacked sdist without web/)
        raise SystemExit("There is neither a web/ folder nor a built web UI to package.")
    digest = web_sources_digest(web)
    stamp = static / DIGEST_FILE
    if (static / "index.html").is_file() and stamp.is_file() and stamp.read_text() == digest:
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(NO_NPM)
    installed = web / "node_modules" / ".package-lock.json"
    if (
        not installed.is_file()
        or installed.stat().st_mtime < (web / "package-lock.json").stat().st_mtime
    ):
        log("installing the web UI's npm packages (npm ci)")
        _npm(npm, web, "ci")
        installed.touch()
    log("building the web UI (npm run build)")
    _npm(npm, web, "run", "build")
    stamp.write_text(digest)
    return True


def _npm(npm: str, web: Path, *args: str) -> None:
    cmd = [npm, "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(web), *args]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SystemExit(f"`npm {' '.join(args)}` in {web} failed (its output is above).")


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script, outside a build
    pass
else:

    class WebBuildHook(BuildHookInterface):  # type: ignore[misc]
        PLUGIN_NAME = "custom"

        def initialize(self, version: str, build_data: dict[str, Any]) -> None:
            if version == "editable":
                return
            ensure_web_build(Path(self.root), log=self.app.display_info)


if __name__ == "__main__":
    ensure_web_build(Path(__file__).resolve().parent)
    sys.exit(0)
