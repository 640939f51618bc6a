"""Column lineage through the API: a dataset's columns both ways, and column-level impact to a
depth (distances, cycles, visibility, bad input), with column lineage sent as real OpenLineage
columnLineage facets."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datamesh.lineage import columns
from tests.catalog.test_search import _ds
from tests.factories import api_key, signed_in

NS = "postgres://db:5432"
PRODUCER = "https://example.test/producer"
_runs = iter(range(1, 10**6))


def _event(job: str, output: str, fields: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    """A COMPLETE run of ``job`` writing ``output``; ``fields`` maps an output field ("" = the
    dataset as a whole) to its (input dataset, input field) sources."""
    inputs = sorted({ds for sources in fields.values() for ds, _ in sources})
    column = {
        f: {
            "inputFields": [
                {
                    "namespace": NS,
                    "name": ds,
                    "field": src,
                    "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}],
                }
                for ds, src in sources
            ]
        }
        for f, sources in fields.items()
        if f
    }
    facet: dict[str, Any] = {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
        "fields": column,
    }
    if "" in fields:
        facet["dataset"] = [
            {
                "namespace": NS,
                "name": ds,
                "field": src,
                "transformations": [{"type": "INDIRECT", "subtype": "FILTER"}],
            }
            for ds, src in fields[""]
        ]
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-12-01T06:00:00+00:00",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": f"00000000-0000-4000-8000-{next(_runs):012d}"},
        "job": {"namespace": "airflow", "name": job},
        "inputs": [{"namespace": NS, "name": ds} for ds in inputs],
        "outputs": [{"namespace": NS, "name": output, "facets": {"columnLineage": facet}}],
    }


async def _send(client: httpx.AsyncClient, key: str, events: list[dict[str, Any]]) -> None:
    r = await client.post(
        "/api/v1/lineage/batch", json=events, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text


async def _world(app: FastAPI, client: httpx.AsyncClient) -> tuple[Any, Any, dict[str, dict]]:
    """raw.amount -> clean.order_total -> secret.total_x -> mart.revenue -> clean.order_total (a
    cycle through a private dataset), raw.email -> clean.customer_email, and clean as a whole
    filtered on raw.id."""
    owner = await signed_in(app, client, "o@acme.test", role="producer")
    outsider = await signed_in(app, client, "x@globex.test", role="admin", org="Globex")
    vis = {"s.secret": "private"}
    ds = {
        n: await _ds(client, owner, n, namespace=NS, visibility=vis.get(n, "public"))
        for n in ("s.raw", "s.clean", "s.secret", "s.mart")
    }
    key = await api_key(client, owner.headers)
    await _send(
        client,
        key,
        [
            _event(
                "clean",
                "s.clean",
                {
                    "order_total": [("s.raw", "amount"), ("s.mart", "revenue")],
                    "customer_email": [("s.raw", "email")],
                    "": [("s.raw", "id")],
                },
            ),
            _event("secret", "s.secret", {"total_x": [("s.clean", "order_total")]}),
            _event("mart", "s.mart", {"revenue": [("s.secret", "total_x")]}),
        ],
    )
    return owner, outsider, ds


async def _impact(client: httpx.AsyncClient, who: Any, **params: Any) -> httpx.Response:
    return await client.get("/api/lineage/columns/impact", params=params, headers=who.headers)


async def test_column_impact_walks_hop_by_hop_through_cycles_and_hidden_datasets(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, outsider, ds = await _world(app, client)
    raw, clean, secret, mart = (ds[n] for n in ("s.raw", "s.clean", "s.secret", "s.mart"))

    r = await _impact(client, owner, dataset=raw["id"], field="amount")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["column"] == {
        "dataset_id": raw["id"],
        "name": "s.raw",
        "namespace": NS,
        "field": "amount",
    }
    assert got["depth"] == 20
    assert [(i["name"], i["field"], i["distance"], i["restricted"]) for i in got["items"]] == [
        ("s.clean", "order_total", 1, False),
        ("s.secret", "total_x", 2, False),
        ("s.mart", "revenue", 3, False),
    ]
    assert got["totals"] == {"columns": 3, "datasets": 3, "restricted": 0}
    edge = {
        (e["source_dataset_id"], e["source_field"], e["target_dataset_id"], e["target_field"])
        for e in got["edges"]
    }
    assert edge == {
        (raw["id"], "amount", clean["id"], "order_total"),
        (clean["id"], "order_total", secret["id"], "total_x"),
        (secret["id"], "total_x", mart["id"], "revenue"),
        (mart["id"], "revenue", clean["id"], "order_total"),  # the cycle closes, once
    }

    # Someone of another org sees the private dataset's column counted, never named.
    r = await _impact(client, outsider, dataset=f"dataset:{NS}:s.raw", field="amount")
    assert r.status_code == 200, r.text
    seen = r.json()
    hidden = seen["items"][1]
    assert hidden["restricted"] is True and hidden["distance"] == 2
    assert (hidden["name"], hidden["namespace"], hidden["field"]) == (None, None, None)
    assert secret["id"] not in str(seen) and "s.secret" not in str(seen) and "total_x" not in r.text
    assert [(i["name"], i["distance"]) for i in seen["items"]] == [
        ("s.clean", 1),
        (None, 2),
        ("s.mart", 3),
    ]
    assert seen["totals"] == {"columns": 3, "datasets": 3, "restricted": 1}
    assert {(e["source_field"], e["target_field"]) for e in seen["edges"]} == {
        ("amount", "order_total"),
        ("revenue", "order_total"),
    }
    # The opaque id is the one the graph gives the same hidden dataset.
    g = (
        await client.get(
            "/api/lineage/graph",
            params={"node": clean["id"], "direction": "downstream", "depth": 1},
            headers=outsider.headers,
        )
    ).json()
    assert hidden["dataset_id"] in {n["id"] for n in g["nodes"] if n["restricted"]}

    # Depth bounds the walk; the edges are those among what was reached.
    one = (await _impact(client, owner, dataset=raw["id"], field="amount", depth=1)).json()
    assert [(i["name"], i["distance"]) for i in one["items"]] == [("s.clean", 1)]
    assert [(e["source_field"], e["target_field"]) for e in one["edges"]] == [
        ("amount", "order_total")
    ]
    # From inside the cycle: every column once, the start never an item of its own impact.
    loop = (await _impact(client, owner, dataset=mart["id"], field="revenue")).json()
    assert [(i["name"], i["field"], i["distance"]) for i in loop["items"]] == [
        ("s.clean", "order_total", 1),
        ("s.secret", "total_x", 2),
    ]
    # A filter on raw.id concerns clean as a whole: field "".
    whole = (await _impact(client, owner, dataset=raw["id"], field="id")).json()
    assert [(i["name"], i["field"]) for i in whole["items"]] == [("s.clean", "")]
    # A field nobody reads: an empty answer, not an error.
    none = await _impact(client, owner, dataset=raw["id"], field="no_such_column")
    assert none.status_code == 200
    assert none.json()["items"] == [] and none.json()["totals"]["columns"] == 0


async def test_column_impact_refuses_what_it_should(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, outsider, ds = await _world(app, client)
    secret = ds["s.secret"]
    hidden = await _impact(client, outsider, dataset=secret["id"], field="total_x")
    unknown = await _impact(
        client, outsider, dataset="0190f000-0000-7000-8000-000000000000", field="total_x"
    )
    by_name = await _impact(client, outsider, dataset=f"dataset:{NS}:s.secret", field="total_x")
    assert hidden.status_code == unknown.status_code == by_name.status_code == 404
    assert hidden.json() == unknown.json() == by_name.json()  # existence does not leak
    proc = await _impact(client, owner, dataset="job:airflow:clean", field="order_total")
    assert proc.status_code == 404
    for bad in (
        {"depth": 0},
        {"depth": 1001},
        {"depth": app.state.settings.lineage_max_depth + 1},
        {"field": ""},
        {"field": "x" * 301},
    ):
        params = {"dataset": ds["s.raw"]["id"], "field": "amount", **bad}
        r = await client.get("/api/lineage/columns/impact", params=params, headers=owner.headers)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(
        "/api/lineage/columns/impact", params={"dataset": ds["s.raw"]["id"]}, headers=owner.headers
    )
    assert r.status_code == 422


async def test_a_datasets_columns_both_ways(app: FastAPI, client: httpx.AsyncClient) -> None:
    owner, outsider, ds = await _world(app, client)
    raw, clean, secret, mart = (ds[n] for n in ("s.raw", "s.clean", "s.secret", "s.mart"))

    async def cols(who: Any, dataset: dict, **params: str) -> list[dict]:
        r = await client.get(
            f"/api/lineage/assets/{dataset['id']}/columns", params=params, headers=who.headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    def pairs(edges: list[dict]) -> set[tuple]:
        return {
            (
                e["input_dataset_name"],
                e["input_field"],
                e["output_dataset_name"],
                e["output_field"],
                e["restricted"],
            )
            for e in edges
        }

    up = {
        ("s.raw", "amount", "s.clean", "order_total", False),
        ("s.mart", "revenue", "s.clean", "order_total", False),
        ("s.raw", "email", "s.clean", "customer_email", False),
        ("s.raw", "id", "s.clean", "", False),
    }
    assert pairs(await cols(owner, clean)) == up  # upstream is the default
    assert pairs(await cols(owner, clean, direction="upstream")) == up
    down = {("s.clean", "order_total", "s.secret", "total_x", False)}
    assert pairs(await cols(owner, clean, direction="downstream")) == down
    assert pairs(await cols(owner, clean, direction="both")) == up | down
    ids = {(e["input_dataset_id"], e["output_dataset_id"]) for e in await cols(owner, clean)}
    assert (raw["id"], clean["id"]) in ids and (mart["id"], clean["id"]) in ids

    # The outsider: the edge into the private dataset is kept, restricted and unnamed.
    assert pairs(await cols(outsider, clean)) == up
    restricted = await cols(outsider, clean, direction="downstream")
    assert pairs(restricted) == {("s.clean", "order_total", None, None, True)}
    assert restricted[0]["output_dataset_id"].startswith("restricted-")
    assert restricted[0]["description"] is None
    assert secret["id"] not in str(restricted) and "total_x" not in str(restricted)
    from_mart = await cols(outsider, mart)
    assert pairs(from_mart) == {(None, None, "s.mart", "revenue", True)}
    assert from_mart[0]["input_dataset_id"] == restricted[0]["output_dataset_id"]
    r = await client.get(f"/api/lineage/assets/{secret['id']}/columns", headers=outsider.headers)
    assert r.status_code == 404
    r = await client.get(
        f"/api/lineage/assets/{clean['id']}/columns",
        params={"direction": "sideways"},
        headers=owner.headers,
    )
    assert r.status_code == 422


@pytest.mark.parametrize("levels", [1, 3, columns.LEVELS_PER_STATEMENT])
async def test_column_impact_matches_a_plain_walk_on_random_column_graphs(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, levels: int
) -> None:
    """Random column graphs with diamonds and cycles: every reachable column at its least
    number of column edges, within the depth, however many levels one statement walks."""
    monkeypatch.setattr(columns, "LEVELS_PER_STATEMENT", levels)
    owner = await signed_in(app, client, "o@acme.test", role="producer")
    key = await api_key(client, owner.headers)
    rnd = random.Random(20 + levels)
    names = [f"r.t{i}" for i in range(6)]
    fields = ["a", "b", "c"]
    every = [(d, f) for d in names for f in fields]
    edges = {(rnd.choice(every), rnd.choice(every)) for _ in range(40)}
    edges = {(s, d) for s, d in edges if s != d}
    by_output: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for src, (out_ds, out_f) in sorted(edges):
        by_output.setdefault(out_ds, {}).setdefault(out_f, []).append(src)
    await _send(client, key, [_event(f"j.{o}", o, f) for o, f in sorted(by_output.items())])
    ids = {}
    for n in names:
        r = await client.get(f"/api/lineage/graph?node=dataset:{NS}:{n}", headers=owner.headers)
        ids[n] = next(x["id"] for x in r.json()["nodes"] if x["name"] == n)
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for s, d in edges:
        out.setdefault(s, []).append(d)
    checked = 0
    for start in rnd.sample(every, 8):
        for depth in (1, 2, 4, 20):
            best = {start: 0}
            queue = deque([start])
            while queue:
                c = queue.popleft()
                if best[c] == depth:
                    continue
                for nxt in out.get(c, []):
                    if nxt not in best:
                        best[nxt] = best[c] + 1
                        queue.append(nxt)
            best.pop(start)
            r = await _impact(client, owner, dataset=ids[start[0]], field=start[1], depth=depth)
            got = r.json()
            assert {(i["name"], i["field"]): i["distance"] for i in got["items"]} == best
            keys = [(i["distance"], i["name"], i["field"]) for i in got["items"]]
            assert keys == sorted(keys)
            reached = set(best) | {start}
            assert {
                (
                    (e["source_dataset_id"], e["source_field"]),
                    (e["target_dataset_id"], e["target_field"]),
                )
                for e in got["edges"]
            } == {
                ((ids[s[0]], s[1]), (ids[d[0]], d[1]))
                for s, d in edges
                if s in reached and d in reached
            }
            checked += len(best)
    assert checked > 20
