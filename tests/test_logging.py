"""Logs: short readable lines when a person reads the terminal, JSON lines otherwise or when
DATAMESH_LOG_FORMAT=json; httpx's line per request is not logged."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

SCRIPT = """
import logging
from datamesh.config import Settings
from datamesh.observability import configure_logging
configure_logging(Settings())
logging.getLogger("datamesh.demo").info("demo workspace loaded")
logging.getLogger("datamesh.lineage").warning("graph server away")
logging.getLogger("httpx").info('HTTP Request: POST http://demo/api/datasets "HTTP/1.1 201"')
"""


def _stderr(on_tty: bool, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DATAMESH_")}
    if not on_tty:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], env={**base, **env}, capture_output=True, text=True
        )
        return done.stderr
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT], env={**base, **env}, stderr=follower
        )
        proc.wait(timeout=60)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode().replace("\r\n", "\n")
    finally:
        os.close(leader)


def test_a_terminal_gets_short_readable_lines() -> None:
    lines = _stderr(on_tty=True).strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(" INFO    demo workspace loaded")
    assert lines[1].endswith(" WARNING [datamesh.lineage] graph server away")
    assert lines[0][:8].count(":") == 2  # the time of day first


@pytest.mark.parametrize(("on_tty", "env"), [(False, {}), (True, {"DATAMESH_LOG_FORMAT": "json"})])
def test_json_lines_when_not_a_terminal_or_asked_for(on_tty: bool, env: dict[str, str]) -> None:
    lines = _stderr(on_tty, **env).strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["message"] for r in records] == ["demo workspace loaded", "graph server away"]
    assert records[1]["level"] == "WARNING"
    assert records[1]["logger"] == "datamesh.lineage"
