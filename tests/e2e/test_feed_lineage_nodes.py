"""The feed (live), the lineage canvas with impact, and nodes, in a real browser."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .conftest import Server, screenshot, sign_in
from .live_data import PASSWORD, ROOT_REF, Person, Workspace

pytestmark = pytest.mark.browser


def login(page: Page, who: Person, path: str = "/") -> None:
    sign_in(page, email=who.email, password=PASSWORD, path=path)


@pytest.fixture
def second(browser: Browser, e2e_server: Server) -> Iterator[Page]:
    """A second person's browser (its own cookies)."""
    ctx = browser.new_context(
        base_url=e2e_server.url,
        viewport={"width": 1280, "height": 720},
        color_scheme="light",
        locale="en-US",
        timezone_id="UTC",
    )
    ctx.set_default_timeout(15_000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors in the second page: {errors}"


def lineage_url(ref: str = ROOT_REF, up: int = 1, down: int = 1) -> str:
    return f"/lineage?node={quote(ref, safe='')}&up={up}&down={down}"


def expected_graph(
    ws: Workspace, ref: str, up: int, down: int
) -> tuple[set[str], set[tuple[str, str]]]:
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for direction, depth in (("upstream", up), ("downstream", down)):
        g = ws.graph(ref, direction, depth)
        nodes |= {n["id"] for n in g["nodes"]}
        edges |= {(e["source"], e["target"]) for e in g["edges"]}
    return nodes, edges


# -- Feed --------------------------------------------------------------------------------------


def test_feed_shows_a_new_event_live_in_another_browser(
    page: Page, second: Page, ws: Workspace
) -> None:
    # The watcher: the admin on the Recent tab.
    login(second, ws.admin, path="/feed?mode=recent")
    expect(second.get_by_role("tab", name="Recent")).to_have_attribute("aria-selected", "true")
    expect(second.get_by_test_id("live-state")).to_have_text("Live")
    expect(second.get_by_test_id("feed-item").first).to_be_visible()
    second.evaluate("window.__noReload = true")

    # The publisher: the producer, through the catalog's Publish dialog.
    name = f"Flair {uuid.uuid4().hex[:5]}"
    login(page, ws.producer, path="/catalog")
    page.get_by_role("button", name="Publish dataset").click()
    dialog = page.get_by_role("dialog", name="Publish a dataset")
    dialog.get_by_label("Platform").select_option("postgresql")
    dialog.get_by_label("Namespace").fill("postgresql://chotchkies-db:5432")
    dialog.get_by_label("Name", exact=True).fill(f"pos.public.flair_{uuid.uuid4().hex[:6]}")
    dialog.get_by_label("Display name").fill(name)
    dialog.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()

    # It arrives in the other browser without a reload, at the top.
    first = second.get_by_test_id("feed-item").first
    expect(first).to_contain_text(f"{ws.producer.email} published {name}", timeout=15_000)
    assert second.evaluate("window.__noReload") is True
    expect(first.get_by_role("link", name=name)).to_have_attribute(
        "href", re.compile(r"^/datasets/")
    )
    screenshot(second, "11-feed-live")

    # Scrolled down, new events wait behind a banner instead of moving the page.
    second.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    second.wait_for_function("window.scrollY > 200")
    later = ws.publish(
        {
            "namespace": "postgresql://chotchkies-db:5432",
            "name": f"pos.public.pieces_{uuid.uuid4().hex[:6]}",
            "display_name": "Pieces of flair",
            "platform": "postgresql",
            "visibility": "internal",
        }
    )
    banner = second.get_by_test_id("new-items-banner")
    expect(banner).to_have_text("1 new event")
    assert second.evaluate("window.scrollY") > 200
    screenshot(second, "12-feed-new-banner")
    banner.click()
    expect(banner).to_have_count(0)
    expect(second.get_by_test_id("feed-item").first).to_contain_text(
        f"published {later['display_name']}"
    )

    # For you: followed datasets first; the tab is keyboard reachable.
    second.get_by_role("tab", name="Recent").focus()
    second.keyboard.press("ArrowLeft")
    expect(second.get_by_role("tab", name="For you")).to_have_attribute("aria-selected", "true")
    expect(second).to_have_url(re.compile(r"/feed$"))
    expect(second.get_by_test_id("feed-item").first).to_be_visible()


# -- Lineage -----------------------------------------------------------------------------------


def test_lineage_graph_renders_and_expands_a_node(page: Page, ws: Workspace) -> None:
    nodes, edges = expected_graph(ws, ROOT_REF, 1, 1)
    login(page, ws.admin, path=lineage_url())
    canvas = page.get_by_test_id("lineage-canvas")
    expect(canvas.locator(".react-flow__node")).to_have_count(len(nodes))
    expect(canvas.locator(".react-flow__edge")).to_have_count(len(edges))
    expect(page.get_by_test_id("lineage-count")).to_have_text(
        f"{len(nodes)} nodes · {len(edges)} links"
    )
    expect(page.get_by_role("heading", name="ANALYTICS.CORE.ORDERS", level=1)).to_be_visible()
    # Processes look different from datasets, and say what they are.
    expect(canvas.locator('[data-kind="process"]').first).to_contain_text("Job")
    expect(canvas.locator(".lnode--root")).to_contain_text("Start")
    page.mouse.move(5, 700)
    expect(page.get_by_role("tooltip")).to_have_count(0)
    screenshot(page, "13-lineage")

    # Hover: a tooltip with namespace, platform and depth.
    canvas.locator(".lnode", has_text="orders/").first.hover()
    tip = page.get_by_role("tooltip")
    expect(tip).to_contain_text("s3://acme-raw")
    expect(tip).to_contain_text("Amazon S3")
    expect(tip).to_contain_text("1 hop upstream")
    screenshot(page, "13-lineage-tooltip")

    # Expand the upstream S3 folder in place: its extract job and source table appear.
    orders_id = next(
        n["id"] for n in ws.graph(ROOT_REF, "upstream", 1)["nodes"] if n["name"] == "orders/"
    )
    more, more_edges = expected_graph(ws, orders_id, 1, 1)
    page.get_by_role("button", name="Expand orders/").click()
    expect(canvas.locator(".react-flow__node")).to_have_count(len(nodes | more))
    expect(canvas.locator(".react-flow__edge")).to_have_count(len(edges | more_edges))
    expect(canvas.locator(".lnode", has_text="daily_sales.extract_orders")).to_be_visible()
    expect(page.get_by_role("button", name="orders/: neighbours shown")).to_be_disabled()
    page.mouse.move(5, 700)
    screenshot(page, "14-lineage-expanded")

    # Deeper downstream through the depth control.
    page.get_by_label("Downstream", exact=True).select_option("3")
    expect(page).to_have_url(re.compile(r"down=3"))
    expect(canvas.locator(".lnode", has_text="ANALYTICS.MART.SALES_TARGETS")).to_be_visible()

    # The same graph as a list, for keyboards and screen readers.
    page.get_by_text("Show the graph as a list").click()
    expect(
        page.get_by_role("table").get_by_role("link", name="ANALYTICS.MART.DAILY_REVENUE")
    ).to_be_visible()

    # A click on a dataset opens its page.
    page.get_by_role("button", name="Fit view").click()
    canvas.locator(".lnode", has_text="ANALYTICS.MART.DAILY_REVENUE").click()
    daily = ws.datasets["ANALYTICS.MART.DAILY_REVENUE"]["id"]
    expect(page).to_have_url(re.compile(rf"/datasets/{daily}$"))


def test_impact_panel_lists_affected_datasets_and_people(page: Page, ws: Workspace) -> None:
    login(page, ws.admin, path=lineage_url())
    panel = page.get_by_test_id("impact-panel")
    items = panel.get_by_test_id("impact-item")
    expect(items.filter(has_text="ANALYTICS.MART.DAILY_REVENUE")).to_contain_text("1 hop")
    expect(items.filter(has_text="ANALYTICS.MART.SALES_TARGETS")).to_contain_text("2 hops")
    expect(items.filter(has_text="model.acme.fct_daily_revenue")).to_contain_text("Process")
    expect(panel.get_by_test_id("impact-totals")).to_contain_text("2 datasets")
    notify = panel.get_by_test_id("notify-list")
    expect(notify).to_contain_text(ws.admin.name)
    expect(notify).to_contain_text("follows ANALYTICS.MART.DAILY_REVENUE")
    expect(notify).to_contain_text("owns ANALYTICS.MART.SALES_TARGETS")
    panel.get_by_role("heading", name="Impact").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -80)")
    screenshot(page, "15-lineage-impact")

    with page.expect_download() as info:
        panel.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename == "datamesh-impact.csv"
    with open(download.path(), encoding="utf-8-sig") as f:
        text = f.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    names = {r["name"] for r in rows}
    assert {"ANALYTICS.MART.DAILY_REVENUE", "ANALYTICS.MART.SALES_TARGETS"} <= names
    daily = next(r for r in rows if r["name"] == "ANALYTICS.MART.DAILY_REVENUE")
    assert daily["kind"] == "dataset" and daily["distance"] == "1"


def test_restricted_nodes_are_placeholders(page: Page, ws: Workspace) -> None:
    # The viewer may not see the private Sales targets: a grey placeholder without its name.
    login(page, ws.viewer, path=lineage_url(down=3))
    canvas = page.get_by_test_id("lineage-canvas")
    restricted = canvas.locator("[data-restricted]")
    expect(restricted).to_have_count(1)
    expect(restricted).to_contain_text("Restricted dataset")
    expect(page.get_by_test_id("impact-totals")).to_contain_text("1 restricted")
    assert "SALES_TARGETS" not in page.content()
    page.get_by_role("button", name="Fit view").click()
    restricted.hover()
    expect(page.get_by_role("tooltip")).to_contain_text("You do not have access")
    screenshot(page, "16-lineage-restricted")


def test_dataset_page_activity_and_lineage_tabs(page: Page, ws: Workspace) -> None:
    ds = ws.datasets["ANALYTICS.MART.DAILY_REVENUE"]
    login(page, ws.admin, path=f"/datasets/{ds['id']}")
    page.get_by_role("tab", name="Activity").click()
    expect(page).to_have_url(re.compile(r"tab=activity"))
    items = page.get_by_test_id("feed-item")
    expect(items.filter(has_text=f"{ws.admin.email} started following")).to_be_visible()
    expect(page.get_by_test_id("live-state")).to_have_text("Live")
    screenshot(page, "17-dataset-activity")

    # A change made elsewhere shows up in the dataset's activity live.
    with ws.client(ws.admin) as c:
        etag = c.get(f"/api/datasets/{ds['id']}").headers["etag"]
        c.patch(
            f"/api/datasets/{ds['id']}",
            json={"description": "Revenue per day, in euros."},
            headers={"If-Match": etag},
        ).raise_for_status()
    expect(items.first).to_contain_text("changed the description of")

    page.get_by_role("tab", name="Lineage").click()
    canvas = page.get_by_test_id("lineage-canvas")
    expect(canvas.locator(".lnode--root")).to_contain_text("ANALYTICS.MART.DAILY_REVENUE")
    expect(page.get_by_test_id("impact-panel")).to_be_visible()
    screenshot(page, "18-dataset-lineage")


# -- Nodes -------------------------------------------------------------------------------------


def test_create_and_test_an_http_node(page: Page, ws: Workspace, e2e_server: Server) -> None:
    login(page, ws.admin, path="/nodes")
    expect(page.get_by_text("No nodes yet")).to_be_visible()
    page.get_by_role("button", name="New node").click()
    dialog = page.get_by_role("dialog", name="New node")
    dialog.get_by_label("Name", exact=True).fill("DataMesh health")
    dialog.get_by_text("HTTP API", exact=True).click()

    # The form comes from the connector's JSON Schema.
    url = dialog.get_by_label("URL", exact=True)
    expect(url).to_be_visible()
    expect(dialog.get_by_label(re.compile(r"^Method"))).to_have_value("GET")
    expect(dialog.get_by_role("group", name="Extra headers")).to_be_visible()

    # A secret is a reference, never the value.
    dialog.get_by_label(re.compile(r"^Token")).fill("hunter2")
    url.fill(f"{e2e_server.url}/api/health")
    dialog.get_by_role("button", name="Test connection").click()
    expect(dialog.get_by_label(re.compile(r"^Token"))).to_have_attribute("aria-invalid", "true")
    expect(dialog).to_contain_text("not the secret itself")
    dialog.get_by_label(re.compile(r"^Token")).fill("")

    # The server's field messages land next to their fields.
    url.fill("ftp://example.com/health")
    dialog.get_by_role("button", name="Test connection").click()
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(dialog).to_contain_text("must be an http:// or https:// URL")

    url.fill(f"{e2e_server.url}/api/health")
    dialog.get_by_label(re.compile(r"^Expected status")).fill("200, 204")
    dialog.get_by_role("button", name="Add header").click()
    dialog.get_by_label("Extra headers: name 1").fill("X-Env")
    dialog.get_by_label("Extra headers: value 1").fill("e2e")
    dialog.get_by_role("button", name="Test connection").click()
    expect(dialog.get_by_test_id("test-result")).to_contain_text("Connection OK")
    screenshot(page, "19-node-form")

    dialog.get_by_role("button", name="Create node").click()
    expect(page.get_by_role("status").filter(has_text="Node created")).to_be_visible()

    # Its details open: test the saved node, see the check history.
    details = page.get_by_role("dialog", name="DataMesh health")
    expect(details).to_be_visible()
    details.get_by_role("button", name="Test now").click()
    expect(details.get_by_test_id("test-result")).to_contain_text("Connection OK")
    expect(details.get_by_test_id("check-history").get_by_role("row")).to_have_count(2)
    expect(details).to_contain_text("X-Env")
    screenshot(page, "20-node-details")
    details.get_by_role("button", name="Close", exact=True).click()

    card = page.get_by_test_id("node-card").filter(has_text="DataMesh health")
    expect(card).to_contain_text("OK")
    expect(card).to_contain_text("HTTP API")

    # A second node that cannot be reached, to see an error card; then filter by status.
    with ws.client(ws.admin) as c:
        node = c.post(
            "/api/nodes",
            json={
                "name": "Warehouse (decommissioned)",
                "type": "postgresql",
                "config": {"host": "127.0.0.1", "port": 1, "database": "dw", "user": "etl"},
                "secrets": {"password": "env:DW_PASSWORD"},
                "tags": ["legacy"],
            },
        )
        node.raise_for_status()
        c.post(f"/api/nodes/{node.json()['id']}/test").raise_for_status()
        c.post(
            "/api/nodes",
            json={
                "name": "Marketing BigQuery",
                "type": "bigquery",
                "config": {"project": "initech-marketing", "location": "EU"},
                "tags": ["marketing"],
            },
        ).raise_for_status()
    page.reload()
    cards = page.get_by_test_id("node-card")
    expect(cards).to_have_count(3)
    expect(cards.filter(has_text="Warehouse (decommissioned)")).to_contain_text("Error")
    screenshot(page, "21-nodes")
    page.get_by_label("Status", exact=True).select_option("error")
    expect(cards).to_have_count(1)
    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_label("Search nodes").fill("marketing")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Marketing BigQuery")

    # Edit (the form is filled from the saved settings), then delete.
    page.get_by_role("button", name="Marketing BigQuery", exact=True).click()
    page.get_by_role("dialog", name="Marketing BigQuery").get_by_role("button", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit Marketing BigQuery")
    expect(edit.get_by_label(re.compile(r"^Project id"))).to_have_value("initech-marketing")
    expect(edit.get_by_role("button", name="Test connection")).to_be_disabled()  # no live test
    edit.get_by_label("Name", exact=True).fill("Marketing warehouse")
    edit.get_by_label(re.compile(r"^Location")).fill("US")
    edit.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="Node saved")).to_be_visible()
    page.get_by_label("Search nodes").fill("")
    renamed = cards.filter(has_text="Marketing warehouse")
    expect(renamed).to_contain_text("initech-marketing")
    with ws.client(ws.admin) as c:
        saved = c.get("/api/nodes", params={"q": "Marketing warehouse"}).json()["items"][0]
        assert saved["config"] == {"project": "initech-marketing", "location": "US"}

    renamed.get_by_role("button", name="Marketing warehouse", exact=True).click()
    page.get_by_role("dialog", name="Marketing warehouse").get_by_role(
        "button", name="Delete"
    ).click()
    page.get_by_role("dialog", name="Delete Marketing warehouse?").get_by_role(
        "button", name="Delete node"
    ).click()
    expect(page.get_by_role("status").filter(has_text="Node deleted")).to_be_visible()
    expect(cards).to_have_count(2)


def test_viewers_see_nodes_but_cannot_change_them(page: Page, ws: Workspace) -> None:
    name = f"Read-only check {uuid.uuid4().hex[:4]}"
    with ws.client(ws.admin) as c:
        c.post(
            "/api/nodes",
            json={
                "name": name,
                "type": "http_api",
                "config": {"url": "https://example.invalid/health"},
            },
        ).raise_for_status()
    login(page, ws.viewer, path="/nodes")
    expect(page.get_by_test_id("node-card").first).to_be_visible()
    expect(page.get_by_role("button", name="New node")).to_have_count(0)
    page.get_by_test_id("node-card").filter(has_text=name).get_by_role(
        "button", name=name, exact=True
    ).click()
    details = page.get_by_role("dialog")
    expect(details.get_by_text("Only admins change nodes.")).to_be_visible()
    expect(details.get_by_role("button", name="Edit")).to_have_count(0)
    expect(details.get_by_role("button", name="Delete")).to_have_count(0)


def test_dark_theme_lineage_and_nodes(browser: Browser, e2e_server: Server, ws: Workspace) -> None:
    ctx: BrowserContext = browser.new_context(
        base_url=e2e_server.url,
        viewport={"width": 1280, "height": 720},
        color_scheme="dark",
        locale="en-US",
        timezone_id="UTC",
    )
    try:
        pg = ctx.new_page()
        login(pg, ws.admin, path=lineage_url(up=2, down=2))
        expect(
            pg.get_by_test_id("lineage-canvas").locator(".react-flow__node").first
        ).to_be_visible()
        expect(pg.locator(".react-flow.dark")).to_have_count(1)
        pg.mouse.move(5, 700)
        screenshot(pg, "22-lineage-dark")
        pg.goto("/feed")
        expect(pg.get_by_test_id("feed-item").first).to_be_visible()
        screenshot(pg, "23-feed-dark")
    finally:
        ctx.close()
