"""Alerts in the browser: "Alert me" on a dataset opens the rule form prefilled with it, a live
"Send test" reaches a real receiver on loopback, the delivery log shows it and Redeliver sends
it again."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.receiver import Receiver

from .catalog_data import admin_api_key, publish
from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def orders(e2e_server: Server) -> dict[str, Any]:
    key = admin_api_key(e2e_server.url, ADMIN_EMAIL, ADMIN_PASSWORD, name="alerts-e2e")
    tag = uuid.uuid4().hex[:6]
    [ds] = publish(
        e2e_server.url,
        key,
        [
            {
                "namespace": "postgres://warehouse:5432",
                "name": f"shop_{tag}.orders",
                "display_name": f"Alert orders {tag}",
                "platform": "postgresql",
                "visibility": "public",
            }
        ],
    )
    return dict(ds)


def _wait(check: Any, what: str) -> None:
    for _ in range(600):  # a hang guard, not a timing goal
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def test_alert_me_send_test_delivery_log_and_redeliver(
    page: Page, orders: dict[str, Any], receiver: Receiver
) -> None:
    sign_in(page)
    page.goto(f"/datasets/{orders['id']}")
    page.get_by_role("link", name="Alert me").click()
    dialog = page.get_by_role("dialog", name="New alert rule")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Affects")).to_have_value(orders["id"])
    expect(dialog.get_by_label("Name")).to_have_value(f"Whatever breaks {orders['display_name']}")
    dialog.get_by_label("URL").fill(receiver.url("/e2e"))
    dialog.get_by_label("Signing secret").fill("not a reference")
    dialog.get_by_role("button", name="Create rule").click()
    expect(dialog.get_by_text("env:", exact=False).first).to_be_visible()  # the 422 explains
    dialog.get_by_label("Signing secret").fill("")
    dialog.get_by_role("button", name="Create rule").click()
    expect(dialog.get_by_text("is on")).to_be_visible()
    dialog.get_by_role("button", name="Send test").click()
    expect(dialog.get_by_text("Test delivered")).to_be_visible()
    assert [r.headers["x-datamesh-event"] for r in receiver.received] == ["alert.test"]
    screenshot(page, "alerts-send-test")
    dialog.get_by_role("button", name="Done").click()

    card = page.locator(".alert-rule", has_text=orders["display_name"])
    card.get_by_role("button", name="Delivery log").click()
    log = card.get_by_role("table")
    expect(log.get_by_text("delivered")).to_be_visible()
    card.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_text("Queued again")).to_be_visible()
    _wait(lambda: len(receiver.received) >= 2, "the redelivery")
    first, second = receiver.received[:2]
    assert second.delivery == first.delivery
    screenshot(page, "alerts-page", full_page=True)
