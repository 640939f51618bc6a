"""Secret canary: canary values behind an env:, a file: and a vault: reference (OpenBao) are used
by nodes and platform profiles, through every endpoint that touches them, failures included
(wrong passwords, unreachable hosts, a wrong sign-in password). The values must never appear in
a response (body or header), a log line (caplog and the JSON lines on stderr), an events row,
an audit_log row or the /metrics output."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres
from tests.conftest import client_for, running_app
from tests.factories import signed_in
from tests.fixtures.openbao import OpenBaoServer


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBaoServer]:
    with OpenBaoServer() as server:
        yield server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Seen:
    """Every response the test got, to search for the canaries afterwards."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, r: httpx.Response) -> httpx.Response:
        self.texts.append(f"{r.status_code} {dict(r.headers)} {r.text}")
        return r


async def test_canary_values_never_leave_the_server(
    settings: Settings,
    clean_db: None,
    pg: EmbeddedPostgres,
    raw_conn: asyncpg.Connection,
    bao: OpenBaoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    canaries = {k: f"canary-{k}-{secrets.token_hex(12)}" for k in ("env", "file", "vault", "login")}
    monkeypatch.setenv("DM_CANARY_PASSWORD", canaries["env"])
    secret_file = tmp_path / "pg-password"
    secret_file.write_text(canaries["file"])
    bao.write_secret("secret/canary/db", {"password": canaries["vault"]})
    refs = {
        "env": "env:DM_CANARY_PASSWORD",
        "file": f"file:{secret_file}",
        "vault": "vault:secret/canary/db#password",
    }
    settings.vault_url, settings.vault_token = bao.url, bao.root_token
    seen = Seen()
    caplog.set_level("DEBUG")

    async with running_app(settings, migrate_on_start=False) as app, client_for(app) as c:
        admin = await signed_in(app, c, "root@acme.test", role="admin", platform_admin=True)
        h = admin.headers
        # A wrong sign-in password is refused and never logged.
        seen.add(
            await c.post(
                "/api/auth/login", json={"email": admin.email, "password": canaries["login"]}
            )
        )
        down = _closed_port()
        for kind, ref in refs.items():
            # PostgreSQL nodes: the real server with a wrong password (the canary), and a host
            # that refuses connections.
            for name, host, port in (
                ("wrong-pw", "127.0.0.1", pg.port),
                ("down", "127.0.0.1", down),
            ):
                config = {
                    "host": host,
                    "port": port,
                    "database": "postgres",
                    "user": "postgres",
                    "sslmode": "disable",
                }
                body = {"type": "postgresql", "config": config, "secrets": {"password": ref}}
                seen.add(await c.post("/api/nodes/test", json=body, headers=h))
                seen.add(
                    await c.post(
                        "/api/connectors/postgresql/test",
                        json={"config": config, "secrets": {"password": ref}},
                        headers=h,
                    )
                )
                node = seen.add(
                    await c.post("/api/nodes", json={**body, "name": f"{kind}-{name}"}, headers=h)
                ).json()
                seen.add(await c.post(f"/api/nodes/{node['id']}/test", headers=h))
                seen.add(await c.get(f"/api/nodes/{node['id']}", headers=h))
                seen.add(await c.get(f"/api/nodes/{node['id']}/checks", headers=h))
                seen.add(
                    await c.patch(f"/api/nodes/{node['id']}", json={"tags": ["canary"]}, headers=h)
                )
                # A dataset bound to the node: refreshing its schema fails on the bad password.
                ds = seen.add(
                    await c.post(
                        "/api/datasets",
                        json={
                            "namespace": f"postgres://{host}:{port}",
                            "name": f"{kind}.{name}.orders",
                            "platform": "postgresql",
                            "source": {"node_id": node["id"], "schema": "public", "table": "t"},
                        },
                        headers=h,
                    )
                ).json()
                seen.add(await c.post(f"/api/datasets/{ds['id']}/refresh", headers=h))
            # An HTTP API node with the canary as a header secret, on a host that is down.
            seen.add(
                await c.post(
                    "/api/nodes/test",
                    json={
                        "type": "http_api",
                        "config": {"url": f"http://127.0.0.1:{down}/health"},
                        "secrets": {"token": ref},
                    },
                    headers=h,
                )
            )
            # Connect: a profile holding the reference, then code for a dataset.
            profile = seen.add(
                await c.post(
                    "/api/platform-profiles",
                    json={
                        "name": f"pg-{kind}",
                        "platform": "postgresql",
                        "settings": {
                            "host": "127.0.0.1",
                            "port": down,
                            "database": "shop",
                            "user": "me",
                        },
                        "secrets": {"password": ref},
                    },
                    headers=h,
                )
            ).json()
            seen.add(await c.get(f"/api/platform-profiles/{profile['id']}", headers=h))
            seen.add(await c.get("/api/platform-profiles", headers=h))
            ds = seen.add(
                await c.post(
                    "/api/datasets",
                    json={
                        "namespace": "postgres://db:5432",
                        "name": f"shop.public.orders_{kind}",
                        "platform": "postgresql",
                    },
                    headers=h,
                )
            ).json()
            for extra in ({}, {"test": True}):  # code only, and code plus a live test
                seen.add(
                    await c.post(
                        f"/api/datasets/{ds['id']}/connect",
                        json={"platform": "postgresql", "profile_id": profile["id"], **extra},
                        headers=h,
                    )
                )
        # A reference to something that does not exist, and a raw value where a reference goes.
        seen.add(
            await c.post(
                "/api/platform-profiles",
                json={
                    "name": "raw",
                    "platform": "postgresql",
                    "settings": {"host": "db", "port": 5432, "database": "shop", "user": "me"},
                    "secrets": {"password": canaries["env"]},
                },
                headers=h,
            )
        )
        for path in ("/api/nodes", "/api/feed", "/api/audit", "/api/audit/export"):
            seen.add(await c.get(path, headers=h))
        seen.add(await c.get("/api/audit/export", params={"format": "jsonl"}, headers=h))
        metrics = seen.add(await c.get("/metrics"))
        assert metrics.status_code == 200

    joined = "\n".join(seen.texts)
    # The failures did happen: wrong passwords, refused connections, failed schema refreshes.
    assert "password authentication failed" in joined
    assert "connection refused" in joined
    assert any(t.startswith("502 ") for t in seen.texts)
    rows: list[Any] = []
    for table in ("events", "audit_log"):
        rows += [str(dict(r)) for r in await raw_conn.fetch(f"SELECT * FROM {table}")]
    assert rows, "the writes above left events and audit entries"
    logs = caplog.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in caplog.records
    )
    out, err = capfd.readouterr()
    places = {
        "responses": "\n".join(seen.texts),
        "logs": logs + out + err,
        "events and audit_log rows": "\n".join(rows),
    }
    for kind, value in canaries.items():
        for where, text in places.items():
            assert value not in text, f"the {kind} canary leaked into {where}"
