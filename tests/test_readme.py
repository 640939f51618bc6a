"""Every command README.md shows is run here as written (placeholders filled in), so the README
cannot drift from the product. `make run` and `make test` themselves are run by CI."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres
from tests.fixtures.live import free_port
from tests.lineage.pipeline import S3

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DATAMESH = str(Path(sys.executable).parent / "datamesh")
PASSWORD = "readme-pass-123"


def _blocks(section: str) -> list[str]:
    """The bash code blocks under one ``## section`` heading."""
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", body, re.S)


def _commands(section: str) -> list[str]:
    lines = [ln.split("  #")[0].strip() for b in _blocks(section) for ln in b.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):  # a hang guard, not a speed figure
        assert proc.poll() is None, "the server exited while starting"
        try:
            if httpx.get(f"{base}/api/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server never became ready")


@pytest.fixture
def readme_env(pg: EmbeddedPostgres, tmp_path: Path) -> dict[str, str]:
    pg.drop_database("readme_test")
    pg.create_database("readme_test")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAMESH_", "OPENLINEAGE_"))}
    env.update(
        DATABASE_URL=pg.url("readme_test", driver="postgresql"),
        DATAMESH_DATA_DIR=str(tmp_path / "data"),
        DATAMESH_PORT=str(free_port()),
    )
    return env


def _run(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = line.replace(".venv/bin/datamesh", shlex.quote(DATAMESH)).replace("'...'", PASSWORD)
    return subprocess.run(
        ["bash", "-c", cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_command_line_section_runs_as_written(readme_env: dict[str, str], tmp_path: Path) -> None:
    commands = _commands("Command line")
    assert [c.split()[1] for c in commands] == [
        "serve", "demo", "users", "catalog", "db", "db", "audit", "openapi"
    ]  # fmt: skip
    (tmp_path / "datasets.jsonl").write_text(
        json.dumps(
            {
                "namespace": "snowflake://acme",
                "name": "sales.readme_orders",
                "platform": "snowflake",
                "description": "Imported by the README test",
                "visibility": "internal",
            }
        )
        + "\n"
    )
    serve, *others = commands
    base = f"http://127.0.0.1:{readme_env['DATAMESH_PORT']}"
    cmd = serve.replace(".venv/bin/datamesh", DATAMESH).replace("--workers 4", "--workers 2")
    server = subprocess.Popen(
        shlex.split(cmd),
        env=readme_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(base, server)
        outputs = {}
        for line in others:
            done = _run(line, readme_env, tmp_path)
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
            outputs[" ".join(line.split()[1:3])] = done.stdout
        spec = json.loads((tmp_path / "openapi.json").read_text())
        assert "/api/v1/lineage" in spec["paths"]
        assert "entries" in outputs["audit verify"]
        admin = httpx.post(
            f"{base}/api/auth/login", json={"email": "a@b.c", "password": PASSWORD}
        ).json()["access_token"]
        found = httpx.get(
            f"{base}/api/datasets",
            params={"q": "readme_orders"},
            headers={"Authorization": f"Bearer {admin}"},
        ).json()
        assert found["items"][0]["name"] == "sales.readme_orders"  # the best match first
        _producers_send_lineage(base, admin, readme_env, tmp_path)
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
    assert server.returncode == 0, out.decode()[-2000:]


def _producers_send_lineage(base: str, admin: str, env: dict[str, str], cwd: Path) -> None:
    """The producers' settings from "Sending lineage": the key request, the two environment
    variables read by openlineage-python, and Spark's transport keys, each used for real."""
    section = "\n".join(_blocks("Sending lineage from Airflow, Spark and dbt"))
    body = re.search(r"`POST /api/auth/api-keys (\{.*?\})`", README)
    assert body is not None
    key = httpx.post(
        f"{base}/api/auth/api-keys",
        json=json.loads(body.group(1)),
        headers={"Authorization": f"Bearer {admin}"},
    ).json()["key"]
    names = re.findall(r"^export (OPENLINEAGE_\w+)=", section, re.M)
    assert names == ["OPENLINEAGE_URL", "OPENLINEAGE_API_KEY"]
    exports = {"OPENLINEAGE_URL": base, "OPENLINEAGE_API_KEY": key}
    emit = (
        "from openlineage.client import OpenLineageClient\n"
        "from tests.lineage.pipeline import pipeline_events\n"
        "client = OpenLineageClient()\n"
        "for e in pipeline_events()[:4]:\n"
        "    client.emit(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", emit],
        env={**env, **exports, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    spark = dict(re.findall(r"--conf spark\.openlineage\.transport\.([\w.]+)=(\S+)", section))
    assert set(spark) == {"type", "url", "auth.type", "auth.apiKey"}
    config: dict[str, Any] = {"type": spark["type"], "url": base, "auth": {}}
    config["auth"] = {"type": spark["auth.type"], "apiKey": key}
    emit_spark = (
        "import json, sys\n"
        "from openlineage.client import OpenLineageClient\n"
        "from openlineage.client.transport import get_default_factory\n"
        "from tests.lineage.pipeline import pipeline_events\n"
        "t = get_default_factory().create(json.loads(sys.argv[1]))\n"
        "for e in pipeline_events()[4:]:\n"
        "    OpenLineageClient(transport=t).emit(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", emit_spark, json.dumps(config)],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    marquez = re.search(
        r"`GET (/api/v1/lineage\?nodeId=)dataset:<namespace>:<name>&depth=N`", README
    )
    assert marquez is not None
    graph = httpx.get(
        f"{base}{marquez.group(1)}dataset:{S3}:orders&depth=2",
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert graph.status_code == 200
    assert "job:spark:clean_orders" in graph.text  # the Spark job, sent through Spark's keys


def test_oidc_example_configures_a_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    block = "\n".join(_blocks("Configuration"))
    value = re.search(r"export DATAMESH_OIDC_PROVIDERS='(.*?)'", block, re.S)
    assert value is not None
    monkeypatch.setenv("DATAMESH_OIDC_PROVIDERS", value.group(1))
    (provider,) = Settings().oidc_providers
    assert (provider.name, provider.issuer) == ("okta", "https://acme.okta.com")
    assert provider.group_roles == {"data-admins": "admin", "data-eng": "producer"}
    assert provider.email_domains == {"acme.com": "Acme"}
