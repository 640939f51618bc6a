"""OpenLineage facets beyond the graph, sent through the real client: dataset documentation and
ownership, data quality (metrics, assertions, output statistics) per run, run error messages,
and the process page's API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    documentation_dataset,
    error_message_run,
    output_statistics_output_dataset,
    ownership_dataset,
    ownership_job,
    source_code_location_job,
    sql_job,
)

from datamesh.config import Settings
from tests.factories import make_user, signed_in
from tests.fixtures.live import live_server
from tests.lineage.test_pipeline import _api_key, _emit_all

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/airflow"
SF = "snowflake://acme.eu-west-1"
RAW = "ANALYTICS.RAW.ORDERS"
MART = "ANALYTICS.MART.DAILY_REVENUE"
T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@pytest.fixture
async def live(settings: Settings, clean_db: None) -> AsyncIterator[tuple[str, object]]:
    async with live_server(settings, migrate_on_start=False) as (url, app):
        yield url, app


def _docs(text: str, *owners: str) -> dict:
    return {
        "documentation": documentation_dataset.DocumentationDatasetFacet(description=text),
        "ownership": ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name=o) for o in owners]
        ),
    }


def _run(
    run_no: int,
    *,
    outputs: list[OutputDataset] | None = None,
    inputs: list[InputDataset] | None = None,
    state: RunState = RunState.COMPLETE,
    error: str | None = None,
    job: str = "daily_revenue",
) -> list[RunEvent]:
    """START then the final event of one run of the job (inputs and outputs on the final one)."""
    run_id = str(uuid.UUID(int=run_no))
    begin = T0 + timedelta(days=run_no)
    facets = {
        "sql": sql_job.SQLJobFacet(query="INSERT INTO daily_revenue SELECT day, sum(amount)"),
        "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url="https://git.example.com/data/dags/daily_revenue.py"
        ),
        "ownership": ownership_job.OwnershipJobFacet(
            owners=[ownership_job.Owner(name="team:data-platform")]
        ),
    }
    the_job = Job(namespace="airflow", name=job, facets=facets)
    run_facets = (
        {
            "errorMessage": error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="PYTHON", stackTrace="Traceback ...\n" + error
            )
        }
        if error
        else {}
    )
    return [
        RunEvent(
            eventType=RunState.START,
            eventTime=begin.isoformat(),
            run=Run(runId=run_id),
            job=the_job,
            producer=PRODUCER,
        ),
        RunEvent(
            eventType=state,
            eventTime=(begin + timedelta(minutes=7)).isoformat(),
            run=Run(runId=run_id, facets=run_facets),
            job=the_job,
            producer=PRODUCER,
            inputs=inputs or [],
            outputs=outputs or [],
        ),
    ]


def _checked_input(*, failing: bool, rows: int) -> InputDataset:
    return InputDataset(
        namespace=SF,
        name=RAW,
        inputFacets={
            "dataQualityMetrics": (
                data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                    rowCount=rows,
                    bytes=rows * 100,
                    columnMetrics={
                        "amount": data_quality_metrics_input_dataset.ColumnMetrics(
                            nullCount=3 if failing else 0, distinctCount=90
                        )
                    },
                )
            ),
            "dataQualityAssertions": (
                data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                    assertions=[
                        data_quality_assertions_dataset.Assertion(
                            assertion="not_null", success=not failing, column="amount"
                        ),
                        data_quality_assertions_dataset.Assertion(
                            assertion="unique", success=True, column="order_id"
                        ),
                    ]
                )
            ),
        },
    )


def _stats_output(rows: int, size: int) -> OutputDataset:
    return OutputDataset(
        namespace=SF,
        name=MART,
        outputFacets={
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=rows, size=size
            )
        },
    )


async def _node_id(c: httpx.AsyncClient, headers: dict, ref: str) -> str:
    r = await c.get("/api/lineage/graph", params={"node": ref, "depth": 0}, headers=headers)
    assert r.status_code == 200, r.text
    return str(r.json()["nodes"][0]["id"])


async def test_dataset_documentation_and_ownership_are_kept(live, raw_conn) -> None:
    url, app = live
    async with aclosing(httpx.AsyncClient(base_url=url)) as c:
        key, headers = await _api_key(c, app)
        alice = await make_user(app, "alice@acme.test", role="viewer")
        await make_user(app, "bob@globex.test", role="admin", org="Globex")
        out = OutputDataset(
            namespace=SF,
            name=MART,
            facets=_docs(
                "Revenue per day, **net of refunds**.",
                "user:alice@acme.test",
                "team:finance-analytics",
                "bob@globex.test",  # a user, but of another org: a named owner only
            ),
        )
        await asyncio.to_thread(_emit_all, url, key, _run(1, outputs=[out]))
        mart = await _node_id(c, headers, f"dataset:{SF}:{MART}")
        ds = (await c.get(f"/api/datasets/{mart}", headers=headers)).json()
        assert ds["description"] == "Revenue per day, **net of refunds**."
        assert [o["email"] for o in ds["owners"]] == ["alice@acme.test"]
        assert ds["owners"][0]["id"] == str(alice.id)
        assert ds["named_owners"] == ["team:finance-analytics", "bob@globex.test"]

        # Impact of the job: the people to notify include the named owners.
        job = await _node_id(c, headers, "job:airflow:daily_revenue")
        impact = (await c.get("/api/lineage/impact", params={"node": job}, headers=headers)).json()
        notify = {p["email"] or p["name"]: p for p in impact["notify"]}
        assert notify["alice@acme.test"]["id"] == str(alice.id)
        assert notify["team:finance-analytics"]["id"] is None
        assert notify["team:finance-analytics"]["reasons"] == [f"owns {MART}"]
        assert notify["bob@globex.test"]["email"] == "bob@globex.test"
        assert impact["totals"]["people"] == 3
        [item] = [i for i in impact["items"] if i["name"] == MART]
        assert item["owners"] == ["alice@acme.test", "team:finance-analytics", "bob@globex.test"]

        # A person writes a description and removes alice: later runs with the same facets
        # change neither; a changed ownership facet is applied again.
        steward = await signed_in(app, c, "steward@acme.test", role="steward")
        r = await c.patch(
            f"/api/datasets/{mart}",
            json={"description": "Curated by finance.", "owners": []},
            headers=steward.headers,
        )
        assert r.status_code == 200, r.text
        await asyncio.to_thread(_emit_all, url, key, _run(2, outputs=[out]))
        ds = (await c.get(f"/api/datasets/{mart}", headers=headers)).json()
        assert ds["description"] == "Curated by finance."
        assert ds["owners"] == []
        changed = OutputDataset(
            namespace=SF,
            name=MART,
            facets=_docs("Something else.", "user:alice@acme.test", "team:finance-analytics"),
        )
        await asyncio.to_thread(_emit_all, url, key, _run(3, outputs=[changed]))
        ds = (await c.get(f"/api/datasets/{mart}", headers=headers)).json()
        assert ds["description"] == "Curated by finance."
        assert [o["email"] for o in ds["owners"]] == ["alice@acme.test"]
        assert ds["named_owners"] == ["team:finance-analytics"]
        # Each change a facet made is one "updated" feed item, none for the unchanged replay.
        items = (
            await c.get("/api/feed", params={"type": "dataset.updated"}, headers=headers)
        ).json()["items"]
        by_facets = [i["payload"] for i in items if i["payload"].get("source") == "openlineage"]
        assert by_facets == [
            {"fields": ["owners"], "source": "openlineage"},
            {"fields": ["description", "owners"], "source": "openlineage"},
        ]


async def test_quality_is_kept_per_run_and_a_failed_assertion_is_announced_once(
    live, raw_conn
) -> None:
    url, app = live
    async with aclosing(httpx.AsyncClient(base_url=url)) as c:
        key, headers = await _api_key(c, app)
        runs = [
            _run(
                1,
                inputs=[_checked_input(failing=False, rows=1000)],
                outputs=[_stats_output(30, 4096)],
            ),
            _run(
                2,
                inputs=[_checked_input(failing=False, rows=1100)],
                outputs=[_stats_output(31, 4200)],
            ),
            _run(
                3,
                inputs=[_checked_input(failing=True, rows=1250)],
                outputs=[_stats_output(32, 4300)],
            ),
        ]
        for events in runs:
            await asyncio.to_thread(_emit_all, url, key, events)
        raw = await _node_id(c, headers, f"dataset:{SF}:{RAW}")
        mart = await _node_id(c, headers, f"dataset:{SF}:{MART}")

        q = (await c.get(f"/api/lineage/assets/{raw}/quality", headers=headers)).json()
        assert [h["row_count"] for h in q["history"]] == [1250, 1100, 1000]  # newest first
        latest = q["latest"]
        assert latest["bytes"] == 125_000 and latest["failed_assertions"] == 1
        assert latest["process_name"] == "daily_revenue"
        assert latest["column_metrics"]["amount"]["nullCount"] == 3
        failed = [
            {k: v for k, v in a.items() if v is not None}
            for a in latest["assertions"]
            if not a["success"]
        ]
        assert failed == [{"assertion": "not_null", "success": False, "column": "amount"}]
        out_q = (await c.get(f"/api/lineage/assets/{mart}/quality", headers=headers)).json()
        assert [(h["row_count"], h["bytes"]) for h in out_q["history"]] == [
            (32, 4300),
            (31, 4200),
            (30, 4096),
        ]

        # One feed item for the failed assertion; replaying the run adds nothing.
        await asyncio.to_thread(_emit_all, url, key, runs[2])
        items = (
            await c.get("/api/feed", params={"type": "dataset.assertion_failed"}, headers=headers)
        ).json()["items"]
        assert len(items) == 1
        item = items[0]
        assert item["subject"]["id"] == raw
        assert item["payload"]["failed"] == [{"assertion": "not_null", "column": "amount"}]
        assert item["payload"]["impact_count"] == 1  # the mart downstream
        count = await raw_conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'dataset.assertion_failed'"
        )
        assert count == 1

        # The Health page lists it until a run's assertions pass again.
        health = (await c.get("/api/monitoring/overview", headers=headers)).json()
        [bad] = health["failed_assertions"]
        assert bad["dataset"]["name"] == RAW
        assert bad["failed"][0]["assertion"] == "not_null"
        assert bad["process"]["name"] == "daily_revenue"
        await asyncio.to_thread(
            _emit_all, url, key, _run(4, inputs=[_checked_input(failing=False, rows=1300)])
        )
        health = (await c.get("/api/monitoring/overview", headers=headers)).json()
        assert health["failed_assertions"] == []

        # Another org's user sees neither the quality of a dataset it may not read (404) nor
        # its failure on the Health page.
        eve = await signed_in(app, c, "eve@other.test", role="admin", org="Other")
        r = await c.get(f"/api/lineage/assets/{raw}/quality", headers=eve.headers)
        assert r.status_code == 404
        await asyncio.to_thread(
            _emit_all, url, key, _run(5, inputs=[_checked_input(failing=True, rows=1400)])
        )
        health = (await c.get("/api/monitoring/overview", headers=eve.headers)).json()
        assert health["failed_assertions"] == []


async def test_run_error_message_is_shown_everywhere(live) -> None:
    url, app = live
    async with aclosing(httpx.AsyncClient(base_url=url)) as c:
        key, headers = await _api_key(c, app)
        message = "snowflake.connector.errors.ProgrammingError: Table 'RAW.ORDERS' does not exist"
        await asyncio.to_thread(
            _emit_all,
            url,
            key,
            _run(
                1,
                inputs=[InputDataset(namespace=SF, name=RAW)],
                outputs=[OutputDataset(namespace=SF, name=MART)],
            )
            + _run(
                2,
                state=RunState.FAIL,
                error=message,
                inputs=[InputDataset(namespace=SF, name=RAW)],
                outputs=[OutputDataset(namespace=SF, name=MART)],
            ),
        )
        job = await _node_id(c, headers, "job:airflow:daily_revenue")
        runs = (await c.get(f"/api/lineage/processes/{job}/runs", headers=headers)).json()["items"]
        assert [(r["state"], r["error_message"]) for r in runs] == [
            ("FAIL", message),
            ("COMPLETE", None),
        ]
        assert runs[0]["duration_seconds"] == 420.0
        assert "facets" not in runs[0]
        health = (await c.get("/api/monitoring/overview", headers=headers)).json()
        assert health["failed_runs"][0]["error_message"] == message
        items = (
            await c.get("/api/feed", params={"type": "process.run_failed"}, headers=headers)
        ).json()["items"]
        assert [i["payload"]["error_message"] for i in items] == [message]


async def test_process_page_api(live) -> None:
    url, app = live
    async with aclosing(httpx.AsyncClient(base_url=url)) as c:
        key, headers = await _api_key(c, app)
        await asyncio.to_thread(
            _emit_all,
            url,
            key,
            _run(
                1,
                inputs=[InputDataset(namespace=SF, name=RAW)],
                outputs=[OutputDataset(namespace=SF, name=MART)],
            ),
        )
        job = await _node_id(c, headers, "job:airflow:daily_revenue")
        p = (await c.get(f"/api/lineage/processes/{job}", headers=headers)).json()
        assert p["sql"].startswith("INSERT INTO daily_revenue")
        assert p["source_code"]["url"] == "https://git.example.com/data/dags/daily_revenue.py"
        assert p["owners"] == ["team:data-platform"]
        assert [i["name"] for i in p["inputs"]] == [RAW]
        assert [o["name"] for o in p["outputs"]] == [MART]
        assert p["runs"][0]["state"] == "COMPLETE"

        # A private input stays a placeholder for a colleague who may not read it.
        raw = p["inputs"][0]["id"]
        admin = await signed_in(app, c, "admin@acme.test", role="admin")
        r = await c.patch(
            f"/api/datasets/{raw}",
            json={"visibility": "private", "owners": []},
            headers=admin.headers,
        )
        assert r.status_code == 200, r.text
        viewer = (await signed_in(app, c, "viewer@acme.test", role="viewer")).headers
        seen = (await c.get(f"/api/lineage/processes/{job}", headers=viewer)).json()
        assert seen["inputs"][0]["restricted"] is True and seen["inputs"][0]["name"] is None
        assert seen["inputs"][0]["id"] != raw

        # Another org's user gets 404, for the process and for its runs.
        other = (await signed_in(app, c, "p@other.test", role="producer", org="Other")).headers
        for path in (f"/api/lineage/processes/{job}", f"/api/lineage/processes/{job}/runs"):
            r = await c.get(path, headers=other)
            assert r.status_code == 404, path
