"""Issue 20 in a real browser: the impact panel pages through the exact blast radius and exports
it, "+N more" on the canvas draws what lies beyond, and a dataset's Columns list shows where each
column comes from, what it feeds and, for the one selected, its path and column-level impact.

The lineage is seeded through the real OpenLineage endpoint with the workspace's producer key.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from .conftest import screenshot
from .live_data import Workspace
from .test_feed_lineage_nodes import lineage_url, login

pytestmark = pytest.mark.browser

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/airflow"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FANOUT = 60  # more than a page of the impact panel (50)


@dataclass
class Seed:
    ns: str
    hub: str
    outs: list[str]
    deep: list[str]
    hidden: str
    chain: dict[str, str]

    def ref(self, name: str) -> str:
        return f"dataset:{self.ns}:{name}"


def _ds(
    ns: str,
    name: str,
    fields: list[str] | None = None,
    columns: dict[str, list[tuple[str, str]]] | None = None,
) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if fields:
        facets["schema"] = {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
            "fields": [{"name": f, "type": "NUMBER"} for f in fields],
        }
    if columns:
        facets["columnLineage"] = {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
            "fields": {
                out: {"inputFields": [{"namespace": ns, "name": n, "field": f} for n, f in ins]}
                for out, ins in columns.items()
            },
        }
    return {"namespace": ns, "name": name, "facets": facets}


def _run(job: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow", "name": job, "facets": {}},
        "inputs": inputs,
        "outputs": outputs,
    }


@pytest.fixture(scope="module")
def seed(ws: Workspace) -> Seed:
    """A hub feeding FANOUT datasets column by column (one of them private), one of which feeds
    more; and a small chain with a fork for "+N more"."""
    sfx = uuid.uuid4().hex[:6]
    ns = f"postgres://impact-{sfx}:5432"
    hub = "core.hub"
    outs = [f"mart.out_{i:02d}" for i in range(FANOUT)]
    deep = [f"mart.deep_{i}" for i in range(5)]
    chain = {k: f"chain.{k}" for k in ("a", "b", "c", "d", "e")}
    events = [
        _run(
            f"impact_{sfx}.split",
            [_ds(ns, hub, ["id", "amount"])],
            [_ds(ns, o, ["amount"], {"amount": [(hub, "amount")]}) for o in outs],
        ),
        _run(f"impact_{sfx}.deeper", [_ds(ns, outs[0])], [_ds(ns, d) for d in deep]),
        _run(f"impact_{sfx}.ab", [_ds(ns, chain["a"])], [_ds(ns, chain["b"])]),
        _run(f"impact_{sfx}.bc", [_ds(ns, chain["b"])], [_ds(ns, chain["c"])]),
        _run(f"impact_{sfx}.be", [_ds(ns, chain["b"])], [_ds(ns, chain["e"])]),
        _run(f"impact_{sfx}.cd", [_ds(ns, chain["c"])], [_ds(ns, chain["d"])]),
    ]
    with httpx.Client(base_url=ws.base_url, timeout=60) as c:
        r = c.post(
            "/api/v1/lineage/batch",
            json=events,
            headers={"Authorization": f"Bearer {ws.producer_key}"},
        )
        r.raise_for_status()
        assert r.json()["failed"] == 0, r.text
    s = Seed(ns=ns, hub=hub, outs=outs, deep=deep, hidden=outs[-1], chain=chain)
    # The last output is private: the viewer sees it only as a restricted placeholder.
    hidden_id = next(
        n["id"] for n in ws.graph(s.ref(s.hidden), "both", 0)["nodes"] if n["depth"] == 0
    )
    with ws.client(ws.admin) as c:
        etag = c.get(f"/api/datasets/{hidden_id}").headers["etag"]
        c.patch(
            f"/api/datasets/{hidden_id}",
            json={"visibility": "private"},
            headers={"If-Match": etag},
        ).raise_for_status()
    return s


def _id(ws: Workspace, ref: str) -> str:
    return str(next(n["id"] for n in ws.graph(ref, "both", 0)["nodes"] if n["depth"] == 0))


def test_impact_panel_pages_the_blast_radius_and_exports_it(
    page: Page, ws: Workspace, seed: Seed
) -> None:
    # What the API says, to compare with what the page shows.
    with ws.client(ws.viewer) as c:
        r = c.get("/api/lineage/impact", params={"node": seed.ref(seed.hub), "limit": 1})
        r.raise_for_status()
        truth = r.json()
    datasets, processes = truth["totals"]["datasets"], truth["totals"]["processes"]
    assert (datasets, processes, truth["totals"]["restricted"]) == (FANOUT + 5, 2, 1)
    total = datasets + processes

    login(page, ws.viewer, path=lineage_url(seed.ref(seed.hub), up=0, down=0))
    panel = page.get_by_test_id("impact-panel")
    totals = panel.get_by_test_id("impact-totals")
    expect(totals).to_contain_text(f"{datasets} datasets")
    expect(totals).to_contain_text(f"{processes} processes")
    expect(totals).to_contain_text("1 restricted")
    bars = panel.get_by_test_id("impact-by-distance").get_by_role("listitem")
    expect(bars).to_have_text(
        [
            f"{d['distance']} {'hop' if d['distance'] == 1 else 'hops'}{d['count']}"
            for d in truth["by_distance"]
        ]
    )

    items = panel.get_by_test_id("impact-item")
    expect(items).to_have_count(50)
    expect(panel.get_by_test_id("impact-shown")).to_have_text(f"Affected (50 of {total})")
    panel.get_by_role("heading", name="Impact").scroll_into_view_if_needed()
    screenshot(page, "20-impact-first-page")
    panel.get_by_role("button", name="Load more").click()
    expect(items).to_have_count(total)
    expect(panel.get_by_role("button", name="Load more")).to_have_count(0)
    expect(panel.get_by_test_id("impact-shown")).to_have_text(f"Affected ({total})")
    # The private output is listed as restricted, never named, and opens nothing.
    restricted = items.filter(has_text="Restricted dataset")
    expect(restricted).to_have_count(1)
    expect(restricted.locator("a")).to_have_count(0)
    assert seed.hidden not in page.content()
    # Nearest first, over both pages.
    badges = items.locator(".impact-item__side .badge").all_inner_texts()
    hops = [int(t.split()[0]) for t in badges if t.split()[-1] in ("hop", "hops")]
    assert len(hops) == total
    assert hops == sorted(hops) and hops[-1] == 2
    items.last.scroll_into_view_if_needed()
    screenshot(page, "21-impact-all-pages")

    with page.expect_download() as info:
        panel.get_by_role("link", name="Export CSV").click()
    with open(info.value.path(), encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    assert len(rows) == total
    assert {r["name"] for r in rows if r["restricted"] == "False" and r["kind"] == "dataset"} == {
        *seed.outs[:-1],
        *seed.deep,
    }
    hidden_rows = [r for r in rows if r["restricted"] == "True"]
    assert len(hidden_rows) == 1 and hidden_rows[0]["name"] == ""


def test_more_handle_draws_what_lies_beyond(page: Page, ws: Workspace, seed: Seed) -> None:
    login(page, ws.admin, path=lineage_url(seed.ref(seed.chain["a"]), up=0, down=1))
    canvas = page.get_by_test_id("lineage-canvas")
    nodes = canvas.get_by_test_id("lineage-node")
    expect(nodes).to_have_count(3)  # a, the job, b
    b = nodes.filter(has_text=seed.chain["b"])
    more = b.get_by_test_id("more-downstream")
    # b feeds two jobs the canvas does not draw (the PostgreSQL engine counts direct neighbours,
    # a lower bound, hence the trailing "+").
    with ws.client(ws.admin) as c:
        g = c.get(
            "/api/lineage/graph",
            params={"node": seed.ref(seed.chain["a"]), "direction": "downstream", "depth": 1},
        ).json()
    b_more = next(n for n in g["nodes"] if n["name"] == seed.chain["b"])["more_downstream"]
    assert b_more >= 2
    expect(more).to_contain_text(f"+{b_more}")
    expect(page.get_by_test_id("lineage-more")).to_contain_text("downstream")
    expect(nodes.filter(has_text=seed.chain["a"]).get_by_test_id("more-downstream")).to_have_count(
        0
    )
    screenshot(page, "22-lineage-more-before")

    more.click()
    # b's two jobs and what they write are drawn; b's handle is gone, c's shows what is left.
    expect(nodes).to_have_count(7)
    expect(nodes.filter(has_text=seed.chain["c"])).to_have_count(1)
    expect(nodes.filter(has_text=seed.chain["e"])).to_have_count(1)
    expect(b.get_by_test_id("more-downstream")).to_have_count(0)
    expect(nodes.filter(has_text=seed.chain["c"]).get_by_test_id("more-downstream")).to_be_visible()
    expect(nodes.filter(has_text=seed.chain["e"]).get_by_test_id("more-downstream")).to_have_count(
        0
    )
    screenshot(page, "23-lineage-more-after")

    nodes.filter(has_text=seed.chain["c"]).get_by_test_id("more-downstream").click()
    expect(nodes).to_have_count(9)
    expect(nodes.filter(has_text=seed.chain["d"])).to_have_count(1)


def test_columns_list_and_column_path(page: Page, ws: Workspace) -> None:
    # The demo pipeline: s3 orders/.amount -> ANALYTICS.CORE.ORDERS.AMOUNT -> DAILY_REVENUE.REVENUE.
    orders = _id(ws, "dataset:snowflake://acme.eu-west-1:ANALYTICS.CORE.ORDERS")
    login(page, ws.admin, path=f"/datasets/{orders}?tab=lineage")
    panel = page.get_by_test_id("columns-panel")
    rows = panel.get_by_test_id("column-row")
    expect(rows).to_have_count(3)
    amount = rows.filter(has=page.get_by_role("button", name="AMOUNT", exact=True))
    expect(amount.locator("td").nth(1)).to_contain_text("orders/ · amount")
    expect(amount.locator("td").nth(2)).to_contain_text("ANALYTICS.MART.DAILY_REVENUE · REVENUE")
    expect(
        rows.filter(has=page.get_by_role("button", name="ID", exact=True)).locator("td").nth(1)
    ).to_have_text("—")

    canvas = page.get_by_test_id("lineage-canvas")
    nodes = canvas.get_by_test_id("lineage-node")
    expect(nodes.filter(has_text="ANALYTICS.MART.SALES_TARGETS")).to_have_count(1)
    amount.get_by_role("button", name="AMOUNT").click()
    expect(page).to_have_url(f"/datasets/{orders}?tab=lineage&column=AMOUNT")

    impact = panel.get_by_test_id("column-impact")
    expect(impact.get_by_test_id("column-impact-totals")).to_contain_text("1 column")
    expect(impact.get_by_test_id("column-impact-item")).to_have_text(
        ["ANALYTICS.MART.DAILY_REVENUE · REVENUE"]
    )

    # The path is lit on the canvas: where AMOUNT comes from and what it feeds, through the jobs.
    lit = {
        "orders/": "on",
        "clean_orders": "on",
        "ANALYTICS.CORE.ORDERS": "on",
        "model.acme.fct_daily_revenue": "on",
        "ANALYTICS.MART.DAILY_REVENUE": "on",
        "ANALYTICS.MART.SALES_TARGETS": "off",
        "model.acme.sales_targets": "off",
        "refunds/": "off",
    }
    for name, state in lit.items():
        expect(nodes.filter(has_text=name).first).to_have_attribute("data-lit", state)
    expect(
        nodes.filter(has_text="ANALYTICS.MART.DAILY_REVENUE").get_by_test_id("lnode-fields")
    ).to_have_text("REVENUE")
    expect(canvas.get_by_test_id("canvas-highlight")).to_contain_text("AMOUNT")
    expect(canvas.locator(".ledge--lit")).to_have_count(4)
    page.get_by_label("Upstream", exact=True).scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -80)")
    screenshot(page, "24-column-path")
    panel.scroll_into_view_if_needed()
    screenshot(page, "25-columns-list")

    panel.get_by_role("button", name="Clear selection").click()
    expect(nodes.first).not_to_have_attribute("data-lit", "on")
    expect(canvas.locator(".ledge--lit")).to_have_count(0)

    # The same path from the canvas's toolbar.
    page.get_by_label("Column path").select_option("AMOUNT")
    expect(nodes.filter(has_text="ANALYTICS.MART.DAILY_REVENUE").first).to_have_attribute(
        "data-lit", "on"
    )
    expect(amount.get_by_role("button", name="AMOUNT")).to_have_attribute("aria-pressed", "true")
    expect(impact.get_by_test_id("column-impact-item")).to_have_count(1)


def test_column_impact_counts_a_hidden_column_without_naming_it(
    page: Page, ws: Workspace, seed: Seed
) -> None:
    hub = _id(ws, seed.ref(seed.hub))
    login(page, ws.viewer, path=f"/datasets/{hub}?tab=lineage&column={quote('amount')}")
    panel = page.get_by_test_id("columns-panel")
    totals = panel.get_by_test_id("column-impact-totals")
    expect(totals).to_contain_text(f"{FANOUT} columns")
    expect(totals).to_contain_text("1 restricted")
    items = panel.get_by_test_id("column-impact-item")
    expect(items).to_have_count(FANOUT)
    expect(items.filter(has_text="Restricted column")).to_have_count(1)
    # The Columns list: "amount" feeds FANOUT columns, the first few shown, the rest on demand.
    amount = panel.get_by_test_id("column-row").filter(
        has=page.get_by_role("button", name="amount", exact=True)
    )
    feeds = amount.locator("td").nth(2)
    feeds.get_by_role("button", name=f"+{FANOUT - 6} more").click()
    expect(feeds.locator("li")).to_have_count(FANOUT)
    expect(feeds.get_by_text("Restricted column")).to_have_count(1)
    assert seed.hidden not in page.content()
    panel.scroll_into_view_if_needed()
    screenshot(page, "26-column-impact-restricted")
