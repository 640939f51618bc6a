"""Audit scenarios for ingestion: queueing a crawl and importing dbt artifacts.

The dbt import's behaviour is tested against a real dbt project (tests/lineage/test_dbt.py);
here only its audit entry is checked, so a minimal v12 manifest with one model is enough."""

from __future__ import annotations

import json

from tests.audit.test_coverage import World, scenario

PG_NODE = {
    "name": "warehouse",
    "type": "postgresql",
    "config": {"host": "db.internal", "database": "shop", "user": "crawler"},
    "secrets": {"password": "env:WAREHOUSE_PASSWORD"},
}

MANIFEST = {
    "metadata": {
        "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
        "project_name": "shop",
        "invocation_id": "00000000-0000-0000-0000-000000000001",
    },
    "nodes": {
        "model.shop.orders": {
            "resource_type": "model",
            "name": "orders",
            "alias": "orders",
            "database": "shop",
            "schema": "analytics",
            "description": "",
            "columns": {},
            "tags": [],
            "meta": {},
            "config": {"materialized": "table"},
            "depends_on": {"nodes": []},
            "compiled_code": "select 1 as id",
        }
    },
    "sources": {},
}


@scenario("POST /api/nodes/{node_id}/crawl")
async def _node_crawl(w: World):
    node = (await w.c.post("/api/nodes", json=PG_NODE, headers=w.admin.headers)).json()
    r = await w.call("POST", f"/api/nodes/{node['id']}/crawl", w.admin)
    return r, "node.crawl_request", w.admin.id, "node"


@scenario("POST /api/dbt/import")
async def _dbt_import(w: World):
    r = await w.call(
        "POST",
        "/api/dbt/import",
        w.prod,
        files={"manifest": ("manifest.json", json.dumps(MANIFEST).encode())},
        data={"namespace": "postgres://db.internal:5432"},
    )
    return r, "lineage.dbt_import", w.prod.id, "org"
