"""E-mail alerts through a real SMTP server (aiosmtpd) on loopback: real MIME messages, AUTH
with a password given as a reference, STARTTLS with the server's certificate verified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from datamesh.config import Settings
from tests.alerts.support import dataset, deliveries, rule, until
from tests.conftest import client_for, running_app
from tests.factories import Account, signed_in
from tests.fixtures.smtp import Mailbox, self_signed

PASSWORD = "smtp-password-never-logged"


async def test_an_alert_arrives_as_a_mime_message_over_starttls_with_auth(
    settings: Settings,
    clean_db: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SMTP_TEST_PASSWORD", PASSWORD)
    cert, key = self_signed(tmp_path)
    with Mailbox(user="alerts", password=PASSWORD, tls=(cert, key)) as mailbox:
        mail = settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": mailbox.port,
                "smtp_from": "datamesh@acme.test",
                "smtp_user": "alerts",
                "smtp_password": "env:SMTP_TEST_PASSWORD",
                "smtp_starttls": True,
                "smtp_ca_file": str(cert),
            }
        )
        async with running_app(mail, migrate_on_start=False) as app, client_for(app) as client:
            owner = await signed_in(app, client, "own@acme.test", role="producer")
            ds = await dataset(client, owner, "shop.orders")
            made = await rule(
                client,
                owner,
                {"kind": "email", "to": ["ann@acme.test", "bob@acme.test"]},
                events=["dataset.deprecated"],
            )
            r = await client.delete(f"/api/datasets/{ds['id']}", headers=owner.headers)
            assert r.status_code == 200, r.text
            [got] = await until(lambda: mailbox.received, "the e-mail")
            assert got.mail_from == "datamesh@acme.test"
            assert sorted(got.rcpt_tos) == ["ann@acme.test", "bob@acme.test"]
            msg = got.message
            assert msg["Subject"] == "[DataMesh] shop.orders was deprecated"
            assert msg["X-DataMesh-Event"] == "dataset.deprecated"
            text = msg.get_body(preferencelist=("plain",)).get_content()
            html = msg.get_body(preferencelist=("html",)).get_content()
            assert "shop.orders was deprecated" in text and f"/datasets/{ds['id']}" in text
            assert f'href="http://127.0.0.1:8000/datasets/{ds["id"]}"' in html
            items = await until(lambda: _delivered(client, owner, made["id"]), "delivery recorded")
            assert items[0]["id"] == msg["X-DataMesh-Delivery"]
    assert PASSWORD not in caplog.text


async def _delivered(client: httpx.AsyncClient, owner: Account, rule_id: str) -> list[Any]:
    items = await deliveries(client, owner, rule_id)
    return items if items and items[0]["state"] == "delivered" else []


async def test_a_wrong_password_is_a_failed_attempt_with_no_secret_in_it(
    settings: Settings, clean_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_TEST_PASSWORD", "not-the-right-one")
    with Mailbox(user="alerts", password=PASSWORD) as mailbox:
        mail = settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": mailbox.port,
                "smtp_user": "alerts",
                "smtp_password": "env:SMTP_TEST_PASSWORD",
                "smtp_starttls": False,
            }
        )
        async with running_app(mail, migrate_on_start=False) as app, client_for(app) as client:
            owner = await signed_in(app, client, "own@acme.test", role="producer")
            made = await rule(client, owner, {"kind": "email", "to": ["ann@acme.test"]})
            r = await client.post(f"/api/alerts/{made['id']}/test", headers=owner.headers)
            body = r.json()
            assert body["ok"] is False and body["error"]
            assert "not-the-right-one" not in r.text
            assert mailbox.received == []
