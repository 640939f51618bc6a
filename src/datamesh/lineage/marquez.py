"""Marquez's lineage response shape, so tools built for Marquez can read DataMesh."""

from __future__ import annotations

from typing import Any


def _node_id(node: dict[str, Any]) -> str:
    if node["restricted"]:
        return f"{node['kind']}:{node['id']}"
    prefix = "dataset" if node["kind"] == "dataset" else "job"
    return f"{prefix}:{node['namespace']}:{node['name']}"


def to_marquez(graph: dict[str, Any]) -> dict[str, Any]:
    ids = {n["id"]: _node_id(n) for n in graph["nodes"]}
    in_edges: dict[str, list[dict[str, str]]] = {i: [] for i in ids.values()}
    out_edges: dict[str, list[dict[str, str]]] = {i: [] for i in ids.values()}
    for e in graph["edges"]:
        src, dst = ids[e["source"]], ids[e["target"]]
        edge = {"origin": src, "destination": dst}
        out_edges[src].append(edge)
        in_edges[dst].append(edge)
    nodes = []
    for n in graph["nodes"]:
        nid = ids[n["id"]]
        data: dict[str, Any] | None = None
        if not n["restricted"]:
            data = {
                "namespace": n["namespace"],
                "name": n["name"],
                "type": "DB_TABLE" if n["kind"] == "dataset" else "BATCH",
            }
        nodes.append(
            {
                "id": nid,
                "type": "DATASET" if n["kind"] == "dataset" else "JOB",
                "data": data,
                "inEdges": in_edges[nid],
                "outEdges": out_edges[nid],
            }
        )
    return {"graph": nodes}
