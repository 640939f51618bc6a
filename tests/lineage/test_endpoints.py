"""Lineage CRUD, edge rules, restricted placeholders, cycles and depth limits."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.catalog.test_search import _ds
from tests.factories import api_key, signed_in


async def _proc(c: httpx.AsyncClient, who, name: str, **kw) -> dict:
    r = await c.post(
        "/api/lineage/processes",
        json={"namespace": "airflow", "name": name, **kw},
        headers=who.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _edge(c: httpx.AsyncClient, who, src: str, dst: str) -> httpx.Response:
    return await c.post(
        "/api/lineage/edges", json={"source": src, "target": dst}, headers=who.headers
    )


async def test_edge_rules(app: FastAPI, client: httpx.AsyncClient, raw_conn) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    a = await _ds(client, prod, "s.a")
    await _ds(client, prod, "s.b")
    job = await _proc(client, prod, "load_b", type="airflow")
    assert (await _edge(client, prod, a["id"], job["id"])).status_code == 201
    assert (
        await _edge(client, prod, "job:airflow:load_b", "dataset:postgres://db:5432:s.b")
    ).status_code == 201
    assert (await _edge(client, prod, a["id"], job["id"])).status_code == 409
    assert (await _edge(client, prod, a["id"], a["id"])).status_code == 422
    other = await _proc(client, prod, "other")
    assert (await _edge(client, prod, job["id"], other["id"])).status_code == 422
    missing = await _edge(client, prod, a["id"], "00000000-0000-7000-8000-000000000000")
    assert missing.status_code == 404
    bad_ref = await _edge(client, prod, a["id"], "table:foo")
    assert bad_ref.status_code == 422
    listed = (
        await client.get("/api/lineage/edges", params={"node": job["id"]}, headers=prod.headers)
    ).json()
    assert len(listed["items"]) == 2
    edge_id = listed["items"][0]["id"]
    viewer = await signed_in(app, client, "v@acme.test", role="viewer")
    assert (
        await client.delete(f"/api/lineage/edges/{edge_id}", headers=viewer.headers)
    ).status_code == 403
    assert (
        await client.delete(f"/api/lineage/edges/{edge_id}", headers=prod.headers)
    ).status_code == 204
    actions = [
        r["action"]
        for r in await raw_conn.fetch(
            "SELECT action FROM audit_log WHERE action LIKE 'lineage.%' ORDER BY seq"
        )
    ]
    assert actions == [
        "lineage.process_create",
        "lineage.edge_create",
        "lineage.edge_create",
        "lineage.process_create",
        "lineage.edge_delete",
    ]
    assert (
        await raw_conn.fetchval("SELECT count(*) FROM events WHERE type = 'lineage.changed'") == 5
    )


async def test_process_crud(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    job = await _proc(client, prod, "etl", description="loads things", owners=["team-data"])
    assert (await _proc_dup(client, prod)).status_code == 409
    patched = await client.patch(
        f"/api/lineage/processes/{job['id']}", json={"description": "better"}, headers=prod.headers
    )
    assert patched.json()["description"] == "better" and patched.json()["owners"] == ["team-data"]
    outsider = await signed_in(app, client, "o@globex.test", role="admin", org="Globex")
    assert (
        await client.get(f"/api/lineage/processes/{job['id']}", headers=outsider.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/lineage/processes/{job['id']}", headers=prod.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/lineage/processes/{job['id']}", headers=prod.headers)
    ).status_code == 404


async def _proc_dup(c, who):
    return await c.post(
        "/api/lineage/processes", json={"namespace": "airflow", "name": "etl"}, headers=who.headers
    )


async def test_restricted_placeholders_keep_paths_and_counts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await signed_in(app, client, "o@acme.test", role="producer")
    outsider = await signed_in(app, client, "x@globex.test", role="admin", org="Globex")
    src = await _ds(client, owner, "s.public_src", visibility="public")
    hidden = await _ds(client, owner, "s.secret_mid", visibility="private")
    sink = await _ds(client, owner, "s.public_sink", visibility="public")
    for a, b in ((src, hidden), (hidden, sink)):
        assert (await _edge(client, owner, a["id"], b["id"])).status_code == 201
    g = (
        await client.get(
            "/api/lineage/graph",
            params={"node": src["id"], "direction": "downstream", "depth": 5},
            headers=outsider.headers,
        )
    ).json()
    assert len(g["nodes"]) == 3 and len(g["edges"]) == 2
    restricted = [n for n in g["nodes"] if n["restricted"]]
    assert restricted == [
        {
            "id": restricted[0]["id"],
            "kind": "dataset",
            "name": None,
            "namespace": None,
            "depth": 1,
            "health": None,
            "restricted": True,
            "platform": None,
            "visibility": None,
            "more_upstream": 0,  # both its neighbours are drawn
            "more_downstream": 0,
        }
    ]
    assert hidden["id"] not in str(g) and "secret_mid" not in str(g)
    impact = (
        await client.get(
            "/api/lineage/impact", params={"node": src["id"]}, headers=outsider.headers
        )
    ).json()
    assert impact["totals"]["datasets"] == 2 and impact["totals"]["restricted"] == 1
    assert "secret_mid" not in str(impact) and "o@acme.test" in str(
        impact
    )  # the public sink's owner
    # The hidden node itself cannot be a starting point for them.
    assert (
        await client.get(
            "/api/lineage/graph", params={"node": hidden["id"]}, headers=outsider.headers
        )
    ).status_code == 404
    assert (
        await client.get(
            "/api/lineage/impact", params={"node": hidden["id"]}, headers=outsider.headers
        )
    ).status_code == 404
    marquez = (
        await client.get(
            "/api/v1/lineage",
            params={"nodeId": "dataset:postgres://db:5432:s.public_src"},
            headers=outsider.headers,
        )
    ).json()
    assert "secret_mid" not in str(marquez)


async def test_cycles_are_safe(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    a, b, c = [await _ds(client, prod, f"s.{n}") for n in "abc"]
    for x, y in ((a, b), (b, c), (c, a)):
        assert (await _edge(client, prod, x["id"], y["id"])).status_code == 201
    g = (
        await client.get(
            "/api/lineage/graph",
            params={"node": a["id"], "direction": "both", "depth": 20},
            headers=prod.headers,
        )
    ).json()
    assert {n["name"]: n["depth"] for n in g["nodes"]} == {"s.a": 0, "s.b": 1, "s.c": 1}
    assert len(g["edges"]) == 3


async def test_depth_limits(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    a = await _ds(client, prod, "s.a")
    too_deep = await client.get(
        "/api/lineage/graph", params={"node": a["id"], "depth": 1_000_000}, headers=prod.headers
    )
    assert too_deep.status_code == 422
    deep = await client.get(
        "/api/lineage/graph", params={"node": a["id"], "depth": 21}, headers=prod.headers
    )
    assert deep.status_code == 422 and "at most 20" in deep.json()["detail"]
    assert (
        await client.get(
            "/api/lineage/graph", params={"node": a["id"], "depth": "x"}, headers=prod.headers
        )
    ).status_code == 422
    zero = (
        await client.get(
            "/api/lineage/graph", params={"node": a["id"], "depth": 0}, headers=prod.headers
        )
    ).json()
    assert [n["name"] for n in zero["nodes"]] == ["s.a"]


async def test_node_cap_truncates(app: FastAPI, client: httpx.AsyncClient, settings) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    hub = await _ds(client, prod, "s.hub")
    for i in range(6):
        leaf = await _ds(client, prod, f"s.leaf{i}")
        await _edge(client, prod, hub["id"], leaf["id"])
    app.state.settings.lineage_max_nodes = 4
    try:
        g = (
            await client.get(
                "/api/lineage/graph",
                params={"node": hub["id"], "direction": "downstream", "depth": 2},
                headers=prod.headers,
            )
        ).json()
    finally:
        app.state.settings.lineage_max_nodes = 5000
    assert g["truncated"] is True and len(g["nodes"]) == 4


async def test_placeholders_are_stable_and_opaque(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner = await signed_in(app, client, "o@acme.test", role="producer")
    outsider = await signed_in(app, client, "x@globex.test", role="admin", org="Globex")
    src = await _ds(client, owner, "s.pub_a", visibility="public")
    hidden = await _ds(client, owner, "s.hidden_b", visibility="private")
    sink = await _ds(client, owner, "s.pub_c", visibility="public")
    for a, b in ((src, hidden), (hidden, sink)):
        await _edge(client, owner, a["id"], b["id"])
    ids = []
    for start in (src["id"], sink["id"]):
        g = (
            await client.get(
                "/api/lineage/graph",
                params={"node": start, "direction": "both", "depth": 3},
                headers=outsider.headers,
            )
        ).json()
        ids.append(next(n["id"] for n in g["nodes"] if n["restricted"]))
    assert ids[0] == ids[1], "the same hidden node has the same id from either side"
    assert hidden["id"] not in ids[0]


async def test_schema_facets_update_known_datasets_once_per_change(
    app: FastAPI, client: httpx.AsyncClient, raw_conn
) -> None:
    """A schema facet rewrites a dataset's fields (and bumps its version) only when it differs;
    several datasets in one batch are each updated."""
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    key = await api_key(client, prod.headers)
    ol = {"Authorization": f"Bearer {key}"}

    def event(run: int, columns: dict[str, list[str]]) -> dict:
        return {
            "eventType": "COMPLETE",
            "eventTime": f"2026-11-21T06:00:{run:02d}+00:00",
            "producer": "https://example.test/producer",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": f"00000000-0000-4000-8000-{run:012d}"},
            "job": {"namespace": "dbt", "name": "marts"},
            "outputs": [
                {
                    "namespace": "pg://wh",
                    "name": name,
                    "facets": {
                        "schema": {
                            "_producer": "https://example.test/producer",
                            "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                            "fields": [{"name": c, "type": "text"} for c in cols],
                        }
                    },
                }
                for name, cols in columns.items()
            ],
        }

    async def state() -> dict[str, tuple[list[str], int]]:
        rows = await raw_conn.fetch(
            "SELECT name, fields, version FROM datasets WHERE namespace = 'pg://wh'"
        )
        return {r["name"]: ([f["name"] for f in _json(r["fields"])], r["version"]) for r in rows}

    async def send(body: dict) -> None:
        r = await client.post("/api/v1/lineage/batch", json=[body], headers=ol)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

    await send(event(1, {"m.a": ["id"], "m.b": ["id"]}))
    assert await state() == {"m.a": (["id"], 1), "m.b": (["id"], 1)}
    await send(event(2, {"m.a": ["id"], "m.b": ["id"]}))  # same schemas: nothing is touched
    assert await state() == {"m.a": (["id"], 1), "m.b": (["id"], 1)}
    await send(event(3, {"m.a": ["id", "amount"], "m.b": ["id", "day"]}))  # both change
    assert await state() == {"m.a": (["id", "amount"], 2), "m.b": (["id", "day"], 2)}
    await send(event(4, {"m.a": ["id", "amount"], "m.b": ["id"]}))  # only one changes
    assert await state() == {"m.a": (["id", "amount"], 2), "m.b": (["id"], 3)}


def _json(value: object) -> list[dict]:
    import json

    return json.loads(value) if isinstance(value, str) else value  # type: ignore[return-value]
