"""A process page reached from the lineage canvas, and a dataset's data quality, in a real browser.

The events are sent with the real OpenLineage client (HTTP transport, API key), on datasets of
their own so the shared workspace's other graphs do not change."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    error_message_run,
    output_statistics_output_dataset,
    ownership_job,
    source_code_location_job,
    sql_job,
)
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from playwright.sync_api import Page, expect

from .conftest import screenshot, sign_in
from .live_data import PASSWORD, Workspace

pytestmark = pytest.mark.browser

NS = "postgres://quality-db.initech.internal:5432"
RAW = "public.orders_raw"
DAILY = "public.orders_daily"
JOB = "orders_quality.load_daily"
ERROR = 'psycopg.errors.UndefinedColumn: column "amount_eur" does not exist'
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/airflow"
SQL = (
    "INSERT INTO public.orders_daily\n"
    "SELECT order_date, count(*), sum(amount)\n"
    "FROM public.orders_raw\n"
    "GROUP BY order_date"
)


def _events() -> list[RunEvent]:
    job = Job(
        namespace="initech-airflow",
        name=JOB,
        facets={
            "sql": sql_job.SQLJobFacet(query=SQL, dialect="postgres"),
            "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
                type="git",
                url="https://git.initech.test/data/dags/orders_quality.py",
                branch="main",
            ),
            "ownership": ownership_job.OwnershipJobFacet(
                owners=[ownership_job.Owner(name="team:order-analytics")]
            ),
        },
    )
    t0 = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
    events: list[RunEvent] = []
    for i, (rows, nulls, state) in enumerate(
        [(1000, 0, RunState.COMPLETE), (1100, 0, RunState.COMPLETE), (1250, 4, RunState.FAIL)]
    ):
        run_id = str(uuid.uuid4())
        begin = t0 + timedelta(days=i)
        checked = InputDataset(
            namespace=NS,
            name=RAW,
            inputFacets={
                "dataQualityMetrics": (
                    data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                        rowCount=rows,
                        bytes=rows * 96,
                        columnMetrics={
                            "amount": data_quality_metrics_input_dataset.ColumnMetrics(
                                nullCount=nulls
                            )
                        },
                    )
                ),
                "dataQualityAssertions": (
                    data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                        assertions=[
                            data_quality_assertions_dataset.Assertion(
                                assertion="not_null", success=nulls == 0, column="amount"
                            ),
                            data_quality_assertions_dataset.Assertion(
                                assertion="unique", success=True, column="order_id"
                            ),
                        ]
                    )
                ),
            },
        )
        out = OutputDataset(
            namespace=NS,
            name=DAILY,
            outputFacets={
                "outputStatistics": (
                    output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=30 + i, size=4096 + i * 100
                    )
                )
            },
        )
        run_facets = (
            {
                "errorMessage": error_message_run.ErrorMessageRunFacet(
                    message=ERROR, programmingLanguage="PYTHON"
                )
            }
            if state == RunState.FAIL
            else {}
        )
        events.append(
            RunEvent(
                eventType=RunState.START,
                eventTime=begin.isoformat(),
                run=Run(runId=run_id),
                job=job,
                producer=PRODUCER,
            )
        )
        events.append(
            RunEvent(
                eventType=state,
                eventTime=(begin + timedelta(minutes=6, seconds=30)).isoformat(),
                run=Run(runId=run_id, facets=run_facets),
                job=job,
                producer=PRODUCER,
                inputs=[checked],
                outputs=[out] if state == RunState.COMPLETE else [],
            )
        )
    # The output edge comes from the complete runs; the failing one read the table only.
    return events


@pytest.fixture(scope="module")
def quality_ws(ws: Workspace) -> dict[str, str]:
    client = OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(url=ws.base_url, auth=ApiKeyTokenProvider({"apiKey": ws.producer_key}))
        )
    )
    for event in _events():
        client.emit(event)
    ids: dict[str, str] = {}
    with ws.client(ws.admin) as c:
        for ref in (f"dataset:{NS}:{RAW}", f"job:initech-airflow:{JOB}"):
            r = c.get("/api/lineage/graph", params={"node": ref, "depth": 0})
            r.raise_for_status()
            ids[ref.split(":")[0]] = r.json()["nodes"][0]["id"]
    return ids


def test_dataset_page_shows_quality_and_failed_checks(
    page: Page, ws: Workspace, quality_ws: dict[str, str]
) -> None:
    sign_in(
        page, email=ws.admin.email, password=PASSWORD, path=f"/datasets/{quality_ws['dataset']}"
    )
    quality = page.get_by_test_id("quality")
    expect(quality.get_by_role("heading", name="Data quality")).to_be_visible()
    expect(quality.get_by_test_id("quality-rows")).to_have_text("1,250")
    expect(quality).to_contain_text("117 KB")  # 1250 rows x 96 bytes
    expect(quality.get_by_test_id("failed-assertions")).to_have_text(
        re.compile("not_null on amount")
    )
    expect(quality).to_contain_text("1 check failed")
    expect(quality).to_contain_text("1 other check passed")
    expect(quality.get_by_role("img", name=re.compile("from 1,000 to 1,250"))).to_be_visible()
    expect(quality).to_contain_text("+14% since the previous run")
    quality.scroll_into_view_if_needed()
    screenshot(page, "30-dataset-quality")
    quality.screenshot(path=str(screenshot(page, "30-dataset-quality-card")))

    # The failed check is on the Health page, with the failed run's error message.
    page.get_by_role("link", name="Health").first.click()
    checks = page.get_by_test_id("failed-check-row").filter(has_text=RAW)
    expect(checks).to_contain_text("not_null on amount")
    runs = page.get_by_test_id("failed-run-row").filter(has_text=JOB)
    expect(runs.get_by_test_id("run-error")).to_have_text(ERROR)
    screenshot(page, "31-health-checks", full_page=True)


def test_clicking_a_job_on_the_canvas_opens_its_process_page(
    page: Page, ws: Workspace, quality_ws: dict[str, str]
) -> None:
    ref = quote(f"dataset:{NS}:{RAW}", safe="")
    sign_in(page, email=ws.viewer.email, password=PASSWORD, path=f"/lineage?node={ref}&up=1&down=1")
    canvas = page.get_by_test_id("lineage-canvas")
    canvas.locator(".lnode", has_text=JOB).click()
    expect(page).to_have_url(re.compile(rf"/processes/{quality_ws['job']}$"))
    expect(page.get_by_role("heading", name=JOB, level=1)).to_be_visible()

    runs = page.get_by_test_id("run-row")
    expect(runs).to_have_count(3)
    expect(runs.first).to_contain_text("Fail")
    expect(runs.first.get_by_test_id("run-error")).to_have_text(ERROR)
    expect(runs.first).to_contain_text("6m 30s")
    expect(runs.nth(1)).to_contain_text("Complete")
    expect(page.get_by_test_id("process-sql")).to_contain_text("GROUP BY order_date")
    expect(page.get_by_test_id("process-source").get_by_role("link")).to_have_attribute(
        "href", "https://git.initech.test/data/dags/orders_quality.py"
    )
    expect(page.get_by_test_id("process-inputs").get_by_role("link", name=RAW)).to_be_visible()
    expect(page.get_by_test_id("process-outputs").get_by_role("link", name=DAILY)).to_be_visible()
    expect(page.get_by_test_id("process-owners")).to_contain_text("order-analytics")
    expect(page.get_by_test_id("lineage-canvas").locator(".lnode", has_text=DAILY)).to_be_visible()
    page.mouse.move(5, 5)
    screenshot(page, "32-process-page", full_page=True)

    # An input opens its dataset page.
    page.get_by_test_id("process-inputs").get_by_role("link", name=RAW).click()
    expect(page).to_have_url(re.compile(rf"/datasets/{quality_ws['dataset']}$"))


def test_a_process_of_another_org_is_not_found(
    page: Page, ws: Workspace, e2e_server, quality_ws
) -> None:
    # The platform admin (Acme) may not see Initech's job: the page says so, as the API does.
    sign_in(page, path=f"/processes/{quality_ws['job']}")
    expect(page.get_by_text("No such process")).to_be_visible()
    with httpx.Client(base_url=e2e_server.url) as c:
        assert c.get(f"/api/lineage/processes/{quality_ws['job']}").status_code == 401
