"""Issue 18's probes of the lineage write path, from another organization (Globex) at Acme's
datasets: writing into a private dataset of Acme's, and testing whether a name exists anywhere in
the install. A name Globex may not read answers exactly like a name nobody has (ADR 0005)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from tests.factories import Account, api_key, signed_in

NS = "snowflake://acme.eu-west-1"
PRIVATE = "ANALYTICS.MART.DAILY_REVENUE"
INTERNAL = "ANALYTICS.MART.MARGINS"
PUBLIC = "ANALYTICS.CORE.ORDERS"


def _event(
    job: str, *, inputs: tuple[str, ...] | list[str] = (), outputs: tuple[str, ...] | list[str] = ()
) -> dict[str, Any]:
    schema = {
        "_producer": "https://globex.test",
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
        "fields": [{"name": "hijacked", "type": "text"}],
    }
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-20T06:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "globexjobs", "name": job},
        "inputs": [{"namespace": NS, "name": n, "facets": {"schema": schema}} for n in inputs],
        "outputs": [{"namespace": NS, "name": n, "facets": {"schema": schema}} for n in outputs],
        "producer": "https://globex.test/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
    }


async def _acme_state(raw: asyncpg.Connection, org_id: str) -> dict[str, Any]:
    """Everything of Acme's that a write of Globex's could touch."""
    return {
        "datasets": [
            dict(r)
            for r in await raw.fetch(
                "SELECT id, namespace, name, description, fields, version, updated_at "
                "FROM datasets WHERE org_id = $1 ORDER BY id",
                uuid.UUID(org_id),
            )
        ],
        "edges": [
            dict(r)
            for r in await raw.fetch(
                "SELECT e.id, e.src_id, e.dst_id FROM lineage_edges e JOIN datasets d "
                "ON d.id IN (e.src_id, e.dst_id) WHERE d.org_id = $1 ORDER BY e.id",
                uuid.UUID(org_id),
            )
        ],
        "columns": await raw.fetchval(
            "SELECT count(*) FROM column_edges c JOIN datasets d "
            "ON d.id IN (c.input_dataset_id, c.output_dataset_id) WHERE d.org_id = $1",
            uuid.UUID(org_id),
        ),
    }


async def _world(
    app: FastAPI, c: httpx.AsyncClient
) -> tuple[Account, dict[str, str], dict[str, str]]:
    """Acme's admin publishes three datasets (private, internal, public); Globex's producer makes
    an API key for its pipelines. Returns (Acme's admin, Globex's key headers, Acme ids)."""
    acme = await signed_in(app, c, "admin@acme.test", role="admin", org="Acme")
    globex = await signed_in(app, c, "producer@globex.test", role="producer", org="Globex")
    ids = {}
    for name, vis in ((PRIVATE, "private"), (INTERNAL, "internal"), (PUBLIC, "public")):
        r = await c.post(
            "/api/datasets",
            json={
                "namespace": NS,
                "name": name,
                "platform": "snowflake",
                "visibility": vis,
                "description": f"Acme's {vis} table",
                "owners": [],
            },
            headers=acme.headers,
        )
        assert r.status_code == 201, r.text
        ids[vis] = r.json()["id"]
    key = await api_key(c, globex.headers, name="globex-airflow")
    return acme, {"Authorization": f"Bearer {key}"}, ids


def _shape(graph: dict[str, Any], *names: str) -> list[tuple[Any, ...]]:
    """The Marquez answer with the dataset names given replaced by a placeholder (what differs
    between two probes is only the name asked about)."""

    def norm(value: str) -> str:
        for n in names:
            value = value.replace(n, "<name>")
        return value.replace("writer_b", "writer_a")

    return sorted(
        (
            norm(node["id"]),
            node["type"],
            node["data"] is None,
            tuple(
                sorted(norm(e["origin"]) + ">" + norm(e["destination"]) for e in node["inEdges"])
            ),
            tuple(
                sorted(norm(e["origin"]) + ">" + norm(e["destination"]) for e in node["outEdges"])
            ),
        )
        for node in graph["graph"]
    )


async def test_another_org_cannot_write_into_a_private_dataset(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    acme, globex, ids = await _world(app, client)
    before = await _acme_state(raw_conn, acme.org_id)

    # Globex's job names Acme's private and internal tables as outputs and inputs, with schema
    # facets: accepted (they are names of Globex's own now), and nothing of Acme's moves.
    for event in (
        _event("writer", outputs=[PRIVATE, INTERNAL]),
        _event("reader", inputs=[PRIVATE, INTERNAL], outputs=["GLOBEX.OUT"]),
    ):
        r = await client.post("/api/v1/lineage", json=event, headers=globex)
        assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/lineage/batch",
        json=[_event("batch_writer", outputs=[PRIVATE]), _event("batch_reader", inputs=[PRIVATE])],
        headers=globex,
    )
    assert r.status_code == 200 and r.json()["failed"] == 0, r.text
    assert await _acme_state(raw_conn, acme.org_id) == before

    # Acme's upstream of its private table shows no process of anyone else's.
    r = await client.get(
        "/api/lineage/graph",
        params={"node": ids["private"], "direction": "both"},
        headers=acme.headers,
    )
    assert r.status_code == 200
    assert [n["id"] for n in r.json()["nodes"]] == [ids["private"]]
    assert r.json()["edges"] == []

    # The names Globex wrote are Globex's own datasets, which its lineage names plainly.
    owners = await raw_conn.fetch(
        "SELECT o.name, count(*) AS n FROM datasets d JOIN organizations o ON o.id = d.org_id "
        "WHERE d.namespace = $1 AND d.name = $2 GROUP BY o.name ORDER BY o.name",
        NS,
        PRIVATE,
    )
    assert [(r["name"], r["n"]) for r in owners] == [("Acme", 1), ("Globex", 1)]


async def test_a_hidden_name_answers_like_an_unknown_one(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    acme, globex, ids = await _world(app, client)
    unknown = "ANALYTICS.MART.NOBODY_HAS_THIS"

    # Before anything is written: reading the lineage of a hidden name and of an unknown name.
    for name in (PRIVATE, unknown):
        r = await client.get(
            "/api/v1/lineage", params={"nodeId": f"dataset:{NS}:{name}"}, headers=globex
        )
        assert r.status_code == 404 and r.json()["detail"] == "No such lineage node.", r.text

    # The probe of issue 18: one job writes the hidden name, one the unknown name (as output
    # and as input of a second job); the answers differ only by the name asked about.
    answers = []
    for job, name in (("writer_a", PRIVATE), ("writer_b", unknown)):
        for event in (_event(job, outputs=[name]), _event(job + "_next", inputs=[name])):
            r = await client.post("/api/v1/lineage", json=event, headers=globex)
            assert r.status_code == 200, r.text
        r = await client.get(
            "/api/v1/lineage", params={"nodeId": f"job:globexjobs:{job}"}, headers=globex
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert all(n["data"] is not None for n in body["graph"]), body  # nothing restricted
        assert f"dataset:{NS}:{name}" in {n["id"] for n in body["graph"]}
        answers.append(_shape(body, PRIVATE, unknown))
    assert answers[0] == answers[1]

    # The typed id now means Globex's own dataset for Globex, and still Acme's for Acme.
    for who, expected_org in ((globex, "Globex"), (acme.headers, "Acme")):
        r = await client.get(
            "/api/lineage/graph", params={"node": f"dataset:{NS}:{PRIVATE}"}, headers=who
        )
        assert r.status_code == 200, r.text
        root = next(n for n in r.json()["nodes"] if n["depth"] == 0)
        org = await raw_conn.fetchval(
            "SELECT o.name FROM datasets d JOIN organizations o ON o.id = d.org_id WHERE d.id = $1",
            uuid.UUID(root["id"]),
        )
        assert org == expected_org
    assert root["id"] == ids["private"]


async def test_public_datasets_are_read_across_orgs_but_written_by_their_own(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    acme, globex, ids = await _world(app, client)
    before = await _acme_state(raw_conn, acme.org_id)
    # Reading Acme's public table links Globex's job to Acme's row; that is Acme's lineage too.
    r = await client.post(
        "/api/v1/lineage",
        json=_event("copier", inputs=[PUBLIC], outputs=["GLOBEX.COPY"]),
        headers=globex,
    )
    assert r.status_code == 200, r.text
    r = await client.get(
        "/api/lineage/impact", params={"node": ids["public"]}, headers=acme.headers
    )
    assert r.status_code == 200
    assert r.json()["totals"]["datasets"] == 1 and r.json()["totals"]["restricted"] == 2
    after = await _acme_state(raw_conn, acme.org_id)
    assert after["datasets"] == before["datasets"]  # its schema facet changed nothing
    assert len(after["edges"]) == len(before["edges"]) + 1

    # Writing it makes Globex's own dataset of that name; Acme's upstream stays empty.
    r = await client.post(
        "/api/v1/lineage", json=_event("overwriter", outputs=[PUBLIC]), headers=globex
    )
    assert r.status_code == 200, r.text
    upstream = await client.get(
        "/api/lineage/graph",
        params={"node": ids["public"], "direction": "upstream"},
        headers=acme.headers,
    )
    assert [n["id"] for n in upstream.json()["nodes"]] == [ids["public"]]
    assert (
        await raw_conn.fetchval(
            "SELECT count(*) FROM datasets WHERE namespace = $1 AND name = $2", NS, PUBLIC
        )
        == 2
    )


async def test_the_crud_api_resolves_names_by_the_same_rule(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    acme, globex, ids = await _world(app, client)
    before = await _acme_state(raw_conn, acme.org_id)
    r = await client.post(
        "/api/lineage/processes", json={"namespace": "globexjobs", "name": "manual"}, headers=globex
    )
    assert r.status_code == 201, r.text
    job = "job:globexjobs:manual"

    # A hidden name as the target: Globex's own new dataset, exactly like an unknown name.
    made = {}
    for name in (PRIVATE, "ANALYTICS.MART.UNKNOWN"):
        r = await client.post(
            "/api/lineage/edges",
            json={"source": job, "target": f"dataset:{NS}:{name}"},
            headers=globex,
        )
        assert r.status_code == 201, r.text
        made[name] = r.json()["target"]
    assert made[PRIVATE] != ids["private"]
    # Acme's public table is read from (by its typed id) but not written to, by any id.
    r = await client.post(
        "/api/lineage/edges",
        json={"source": f"dataset:{NS}:{PUBLIC}", "target": job},
        headers=globex,
    )
    assert r.status_code == 201 and r.json()["source"] == ids["public"], r.text
    r = await client.post(
        "/api/lineage/edges", json={"source": job, "target": ids["public"]}, headers=globex
    )
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    r = await client.post(
        "/api/lineage/edges", json={"source": job, "target": ids["private"]}, headers=globex
    )
    assert r.status_code == 404
    r = await client.post(
        "/api/lineage/edges",
        json={"source": job, "target": f"dataset:{NS}:{PUBLIC}"},
        headers=globex,
    )
    assert r.status_code == 201 and r.json()["target"] != ids["public"], r.text
    after = await _acme_state(raw_conn, acme.org_id)
    assert after["datasets"] == before["datasets"]
    assert len(after["edges"]) == len(before["edges"]) + 1  # the read of the public table only


async def test_publishing_a_name_another_org_uses_reveals_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Names are unique per org: Globex publishing the name of Acme's private table gets its
    own dataset (it used to get 409, which told it the table exists)."""
    _, _, ids = await _world(app, client)
    globex_admin = await signed_in(app, client, "admin@globex.test", role="admin", org="Globex")
    body = {"namespace": NS, "name": PRIVATE, "platform": "snowflake", "owners": []}
    r = await client.post("/api/datasets", json=body, headers=globex_admin.headers)
    assert r.status_code == 201 and r.json()["id"] != ids["private"], r.text
    r = await client.post("/api/datasets", json=body, headers=globex_admin.headers)
    assert r.status_code == 409  # its own name, twice


async def test_a_job_name_another_org_uses_reveals_nothing(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    """Jobs too: an event or a new process named like another org's job is the sender's own
    job (it used to be refused with 403 or 409, which told that the job exists)."""
    acme, globex, _ = await _world(app, client)
    acme_event = _event("nightly", outputs=[PRIVATE])
    acme_event["job"]["namespace"] = "acmejobs"
    r = await client.post("/api/v1/lineage", json=acme_event, headers=acme.headers)
    assert r.status_code == 200, r.text
    acme_job = await raw_conn.fetchrow("SELECT * FROM processes WHERE name = 'nightly'")

    probe = _event("nightly", outputs=["GLOBEX.OUT"])
    probe["job"]["namespace"] = "acmejobs"
    r = await client.post("/api/v1/lineage", json=probe, headers=globex)
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/lineage/processes", json={"namespace": "acmejobs", "name": "nightly"}, headers=globex
    )
    assert r.status_code == 409  # Globex's own job of that name exists now: its own
    r = await client.post(
        "/api/lineage/processes", json={"namespace": "acmejobs", "name": "weekly"}, headers=globex
    )
    assert r.status_code == 201, r.text
    assert await raw_conn.fetchrow("SELECT * FROM processes WHERE id = $1", acme_job["id"]) == (
        acme_job
    )
    r = await client.get(
        "/api/v1/lineage", params={"nodeId": "job:acmejobs:nightly"}, headers=globex
    )
    assert r.status_code == 200
    assert {n["id"] for n in r.json()["graph"]} == {
        "job:acmejobs:nightly",
        f"dataset:{NS}:GLOBEX.OUT",
    }
