"""OpenLineage producers describe their own organization's jobs and datasets: an event may read
from another org's table, but never rewrite another org's job, runs, schema or column lineage."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from openlineage.client.serde import Serde

from tests.factories import signed_in
from tests.lineage.pipeline import PG, S3, pipeline_events


def _raw(events: list[Any]) -> list[dict[str, Any]]:
    return [Serde.to_dict(e) for e in events]


async def test_another_orgs_job_and_schema_are_left_alone(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    acme = await signed_in(app, client, "p@acme.test", role="producer")
    other = await signed_in(app, client, "p@other.test", role="producer", org="Other")
    first = _raw(pipeline_events())  # Acme's pipeline: its jobs, runs and datasets
    r = await client.post("/api/v1/lineage/batch", json=first, headers=acme.headers)
    assert r.status_code == 200 and r.json()["failed"] == 0, r.text
    before = {
        t: [dict(x) for x in await raw_conn.fetch(q)]
        for t, q in {
            "processes": "SELECT id, org_id, description, sql, owners FROM processes ORDER BY id",
            "runs": "SELECT id, run_id, state FROM runs ORDER BY id",
            "fields": "SELECT id, fields, version FROM datasets ORDER BY id",
            "columns": "SELECT id FROM column_edges ORDER BY id",
        }.items()
    }

    # Other org replays a later run of Acme's jobs, with different schemas: every event is
    # refused (it is about Acme's jobs) and nothing of Acme's changes.
    later = _raw(pipeline_events(fail_job="clean_orders"))
    for e in later:
        e["run"]["runId"] = e["run"]["runId"][:-4] + "beef"
        for d in e.get("inputs", []) + e.get("outputs", []):
            d.setdefault("facets", {})["schema"] = {
                "_producer": "https://x",
                "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                "fields": [{"name": "hijacked", "type": "text"}],
            }
    r = await client.post("/api/v1/lineage/batch", json=later, headers=other.headers)
    body = r.json()
    assert r.status_code == 200 and body["accepted"] == 0 and body["failed"] == len(later)
    assert {e["status"] for e in body["errors"]} == {403}
    assert "another organization" in body["errors"][0]["detail"]
    one = await client.post("/api/v1/lineage", json=later[0], headers=other.headers)
    assert one.status_code == 403 and one.headers["content-type"] == "application/problem+json"

    # Its own job reading Acme's tables (with a schema facet) and writing a dataset named like
    # one of Acme's, with column lineage into it too: Acme's datasets are not Other's to read
    # (internal) nor to write, so every name means a new dataset of Other's (ADR 0005); none
    # of Acme's schemas, columns or edges moves.
    own = dict(later[0])
    own["job"] = {**own["job"], "namespace": "other-airflow", "name": "copy_orders"}
    own["outputs"] = [
        {
            "namespace": S3,
            "name": "orders",  # Acme's dataset as an output: column lineage must be ignored
            "facets": {
                "columnLineage": {
                    "_producer": "https://x",
                    "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
                    "fields": {
                        "id": {
                            "inputFields": [
                                {"namespace": PG, "name": "public.orders", "field": "id"}
                            ]
                        }
                    },
                }
            },
        },
        {"namespace": "s3://other-zone", "name": "orders_copy"},
    ]
    r = await client.post("/api/v1/lineage", json=own, headers=other.headers)
    assert r.status_code == 200, r.text
    after = {
        t: [dict(x) for x in await raw_conn.fetch(q)]
        for t, q in {
            "processes": "SELECT id, org_id, description, sql, owners FROM processes "
            "WHERE namespace <> 'other-airflow' ORDER BY id",
            "runs": "SELECT r.id, r.run_id, r.state FROM runs r JOIN processes p "
            "ON p.id = r.process_id WHERE p.namespace <> 'other-airflow' ORDER BY r.id",
            "fields": "SELECT id, fields, version FROM datasets WHERE org_id = "
            f"'{acme.org_id}' ORDER BY id",
            "columns": "SELECT c.id FROM column_edges c JOIN datasets d ON d.id IN "
            f"(c.input_dataset_id, c.output_dataset_id) WHERE d.org_id = '{acme.org_id}' "
            "GROUP BY c.id ORDER BY c.id",
        }.items()
    }
    assert after == before
    copied = await raw_conn.fetchval(
        "SELECT count(*) FROM lineage_edges e JOIN processes p ON p.id = e.dst_id "
        "WHERE p.name = 'copy_orders'"
    )
    assert copied == len(own["inputs"])  # reading those tables is lineage, and it is recorded
    ends = await raw_conn.fetch(
        "SELECT DISTINCT d.org_id FROM lineage_edges e JOIN processes p "
        "ON p.id IN (e.src_id, e.dst_id) JOIN datasets d ON d.id IN (e.src_id, e.dst_id) "
        "WHERE p.name = 'copy_orders'"
    )
    assert [str(r["org_id"]) for r in ends] == [other.org_id]
