"""OpenLineage producers describe their own organization's jobs and datasets: an event may read
from another org's readable table, but never rewrite another org's job, runs, schema or column
lineage; a name another org uses means the sender's own job or dataset (ADR 0005)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from openlineage.client.serde import Serde
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal
from datamesh.lineage import ingest
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

    # Other org replays a later run of jobs named like Acme's, with different schemas: a job
    # name means the sender's own job (ADR 0005), so the events land on Other's own new jobs
    # and datasets, nothing of Acme's changes, and nothing tells Other that Acme has them.
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
    assert r.status_code == 200 and body["accepted"] == len(later) and body["failed"] == 0
    jobs = await raw_conn.fetch(
        "SELECT namespace, name, count(*) AS n FROM processes GROUP BY namespace, name"
    )
    assert jobs and all(j["n"] == 2 for j in jobs)  # each name: Acme's job and Other's

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
            f"WHERE org_id = '{acme.org_id}' ORDER BY id",
            "runs": "SELECT r.id, r.run_id, r.state FROM runs r JOIN processes p "
            f"ON p.id = r.process_id WHERE p.org_id = '{acme.org_id}' ORDER BY r.id",
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


def _ol(job: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-20T06:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "globex-airflow", "name": job},
        "inputs": [{"namespace": ns, "name": n} for ns, n in inputs],
        "outputs": [{"namespace": ns, "name": n} for ns, n in outputs],
        "producer": "https://globex.test",
    }


async def test_a_batch_resolves_every_name_by_the_one_rule(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, raw_conn: asyncpg.Connection
) -> None:
    """In one batch: a public table of Acme's that Globex only reads is Acme's row; one that
    Globex also writes (in another event of the batch) is Globex's own, for every event of the
    batch; Acme's private table is Globex's own new dataset, like a name nobody has."""
    acme = await signed_in(app, client, "admin@acme.test", role="admin")
    ids = {}
    for name, vis in (
        ("read_only", "public"),
        ("read_and_written", "public"),
        ("hidden", "private"),
    ):
        r = await client.post(
            "/api/datasets",
            json={"namespace": S3, "name": name, "platform": "s3", "visibility": vis, "owners": []},
            headers=acme.headers,
        )
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    globex = await signed_in(app, client, "p@globex.test", role="producer", org="Globex")
    p = Principal(
        kind="api_key",
        id=uuid.uuid4(),
        name="airflow",
        org_id=uuid.UUID(globex.org_id),
        role="producer",
        user_id=uuid.UUID(globex.id),
    )
    batch = [
        _ol("a", [(S3, "read_only"), (S3, "read_and_written"), (S3, "hidden")], [(S3, "mid")]),
        _ol("b", [(S3, "mid"), (S3, "unknown")], [(S3, "read_and_written")]),
    ]
    out = await ingest.ingest(session, p, batch)
    await session.commit()
    assert out.accepted == 2 and not out.errors
    assert out.datasets_created == 4  # read_and_written, hidden, mid, unknown: all Globex's
    rows = await raw_conn.fetch(
        "SELECT DISTINCT d.id::text AS id, d.name, o.name AS org FROM lineage_edges e "
        "JOIN datasets d ON d.id IN (e.src_id, e.dst_id) "
        "JOIN organizations o ON o.id = d.org_id ORDER BY d.name"
    )
    assert [(r["name"], r["org"]) for r in rows] == [
        ("hidden", "Globex"),
        ("mid", "Globex"),
        ("read_and_written", "Globex"),
        ("read_only", "Acme"),
        ("unknown", "Globex"),
    ]
    assert next(r["id"] for r in rows if r["name"] == "read_only") == ids["read_only"]
