"""Dashboards and pipeline health in a real browser: build a canvas by drag and drop, save,
reload and find it identical; a stale save is refused with a clear message; a failed run shows
up on the health page (live) and lights its node up on a dashboard."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from playwright.sync_api import Locator, Page, expect

from .conftest import screenshot, sign_in
from .live_data import PASSWORD, Person, Workspace

pytestmark = pytest.mark.browser

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/spark"


def login(page: Page, who: Person, path: str = "/") -> None:
    sign_in(page, email=who.email, password=PASSWORD, path=path)


def get_dashboard(ws: Workspace, who: Person, dashboard_id: str) -> httpx.Response:
    with ws.client(who) as c:
        r = c.get(f"/api/dashboards/{dashboard_id}")
        r.raise_for_status()
        return r


def rendered_position(node: Locator) -> tuple[float, float]:
    """Where React Flow drew a node (its translate), in canvas units."""
    style = node.get_attribute("style") or ""
    m = re.search(r"translate\(\s*(-?[\d.]+)px\s*,\s*(-?[\d.]+)px\s*\)", style)
    assert m, style
    return float(m.group(1)), float(m.group(2))


def drag_to_canvas(page: Page, item: Locator, x: float, y: float) -> None:
    # Not while the palette's results are being replaced: a drag whose source element is
    # re-rendered mid-way never drops.
    palette = page.get_by_role("complementary", name="Add to the canvas")
    expect(palette.locator("[aria-busy=true]")).to_have_count(0)
    canvas = page.get_by_test_id("dashboard-canvas").locator(".react-flow__pane")
    item.drag_to(canvas, target_position={"x": x, "y": y})


def test_build_a_dashboard_by_drag_and_drop_save_reload_identical(
    page: Page, ws: Workspace
) -> None:
    login(page, ws.producer, path="/dashboards")
    expect(page.get_by_role("heading", name="Dashboards", level=1)).to_be_visible()
    page.get_by_role("button", name="New dashboard").first.click()
    dialog = page.get_by_role("dialog", name="New dashboard")
    title = f"Revenue flow {uuid.uuid4().hex[:4]}"
    dialog.get_by_label("Title").fill(title)
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/dashboards/[0-9a-f-]{36}$"))
    dashboard_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")

    # Two datasets from the search panel, dragged onto the canvas, and a note.
    palette = page.get_by_role("complementary", name="Add to the canvas")
    search = palette.get_by_role("searchbox", name="Find datasets")
    search.fill("ORDERS")
    orders = palette.get_by_test_id("palette-item").filter(has_text="ANALYTICS.CORE.ORDERS")
    drag_to_canvas(page, orders, 120, 140)
    canvas = page.get_by_test_id("dashboard-canvas")
    expect(canvas.get_by_test_id("dashboard-node")).to_have_count(1)

    page.get_by_role("button", name="Add", exact=True).click()
    search.fill("DAILY_REVENUE")
    revenue = palette.get_by_test_id("palette-item").filter(has_text="ANALYTICS.MART.DAILY_REVENUE")
    drag_to_canvas(page, revenue, 460, 140)
    expect(canvas.get_by_test_id("dashboard-node")).to_have_count(2)

    page.get_by_role("button", name="Add", exact=True).click()
    note_item = palette.get_by_test_id("palette-item").filter(has_text="Note")
    drag_to_canvas(page, note_item, 200, 330)
    expect(canvas.get_by_test_id("dashboard-note")).to_have_count(1)
    inspector = page.get_by_test_id("inspector")
    inspector.get_by_label("Text").fill("Finance reads this at 08:00")
    inspector.get_by_role("button", name="Apply text").click()
    expect(canvas.get_by_test_id("dashboard-note")).to_contain_text("Finance reads this at 08:00")

    # A link: from the right handle of ORDERS to the left handle of DAILY_REVENUE.
    orders_node = canvas.get_by_test_id("dashboard-node").filter(has_text="ANALYTICS.CORE.ORDERS")
    revenue_node = canvas.get_by_test_id("dashboard-node").filter(
        has_text="ANALYTICS.MART.DAILY_REVENUE"
    )
    source = orders_node.locator(".react-flow__handle-right")
    target = revenue_node.locator(".react-flow__handle-left")
    s, t = source.bounding_box(), target.bounding_box()
    assert s and t
    page.mouse.move(s["x"] + s["width"] / 2, s["y"] + s["height"] / 2)
    page.mouse.down()
    page.mouse.move(t["x"] + 20, t["y"] + t["height"] / 2, steps=8)
    page.mouse.move(t["x"] + t["width"] / 2, t["y"] + t["height"] / 2, steps=4)
    page.mouse.up()
    expect(canvas.locator(".react-flow__edge")).to_have_count(1)
    expect(page.get_by_test_id("canvas-count")).to_have_text("3 nodes · 1 link")

    # An annotation on ORDERS, shown on the node.
    orders_node.click()
    inspector.get_by_label("Owner").fill("Data Platform team")
    inspector.get_by_label("SLA").fill("ready by 07:00 UTC")
    inspector.get_by_role("button", name="Apply annotations").click()
    annotations = orders_node.get_by_test_id("node-annotations")
    expect(annotations).to_contain_text("Data Platform team")
    expect(annotations).to_contain_text("ready by 07:00 UTC")
    # Every dataset node says its health in words.
    expect(orders_node.get_by_test_id("node-health")).to_have_text(
        re.compile("Healthy|Failing|SLA breached|Running|No signal")
    )

    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved changes")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")
    page.mouse.click(5, 700)
    screenshot(page, "30-dashboard-built")

    saved = get_dashboard(ws, ws.producer, dashboard_id)
    before: dict[str, Any] = saved.json()
    layout = before["layout"]
    assert saved.headers["etag"] == f'"{before["version"]}"'
    assert sorted(n["kind"] for n in layout["nodes"]) == ["dataset", "dataset", "note"]
    refs = {n["ref"] for n in layout["nodes"] if n["kind"] == "dataset"}
    assert refs == {
        ws.datasets["ANALYTICS.CORE.ORDERS"]["id"],
        ws.datasets["ANALYTICS.MART.DAILY_REVENUE"]["id"],
    }
    by_id = {n["id"]: n for n in layout["nodes"]}
    [edge] = layout["edges"]
    assert by_id[edge["source"]]["ref"] == ws.datasets["ANALYTICS.CORE.ORDERS"]["id"]
    assert by_id[edge["target"]]["ref"] == ws.datasets["ANALYTICS.MART.DAILY_REVENUE"]["id"]
    orders_layout = by_id[edge["source"]]
    assert orders_layout["annotations"] == {
        "owner": "Data Platform team",
        "sla": "ready by 07:00 UTC",
    }
    [note] = [n for n in layout["nodes"] if n["kind"] == "note"]
    assert note["text"] == "Finance reads this at 08:00"
    # Snapped to the grid.
    for n in layout["nodes"]:
        assert n["position"]["x"] % 20 == 0 and n["position"]["y"] % 20 == 0, n

    # Reload: the same canvas, drawn where it was saved, with nothing left to save.
    page.reload()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(canvas.get_by_test_id("dashboard-node")).to_have_count(2)
    expect(canvas.get_by_test_id("dashboard-note")).to_have_count(1)
    expect(canvas.locator(".react-flow__edge")).to_have_count(1)
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")
    expect(orders_node.get_by_test_id("node-annotations")).to_contain_text("Data Platform team")
    expect(canvas.get_by_test_id("dashboard-note")).to_contain_text("Finance reads this at 08:00")
    for n in layout["nodes"]:
        drawn = canvas.locator(f'.react-flow__node[data-id="{n["id"]}"]')
        assert rendered_position(drawn) == (n["position"]["x"], n["position"]["y"])
    viewport = canvas.locator(".react-flow__viewport").get_attribute("style") or ""
    vp = layout["viewport"]
    assert f"translate({vp['x']:g}px, {vp['y']:g}px) scale({vp['zoom']:g})" in viewport, viewport
    screenshot(page, "31-dashboard-reloaded")

    # Undo and redo: removing the note and undoing it leaves the saved canvas exactly.
    canvas.get_by_test_id("dashboard-note").click()
    page.keyboard.press("Delete")
    expect(canvas.get_by_test_id("dashboard-note")).to_have_count(0)
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved changes")
    page.keyboard.press("Control+z")
    expect(canvas.get_by_test_id("dashboard-note")).to_have_count(1)
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")
    page.keyboard.press("Control+Shift+z")
    expect(canvas.get_by_test_id("dashboard-note")).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    expect(canvas.get_by_test_id("dashboard-note")).to_have_count(1)

    after = get_dashboard(ws, ws.producer, dashboard_id).json()
    assert after["layout"] == before["layout"]
    assert after["version"] == before["version"]

    # The list shows it with its node count.
    page.goto("/dashboards")
    row = page.get_by_test_id("dashboard-row").filter(has_text=title)
    expect(row.locator("td.num")).to_have_text("3")
    expect(row.get_by_role("link", name=title)).to_have_attribute(
        "href", f"/dashboards/{dashboard_id}"
    )
    screenshot(page, "29-dashboards-list")


def test_a_stale_save_says_someone_else_saved(page: Page, ws: Workspace) -> None:
    with ws.client(ws.admin) as c:
        r = c.post("/api/dashboards", json={"title": f"Shared flow {uuid.uuid4().hex[:4]}"})
        r.raise_for_status()
        created = r.json()
    login(page, ws.admin, path=f"/dashboards/{created['id']}")
    expect(page.get_by_role("heading", name=created["title"], level=1)).to_be_visible()

    # Someone else saves first.
    with ws.client(ws.admin) as c:
        r = c.patch(
            f"/api/dashboards/{created['id']}",
            json={"title": f"{created['title']} (edited)"},
            headers={"If-Match": f'"{created["version"]}"'},
        )
        r.raise_for_status()

    page.get_by_role("toolbar", name="Canvas tools").get_by_role("button", name="Note").click()
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved changes")
    page.get_by_role("button", name="Save", exact=True).click()
    conflict = page.get_by_test_id("save-conflict")
    expect(conflict).to_contain_text("Someone else saved this dashboard")
    expect(conflict).to_contain_text("your save was not applied")
    page.mouse.move(5, 700)
    screenshot(page, "32-dashboard-conflict")
    # Nothing of the stale save landed.
    assert get_dashboard(ws, ws.admin, created["id"]).json()["layout"]["nodes"] == []

    conflict.get_by_role("button", name="Reload their version").click()
    expect(
        page.get_by_role("heading", name=f"{created['title']} (edited)", level=1)
    ).to_be_visible()
    expect(page.get_by_test_id("save-conflict")).to_have_count(0)
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")


def _fail(ws: Workspace, namespace: str, name: str) -> str:
    """A FAIL run of a job, sent by the real OpenLineage client with the producer's API key."""
    run_id = str(uuid.uuid4())
    client = OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(url=ws.base_url, auth=ApiKeyTokenProvider({"apiKey": ws.producer_key}))
        )
    )
    now = datetime.now(UTC)
    job = Job(namespace=namespace, name=name)
    for state in (RunState.START, RunState.FAIL):
        client.emit(
            RunEvent(
                eventType=state,
                eventTime=now.isoformat(),
                run=Run(runId=run_id),
                job=job,
                producer=PRODUCER,
            )
        )
    return run_id


def test_health_page_lists_a_failed_run_live_and_the_dashboard_lights_up(
    page: Page, ws: Workspace
) -> None:
    with ws.client(ws.admin) as c:
        procs = c.get("/api/lineage/processes", params={"q": "clean_orders"}).json()["items"]
        [proc] = [p for p in procs if p["name"] == "clean_orders"]
        r = c.post(
            "/api/dashboards",
            json={
                "title": f"Spark health {uuid.uuid4().hex[:4]}",
                "layout": {
                    "nodes": [
                        {
                            "id": "n1",
                            "kind": "process",
                            "ref": proc["id"],
                            "position": {"x": 0, "y": 0},
                        },
                        {
                            "id": "n2",
                            "kind": "dataset",
                            "ref": ws.datasets["ANALYTICS.CORE.ORDERS"]["id"],
                            "position": {"x": 300, "y": 0},
                            "annotations": {"owner": "Sales engineering"},
                        },
                    ],
                    "edges": [{"id": "e1", "source": "n1", "target": "n2"}],
                    "groups": [],
                    "viewport": {"x": 40, "y": 120, "zoom": 1},
                },
            },
        )
        r.raise_for_status()
        dashboard = r.json()
        impact = c.get("/api/lineage/impact", params={"node": proc["id"], "depth": 10}).json()
    downstream = sum(1 for i in impact["items"] if i["kind"] == "dataset")

    login(page, ws.admin, path="/health")
    expect(page.get_by_role("heading", name="Pipeline health", level=1)).to_be_visible()
    expect(page.get_by_test_id("live-state")).to_have_text("Live")
    expect(page.get_by_test_id("coverage")).to_contain_text("Datasets with lineage")
    page.evaluate("window.__noReload = true")

    run_id = _fail(ws, proc["namespace"], proc["name"])

    # It appears without a reload, with its downstream impact and a way to the lineage.
    row = page.get_by_test_id("failed-run-row").filter(has_text="clean_orders")
    expect(row).to_be_visible(timeout=15_000)
    assert page.evaluate("window.__noReload") is True
    expect(row).to_contain_text("Failing")
    expect(row).to_contain_text(
        f"{downstream} downstream {'dataset' if downstream == 1 else 'datasets'}"
    )
    expect(row).to_contain_text(run_id[:13])
    # A failed run's process opens on its own page (runs, error, SQL, lineage).
    expect(row.get_by_role("link", name="clean_orders")).to_have_attribute(
        "href", f"/processes/{proc['id']}"
    )
    screenshot(page, "33-health-failed-run", full_page=True)

    # The dashboard shows the process as failing, in words and colour.
    page.goto(f"/dashboards/{dashboard['id']}")
    canvas = page.get_by_test_id("dashboard-canvas")
    process_node = canvas.locator('[data-testid="dashboard-node"][data-kind="process"]')
    expect(process_node).to_have_attribute("data-health", "failing")
    expect(process_node.get_by_test_id("node-health")).to_have_text("Failing")
    expect(page.get_by_test_id("health-summary")).to_contain_text("Failing")
    page.mouse.move(5, 700)
    screenshot(page, "34-dashboard-health")


def test_sla_panel_sets_and_shows_a_freshness_sla(page: Page, ws: Workspace) -> None:
    revenue = ws.datasets["ANALYTICS.MART.DAILY_REVENUE"]["id"]
    login(page, ws.admin, path=f"/datasets/{revenue}")
    panel = page.get_by_test_id("sla-panel")
    expect(panel).to_contain_text("No freshness SLA")
    panel.get_by_role("button", name="Set an SLA").click()
    panel.get_by_label("Deadline (UTC, HH:MM)").fill("7:5")
    panel.get_by_role("button", name="Save SLA").click()
    expect(panel).to_contain_text("Enter a time as HH:MM (24-hour, UTC).")
    panel.get_by_label("Never older than a number of hours").check()
    panel.get_by_label("Maximum age (hours)").fill("36")
    panel.get_by_role("button", name="Save SLA").click()
    expect(panel).to_contain_text("At most 36 hours old")
    expect(panel).to_contain_text(re.compile("On time|Late \\(SLA breached\\)|Not evaluated yet"))
    expect(panel).to_contain_text("Last complete run")
    screenshot(page, "35-dataset-sla")
    with ws.client(ws.admin) as c:
        sla = c.get(f"/api/datasets/{revenue}/sla").json()
    assert (sla["kind"], sla["hours"], sla["at"]) == ("max_age", 36, None)

    # A viewer sees it but has no way to change it.
    page.context.clear_cookies()
    login(page, ws.viewer, path=f"/datasets/{revenue}")
    panel = page.get_by_test_id("sla-panel")
    expect(panel).to_contain_text("At most 36 hours old")
    expect(panel.get_by_role("button", name="Edit the SLA")).to_have_count(0)


def test_save_a_lineage_view_as_a_dashboard(page: Page, ws: Workspace) -> None:
    ref = ws.datasets["ANALYTICS.CORE.ORDERS"]["id"]
    expected: set[str] = set()
    for direction in ("upstream", "downstream"):
        g = ws.graph(ref, direction, 1)
        expected |= {n["id"] for n in g["nodes"] if not n.get("restricted")}
    login(page, ws.producer, path=f"/lineage?node={ref}&up=1&down=1")
    page.get_by_role("button", name="Save as dashboard").click()
    dialog = page.get_by_role("dialog", name="New dashboard from lineage")
    expect(dialog).to_contain_text("Starting from ANALYTICS.CORE.ORDERS")
    dialog.get_by_role("button", name="Create dashboard").click()
    expect(page.get_by_role("heading", name="ANALYTICS.CORE.ORDERS flow", level=1)).to_be_visible()
    canvas = page.get_by_test_id("dashboard-canvas")
    expect(canvas.get_by_test_id("dashboard-node")).to_have_count(len(expected))
    page.mouse.move(5, 700)
    screenshot(page, "36-dashboard-from-lineage")
    dashboard = get_dashboard(ws, ws.producer, page.url.rsplit("/", 1)[1]).json()
    assert {n["ref"] for n in dashboard["layout"]["nodes"]} == expected
    assert len(dashboard["layout"]["edges"]) >= len(expected) - 1

    # Share link: the dashboard's address on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Share link").click()
    expect(page.get_by_text("Link copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == page.url

    # Pile two nodes up, then auto-layout: no two nodes overlap any more.
    nodes = canvas.get_by_test_id("dashboard-node")
    a, b = nodes.nth(0).bounding_box(), nodes.nth(1).bounding_box()
    assert a and b
    page.mouse.move(a["x"] + 10, a["y"] + 10)
    page.mouse.down()
    page.mouse.move(b["x"] + 14, b["y"] + 12, steps=10)
    page.mouse.up()
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved changes")
    page.get_by_role("button", name="Auto-layout").click()
    page.get_by_role("button", name="Fit", exact=True).click()
    page.wait_for_function(
        """() => {
          const boxes = [...document.querySelectorAll('[data-testid="dashboard-node"]')]
            .map((n) => n.getBoundingClientRect());
          return boxes.every((p, i) => boxes.every((q, j) => i >= j ||
            p.right <= q.left || q.right <= p.left || p.bottom <= q.top || q.bottom <= p.top));
        }"""
    )
    # Hover: a tooltip with the node's kind, namespace and health in words.
    nodes.filter(has_text="clean_orders").hover()
    tip = page.get_by_role("tooltip")
    expect(tip).to_contain_text("Process (job)")
    expect(tip).to_contain_text("spark")
    expect(tip).to_contain_text(re.compile("Healthy|Failing|Running|No signal"))


def test_groups_hold_nodes_and_hidden_datasets_stay_hidden(page: Page, ws: Workspace) -> None:
    orders = ws.datasets["ANALYTICS.CORE.ORDERS"]["id"]
    targets = ws.datasets["ANALYTICS.MART.SALES_TARGETS"]["id"]  # private to the admin
    with ws.client(ws.admin) as c:
        r = c.post(
            "/api/dashboards",
            json={
                "title": f"Targets {uuid.uuid4().hex[:4]}",
                "layout": {
                    "nodes": [
                        {"id": "o", "kind": "dataset", "ref": orders, "position": {"x": 0, "y": 0}},
                        {
                            "id": "t",
                            "kind": "dataset",
                            "ref": targets,
                            "position": {"x": 0, "y": 200},
                        },
                    ],
                    "edges": [{"id": "e", "source": "o", "target": "t"}],
                    "groups": [],
                    "viewport": {"x": 360, "y": 60, "zoom": 1},
                },
            },
        )
        r.raise_for_status()
        dashboard = r.json()

    # The admin draws a group and drags ORDERS into it: the node now belongs to the group.
    login(page, ws.admin, path=f"/dashboards/{dashboard['id']}")
    canvas = page.get_by_test_id("dashboard-canvas")
    expect(canvas.get_by_test_id("dashboard-node")).to_have_count(2)
    page.get_by_role("toolbar", name="Canvas tools").get_by_role("button", name="Group").click()
    group = canvas.get_by_test_id("dashboard-group")
    expect(group).to_contain_text("Group 1")
    page.get_by_test_id("inspector").get_by_label("Label").fill("Sales mart")
    page.get_by_test_id("inspector").get_by_role("button", name="Apply label").click()
    expect(group).to_contain_text("Sales mart")
    node = canvas.get_by_test_id("dashboard-node").filter(has_text="ANALYTICS.CORE.ORDERS")
    n, g = node.bounding_box(), group.bounding_box()
    assert n and g
    page.mouse.move(n["x"] + 60, n["y"] + 20)
    page.mouse.down()
    page.mouse.move(g["x"] + 140, g["y"] + 90, steps=12)
    page.mouse.up()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("save-state")).to_have_text("All changes saved")
    saved = get_dashboard(ws, ws.admin, dashboard["id"]).json()["layout"]
    [grp] = saved["groups"]
    assert grp["label"] == "Sales mart"
    by_id = {x["id"]: x for x in saved["nodes"]}
    assert by_id["o"]["parent"] == grp["id"]
    assert "parent" not in by_id["t"]
    page.mouse.move(5, 700)
    screenshot(page, "37-dashboard-group")

    # The viewer reads the dashboard: the private dataset is a locked, nameless placeholder,
    # and nothing can be edited.
    page.context.clear_cookies()
    login(page, ws.viewer, path=f"/dashboards/{dashboard['id']}")
    hidden = canvas.locator('[data-testid="dashboard-node"][data-restricted="true"]')
    expect(hidden).to_have_count(1)
    expect(hidden).to_contain_text("Restricted dataset")
    expect(canvas).not_to_contain_text("SALES_TARGETS")
    expect(page.get_by_test_id("save-state")).to_have_text("Read only")
    expect(page.get_by_role("toolbar", name="Canvas tools")).to_have_count(0)
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Duplicate")).to_have_count(0)
    page.mouse.move(5, 700)
    screenshot(page, "38-dashboard-viewer")
    page.emulate_media(color_scheme="dark")
    expect(hidden).to_contain_text("Restricted dataset")
    screenshot(page, "39-dashboard-viewer-dark")
