"""Issue 18 in a real browser: the lineage canvas opens with the whole graph fitted (no node
cut off at the sides, no empty band), and opening Connect records no connect while copying
does."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import screenshot
from .live_data import ROOT_REF, Workspace
from .test_feed_lineage_nodes import expected_graph, lineage_url, login

pytestmark = pytest.mark.browser


def test_the_lineage_canvas_opens_fitted(page: Page, ws: Workspace) -> None:
    nodes, _ = expected_graph(ws, ROOT_REF, 2, 2)
    login(page, ws.admin, path=lineage_url(up=2, down=2))
    canvas = page.get_by_test_id("lineage-canvas")
    drawn = canvas.locator(".react-flow__node")
    expect(drawn).to_have_count(len(nodes))
    expect(canvas.locator(".react-flow")).not_to_have_class(re.compile(r"lineage-flow--placing"))
    box = canvas.bounding_box()
    assert box is not None
    boxes = [b for b in (drawn.nth(i).bounding_box() for i in range(len(nodes))) if b]
    assert len(boxes) == len(nodes)
    for b in boxes:  # every node wholly inside the canvas
        assert b["x"] >= box["x"] - 1 and b["x"] + b["width"] <= box["x"] + box["width"] + 1
        assert b["y"] >= box["y"] - 1 and b["y"] + b["height"] <= box["y"] + box["height"] + 1
    top = min(b["y"] for b in boxes)
    bottom = max(b["y"] + b["height"] for b in boxes)
    # No empty band: the canvas is about as tall as the graph (and its zoom buttons) need.
    assert box["height"] - (bottom - top) <= 260 - 40, (box, top, bottom)
    screenshot(page, "13-lineage-fitted")


def test_opening_connect_is_not_a_connect_but_copying_is(page: Page, ws: Workspace) -> None:
    ds = ws.datasets["ANALYTICS.MART.DAILY_REVENUE"]

    def connects() -> int:
        with ws.client(ws.admin) as c:
            r = c.get("/api/audit", params={"action": "dataset.connect", "limit": 100})
            r.raise_for_status()
            return sum(1 for e in r.json()["items"] if e["target"]["id"] == ds["id"])

    before = connects()
    login(page, ws.admin, path=f"/datasets/{ds['id']}?tab=connect")
    artifact = page.get_by_test_id("connect-artifact")
    expect(artifact.locator("pre")).to_be_visible()
    page.get_by_role("tab", name="SQL").click()
    expect(artifact).to_have_attribute("data-kind", "sql")
    assert connects() == before, "showing code is not a connect"
    with page.expect_response(
        lambda r: r.url.endswith(f"/api/datasets/{ds['id']}/connect") and r.request.method == "POST"
    ):
        page.get_by_role("button", name="Download", exact=False).first.click()
    assert connects() == before + 1
