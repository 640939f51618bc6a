"""Building blocks for dashboard tests: datasets and processes to point at, and layouts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from tests.factories import Account


async def dataset(client: httpx.AsyncClient, who: Account, name: str, **kw: Any) -> dict:
    body = {"namespace": "postgres://db:5432", "name": name, "platform": "postgresql", **kw}
    resp = await client.post("/api/datasets", json=body, headers=who.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def process(client: httpx.AsyncClient, who: Account, name: str) -> dict:
    body = {"namespace": "airflow://etl", "name": name}
    resp = await client.post("/api/lineage/processes", json=body, headers=who.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def layout(
    datasets: Sequence[str] = (),
    processes: Sequence[str] = (),
    note: str | None = None,
) -> dict[str, Any]:
    """Nodes for the given ids in a row, a chain of edges between them, one group holding the
    first node, and an annotated first node."""
    nodes: list[dict[str, Any]] = []
    for i, ref in enumerate([*datasets, *processes]):
        kind = "dataset" if i < len(datasets) else "process"
        nodes.append(
            {"id": f"n{i}", "kind": kind, "ref": ref, "position": {"x": 200.0 * i, "y": 40.5}}
        )
    if note is not None:
        nodes.append(
            {
                "id": "note",
                "kind": "note",
                "text": note,
                "position": {"x": -120.0, "y": 300.0},
                "size": {"width": 240.0, "height": 80.0},
            }
        )
    groups = []
    if nodes:
        nodes[0]["parent"] = "g1"
        nodes[0]["annotations"] = {"owner": "data-eng", "sla": "daily by 07:00 UTC"}
        groups.append(
            {
                "id": "g1",
                "label": "Ingest",
                "position": {"x": -20.0, "y": -20.0},
                "size": {"width": 400.0, "height": 200.0},
            }
        )
    edges = [
        {"id": f"e{i}", "source": nodes[i]["id"], "target": nodes[i + 1]["id"]}
        for i in range(len(nodes) - 1)
    ]
    if edges:
        edges[0]["label"] = "feeds"
    return {
        "nodes": nodes,
        "edges": edges,
        "groups": groups,
        "viewport": {"x": 12.5, "y": -3.0, "zoom": 0.75},
    }


async def create(
    client: httpx.AsyncClient, who: Account, title: str = "Orders flow", **kw: Any
) -> httpx.Response:
    return await client.post("/api/dashboards", json={"title": title, **kw}, headers=who.headers)


async def created(
    client: httpx.AsyncClient, who: Account, title: str = "Orders flow", **kw: Any
) -> dict:
    resp = await create(client, who, title, **kw)
    assert resp.status_code == 201, resp.text
    return resp.json()
