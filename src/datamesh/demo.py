"""The demo workspace: two organizations, a login per role, ~60 datasets on five platforms,
lineage from a sample pipeline replayed through the real OpenLineage endpoint, some activity.

Everything goes through the public API (an in-process client), so the demo exercises the same
paths a user does. Running it twice changes nothing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from datamesh.db import session_scope
from datamesh.users import service as users
from datamesh.users.schemas import UserCreate

PASSWORD = "datamesh-demo"


@dataclass(frozen=True)
class Login:
    email: str
    role: str
    org: str
    platform_admin: bool = False


LOGINS = (
    Login("admin@acme.test", "admin", "Acme", platform_admin=True),
    Login("steward@acme.test", "steward", "Acme"),
    Login("producer@acme.test", "producer", "Acme"),
    Login("viewer@acme.test", "viewer", "Acme"),
    Login("admin@globex.test", "admin", "Globex"),
)

PLATFORMS = {
    "snowflake": ("snowflake://acme.eu-west-1", "ANALYTICS.{schema}.{table}"),
    "databricks": ("databricks://acme.cloud.databricks.com", "main.{schema}.{table}"),
    "bigquery": ("bigquery", "acme-prod.{schema}.{table}"),
    "redshift": ("redshift://acme-wh.eu-west-1:5439", "dev.{schema}.{table}"),
    "postgresql": ("postgres://shop-db:5432", "{schema}.{table}"),
}
DOMAINS = {
    "sales": ["orders", "order_items", "refunds", "invoices", "daily_revenue", "sales_targets"],
    "marketing": ["campaigns", "ad_spend", "email_events", "attribution", "web_sessions", "leads"],
    "product": [
        "events",
        "feature_flags",
        "experiments",
        "page_views",
        "signups",
        "retention_cohorts",
    ],
    "finance": ["ledger", "payments", "fx_rates", "budgets", "payroll_summary", "forecasts"],
    "operations": ["shipments", "inventory", "suppliers", "warehouses", "returns", "sla_breaches"],
}
FIELDS = [
    ("id", "BIGINT", "Primary key", []),
    ("created_at", "TIMESTAMP", "When the row was created (UTC)", []),
    ("customer_email", "VARCHAR", "Customer's email address", ["pii"]),
    ("amount", "NUMERIC(12,2)", "Amount in EUR", []),
    ("region", "VARCHAR", "Sales region", []),
    ("status", "VARCHAR", "Lifecycle status", []),
]


def _datasets() -> list[dict[str, Any]]:
    rng = random.Random(42)
    out = []
    platforms = list(PLATFORMS)
    for d_index, (domain, tables) in enumerate(DOMAINS.items()):
        for t_index, table in enumerate(tables):
            for copy, schema in enumerate(("core", "mart")):
                platform = platforms[(d_index + t_index + copy) % len(platforms)]
                namespace, pattern = PLATFORMS[platform]
                name = pattern.format(
                    schema=schema.upper() if platform == "snowflake" else schema,
                    table=table.upper() if platform == "snowflake" else table,
                )
                visibility = rng.choice(["public", "internal", "internal", "private"])
                out.append(
                    {
                        "namespace": namespace,
                        "name": name,
                        "platform": platform,
                        "display_name": f"{table.replace('_', ' ').title()} ({schema})",
                        "description": (
                            f"{'Cleaned, modelled' if schema == 'mart' else 'Raw'} "
                            f"{table.replace('_', ' ')} for the {domain} domain. "
                            "Refreshed daily by the data platform team."
                        ),
                        "domain": domain,
                        "tags": sorted(
                            {
                                schema,
                                rng.choice(["gold", "silver", "bronze"]),
                                *(["pii"] if rng.random() < 0.3 else []),
                            }
                        ),
                        "visibility": visibility,
                        "source": {
                            "database": name.split(".")[0] if name.count(".") == 2 else None,
                            "schema": name.split(".")[-2],
                            "table": name.split(".")[-1],
                        },
                        "fields": [
                            {"name": n, "type": t, "description": desc, "tags": tags}
                            for n, t, desc, tags in FIELDS[: 3 + rng.randint(0, 3)]
                        ],
                    }
                )
    return out


def pipeline_events(start: datetime | None = None) -> list[dict[str, Any]]:
    """OpenLineage events of an Airflow DAG, a Spark job and dbt models, with column lineage."""
    t = start or datetime.now(UTC).replace(hour=5, minute=0, second=0, microsecond=0) - timedelta(
        days=1
    )
    producer = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/airflow"
    schema_url = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

    def ds(
        ns: str,
        name: str,
        fields: list[tuple[str, str]] | None = None,
        columns: dict[str, list[tuple[str, str, str]]] | None = None,
    ) -> dict[str, Any]:
        facets: dict[str, Any] = {}
        if fields:
            facets["schema"] = {
                "_producer": producer,
                "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                "fields": [{"name": n, "type": ty} for n, ty in fields],
            }
        if columns:
            facets["columnLineage"] = {
                "_producer": producer,
                "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
                "fields": {
                    out: {
                        "inputFields": [
                            {"namespace": n, "name": nm, "field": f} for n, nm, f in ins
                        ]
                    }
                    for out, ins in columns.items()
                },
            }
        return {"namespace": ns, "name": name, "facets": facets}

    def job(
        ns: str, name: str, integration: str, job_type: str, sql: str | None = None
    ) -> dict[str, Any]:
        facets: dict[str, Any] = {
            "jobType": {
                "_producer": producer,
                "_schemaURL": "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json",
                "processingType": "BATCH",
                "integration": integration,
                "jobType": job_type,
            }
        }
        if sql:
            facets["sql"] = {
                "_producer": producer,
                "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json",
                "query": sql,
            }
        return {"namespace": ns, "name": name, "facets": facets}

    pg, s3, sf = "postgres://shop-db:5432", "s3://acme-raw", "snowflake://acme.eu-west-1"
    steps = [
        (
            job("airflow", "daily_sales.extract_orders", "AIRFLOW", "TASK"),
            [
                ds(
                    pg,
                    "core.orders",
                    [("id", "BIGINT"), ("amount", "NUMERIC"), ("customer_email", "VARCHAR")],
                )
            ],
            [ds(s3, "orders/")],
        ),
        (
            job("airflow", "daily_sales.extract_refunds", "AIRFLOW", "TASK"),
            [ds(pg, "core.refunds")],
            [ds(s3, "refunds/")],
        ),
        (
            job("spark", "clean_orders", "SPARK", "JOB"),
            [ds(s3, "orders/"), ds(s3, "refunds/")],
            [
                ds(
                    sf,
                    "ANALYTICS.CORE.ORDERS",
                    [("ID", "NUMBER"), ("AMOUNT", "NUMBER"), ("CUSTOMER_EMAIL", "VARCHAR")],
                    {
                        "AMOUNT": [(s3, "orders/", "amount")],
                        "CUSTOMER_EMAIL": [(s3, "orders/", "customer_email")],
                    },
                )
            ],
        ),
        (
            job(
                "dbt",
                "model.acme.fct_daily_revenue",
                "DBT",
                "MODEL",
                "select date_trunc('day', created_at) as day, sum(amount) "
                "from {{ ref('orders') }} group by 1",
            ),
            [ds(sf, "ANALYTICS.CORE.ORDERS")],
            [
                ds(
                    sf,
                    "ANALYTICS.MART.DAILY_REVENUE",
                    [("DAY", "DATE"), ("REVENUE", "NUMBER")],
                    {"REVENUE": [(sf, "ANALYTICS.CORE.ORDERS", "AMOUNT")]},
                )
            ],
        ),
        (
            job("dbt", "model.acme.sales_targets", "DBT", "MODEL"),
            [ds(sf, "ANALYTICS.MART.DAILY_REVENUE")],
            [ds(sf, "ANALYTICS.MART.SALES_TARGETS")],
        ),
    ]
    events = []
    for i, (j, inputs, outputs) in enumerate(steps):
        run = {
            "runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"datamesh-demo-{j['name']}-{t.date()}"))
        }
        begin = t + timedelta(minutes=12 * i)
        base = {"producer": producer, "schemaURL": schema_url, "job": j, "run": run}
        events.append(
            {
                **base,
                "eventType": "START",
                "eventTime": begin.isoformat(),
                "inputs": inputs,
                "outputs": [],
            }
        )
        events.append(
            {
                **base,
                "eventType": "COMPLETE",
                "eventTime": (begin + timedelta(minutes=7)).isoformat(),
                "inputs": inputs,
                "outputs": outputs,
            }
        )
    return events


def steps() -> int:
    """How many steps :func:`load` reports to its ``progress`` callback (for a progress bar)."""
    return len(LOGINS) + len(_datasets()) + 5


async def load(
    app: FastAPI, *, echo: Any = print, progress: Callable[[int], object] = lambda _n: None
) -> bool:
    """Build the demo workspace through the API; returns False if it was already there."""
    async with session_scope(app.state.sessionmaker) as session:
        if await users.by_email(session, LOGINS[0].email) is not None:
            echo("demo workspace already loaded")
            return False
        for login in LOGINS:
            await users.create_user(
                session,
                None,
                UserCreate(
                    email=login.email,
                    password=PASSWORD,
                    role=login.role,
                    name=login.email.split("@")[0].title(),
                    is_platform_admin=login.platform_admin,
                ),
                org_name=login.org,
            )
            progress(1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:

        async def token(email: str) -> dict[str, str]:
            r = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            r.raise_for_status()
            client.cookies.clear()
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        producer = await token("producer@acme.test")
        admin = await token("admin@acme.test")
        viewer = await token("viewer@acme.test")
        ids, shared = [], []
        for body in _datasets():
            r = await client.post("/api/datasets", json=body, headers=producer)
            r.raise_for_status()
            ids.append(r.json()["id"])
            if body["visibility"] != "private":
                shared.append(r.json()["id"])
            progress(1)
        key = (
            await client.post(
                "/api/auth/api-keys",
                json={"name": "airflow-openlineage", "role": "producer"},
                headers=producer,
            )
        ).json()["key"]
        r = await client.post(
            "/api/v1/lineage/batch",
            json=pipeline_events(),
            headers={"Authorization": f"Bearer {key}"},
        )
        r.raise_for_status()
        progress(1)
        await _health(client, key, producer)
        progress(1)
        await _connections(client, admin)
        progress(1)
        for ds_id in shared[:3]:
            (
                await client.post("/api/follows", json={"dataset_id": ds_id}, headers=viewer)
            ).raise_for_status()
        progress(1)
        await client.patch(
            f"/api/datasets/{ids[0]}",
            json={
                "description": "All orders placed in the web shop and the apps, "
                "one row per order. **Source of truth** for revenue reporting."
            },
            headers=admin,
        )
        progress(1)
    echo(f"demo workspace loaded: {len(ids)} datasets, {len(pipeline_events())} lineage events")
    return True


async def _health(client: httpx.AsyncClient, key: str, producer: dict[str, str]) -> None:
    """Something for the Health page and a dashboard: today's dbt run of the sales targets
    failed, three freshness SLAs (one breached by that failure), and the daily sales flow
    mapped on a dashboard with owners and SLAs."""
    now = datetime.now(UTC).replace(microsecond=0)
    events = [e for e in pipeline_events() if e["job"]["name"] == "model.acme.sales_targets"]
    run = {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"datamesh-demo-failed-{now.date()}"))}
    error = {
        "errorMessage": {
            "_producer": events[0]["producer"],
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json",
            "message": "Database Error in model sales_targets: 002003 (42S02): "
            "Object 'ANALYTICS.MART.TARGETS_INPUT' does not exist or not authorized.",
            "programmingLanguage": "PYTHON",
        }
    }
    for kind, minutes_ago in (("START", 40), ("FAIL", 31)):
        event = {
            **events[0],
            "run": {**run, "facets": error} if kind == "FAIL" else run,
            "eventType": kind,
        }
        event["eventTime"] = (now - timedelta(minutes=minutes_ago)).isoformat()
        r = await client.post(
            "/api/v1/lineage", json=event, headers={"Authorization": f"Bearer {key}"}
        )
        r.raise_for_status()
    r = await client.get(
        "/api/lineage/graph",
        params={"node": "dataset:snowflake://acme.eu-west-1:ANALYTICS.MART.DAILY_REVENUE"},
        headers=producer,
    )
    r.raise_for_status()
    graph = r.json()
    by_name = {n["name"]: n for n in graph["nodes"] if not n["restricted"]}
    slas = {
        "ANALYTICS.CORE.ORDERS": {"kind": "max_age", "hours": 48},
        "ANALYTICS.MART.DAILY_REVENUE": {"kind": "daily_by", "at": "07:00"},
        "ANALYTICS.MART.SALES_TARGETS": {"kind": "max_age", "hours": 6},
    }
    for name, sla in slas.items():
        r = await client.put(f"/api/datasets/{by_name[name]['id']}/sla", json=sla, headers=producer)
        r.raise_for_status()
    layer = {n["id"]: 0 for n in graph["nodes"]}  # longest path from a source: left to right
    for _ in graph["nodes"]:
        for e in graph["edges"]:
            layer[e["target"]] = max(layer[e["target"]], layer[e["source"]] + 1)
    rows: dict[int, int] = {}
    ids = {}
    nodes: list[dict[str, Any]] = []
    for n in sorted(graph["nodes"], key=lambda n: (layer[n["id"]], n["name"] or "")):
        if n["restricted"]:
            continue
        row = rows[layer[n["id"]]] = rows.get(layer[n["id"]], -1) + 1
        ids[n["id"]] = f"n{len(nodes) + 1}"
        node: dict[str, Any] = {
            "id": ids[n["id"]],
            "kind": n["kind"],
            "ref": n["id"],
            "position": {"x": 40 + 280 * layer[n["id"]], "y": 60 + 140 * row},
        }
        annotations = {
            "ANALYTICS.MART.DAILY_REVENUE": {
                "owner": "Finance analytics",
                "sla": "daily by 07:00 UTC",
                "note": "Feeds the CFO's revenue dashboard.",
            },
            "ANALYTICS.CORE.ORDERS": {"owner": "Data platform", "sla": "at most 48 h old"},
            "ANALYTICS.MART.SALES_TARGETS": {"owner": "Sales ops", "sla": "at most 6 h old"},
        }.get(n["name"] or "")
        if annotations:
            node["annotations"] = annotations
        nodes.append(node)
    nodes.append(
        {
            "id": "note",
            "kind": "note",
            "text": "Business-critical: page the data platform on-call if this flow fails.",
            "position": {"x": 40, "y": 60 + 140 * (max(rows.values(), default=0) + 1)},
        }
    )
    edges = [
        {"id": f"e{i}", "source": ids[e["source"]], "target": ids[e["target"]]}
        for i, e in enumerate(graph["edges"])
        if e["source"] in ids and e["target"] in ids
    ]
    # Open with as much of the flow in view on a 1280x720 window as stays readable (the canvas
    # is about 690x460 there); Fit shows all of a long flow.
    width = max(n["position"]["x"] for n in nodes) + 300
    height = max(n["position"]["y"] for n in nodes) + 140
    zoom = round(max(0.55, min(1.0, 690 / width, 460 / height)), 2)
    r = await client.post(
        "/api/dashboards",
        json={
            "title": "Daily sales flow",
            "description": "From the shop database to the revenue mart, with owners and SLAs.",
            "visibility": "internal",
            "layout": {
                "nodes": nodes,
                "edges": edges,
                "groups": [],
                "viewport": {"x": 0, "y": 0, "zoom": zoom},
            },
        },
        headers=producer,
    )
    r.raise_for_status()


# Org-wide Connect profiles (references only: the values live in each user's environment) and an
# API node watching the server's own health endpoint, so "test connection" works live.
PROFILES = [
    {
        "name": "Acme Snowflake",
        "platform": "snowflake",
        "settings": {
            "account": "acme-eu",
            "user": "ANALYST",
            "role": "ANALYST",
            "warehouse": "ANALYTICS_WH",
        },
        "secrets": {"password": "env:SNOWFLAKE_PASSWORD"},
    },
    {
        "name": "Acme Databricks",
        "platform": "databricks",
        "settings": {
            "workspace_host": "acme.cloud.databricks.com",
            "http_path": "/sql/1.0/warehouses/abc123",
            "catalog": "main",
        },
        "secrets": {"token": "env:DATABRICKS_TOKEN"},
    },
    {
        "name": "Acme BigQuery",
        "platform": "bigquery",
        "settings": {"project": "acme-prod", "location": "EU", "credentials_method": "adc"},
        "secrets": {},
    },
    {
        "name": "Acme Redshift",
        "platform": "redshift",
        "settings": {
            "host": "acme-wh.abc123.eu-west-1.redshift.amazonaws.com",
            "port": 5439,
            "database": "dev",
            "user": "analyst",
        },
        "secrets": {"password": "vault:secret/redshift/analyst#password"},
    },
]


async def _connections(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    import os

    for profile in PROFILES:
        r = await client.post(
            "/api/platform-profiles",
            json={**profile, "scope": "org", "is_default": True},
            headers=admin,
        )
        r.raise_for_status()
    port = os.environ.get("DATAMESH_PORT", "8000")
    node = {
        "name": "DataMesh API (self)",
        "type": "http_api",
        "tags": ["demo"],
        "config": {"url": f"http://127.0.0.1:{port}/api/health", "expected_status": 200},
        "check_interval_seconds": 300,
    }
    (await client.post("/api/nodes", json=node, headers=admin)).raise_for_status()
