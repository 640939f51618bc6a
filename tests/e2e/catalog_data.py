"""Realistic datasets the browser tests publish through the API (also a dev-server seeder)."""

from __future__ import annotations

from typing import Any

import httpx

DATASETS: list[dict[str, Any]] = [
    {
        "namespace": "snowflake://acme.eu-west-1",
        "name": "ANALYTICS.PUBLIC.ORDERS",
        "display_name": "Orders",
        "platform": "snowflake",
        "domain": "sales",
        "tags": ["gold", "finance"],
        "visibility": "public",
        "description": "Every customer order since 2019, one row per order, refreshed hourly "
        "from the checkout service.",
        "source": {"database": "ANALYTICS", "schema": "PUBLIC", "table": "ORDERS"},
        "fields": [
            {"name": "order_id", "type": "NUMBER", "description": "Primary key."},
            {"name": "customer_id", "type": "NUMBER", "description": "Who ordered."},
            {"name": "email", "type": "VARCHAR", "description": "Contact email.", "tags": ["pii"]},
            {"name": "amount_eur", "type": "NUMBER(12,2)", "description": "Total in euros."},
            {"name": "ordered_at", "type": "TIMESTAMP_TZ", "description": "When it was placed."},
        ],
    },
    {
        "namespace": "snowflake://acme.eu-west-1",
        "name": "ANALYTICS.PUBLIC.ORDERS_ARCHIVE",
        "display_name": "Orders archive",
        "platform": "snowflake",
        "domain": "sales",
        "tags": ["archive"],
        "visibility": "internal",
        "description": "Orders older than seven years, kept for audits.",
        "source": {"database": "ANALYTICS", "schema": "PUBLIC", "table": "ORDERS_ARCHIVE"},
    },
    {
        "namespace": "bigquery://acme-marketing",
        "name": "marketing.web_sessions",
        "display_name": "Web sessions",
        "platform": "bigquery",
        "domain": "marketing",
        "tags": ["clickstream", "gold"],
        "visibility": "public",
        "description": "Sessionised website visits with campaign attribution; joins to orders on "
        "customer id.",
        "source": {"database": "acme-marketing", "schema": "marketing", "table": "web_sessions"},
    },
    {
        "namespace": "databricks://acme.cloud.databricks.com",
        "name": "main.finance.revenue_daily",
        "display_name": "Daily revenue",
        "platform": "databricks",
        "domain": "finance",
        "tags": ["finance", "kpi"],
        "visibility": "internal",
        "description": "Revenue per day and country, the number the board sees.",
        "source": {"database": "main", "schema": "finance", "table": "revenue_daily"},
    },
    {
        "namespace": "postgresql://crm-db.internal:5432",
        "name": "crm.public.customers",
        "display_name": "Customers",
        "platform": "postgresql",
        "domain": "sales",
        "tags": ["pii", "crm"],
        "visibility": "private",
        "description": "The CRM's customer master: names, addresses and consent flags.",
        "source": {"database": "crm", "schema": "public", "table": "customers"},
    },
    {
        "namespace": "kafka://events.acme.internal:9092",
        "name": "payments.authorised",
        "display_name": "Payment authorisations",
        "platform": "kafka",
        "domain": "payments",
        "tags": ["streaming"],
        "visibility": "internal",
        "description": "One event per card authorisation from the payment gateway.",
    },
    {
        "namespace": "s3://acme-datalake",
        "name": "raw/inventory/snapshots",
        "display_name": "Inventory snapshots",
        "platform": "s3",
        "domain": "supply-chain",
        "tags": ["raw", "parquet"],
        "visibility": "internal",
        "description": "Nightly Parquet snapshots of warehouse stock levels.",
        "source": {"path": "s3://acme-datalake/raw/inventory/snapshots/"},
    },
    {
        "namespace": "redshift://acme-warehouse.eu-west-1",
        "name": "dev.logistics.shipments",
        "display_name": "Shipments",
        "platform": "redshift",
        "domain": "supply-chain",
        "tags": ["logistics"],
        "visibility": "public",
        "description": "Parcels handed to carriers, with tracking numbers and delivery times; "
        "one row per shipment of an order.",
        "source": {"database": "dev", "schema": "logistics", "table": "shipments"},
    },
]


def publish(
    base_url: str, api_key: str, datasets: list[dict[str, Any]] = DATASETS
) -> list[dict[str, Any]]:
    """Publish datasets with an API key; returns the created profiles."""
    out = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}) as c:
        for ds in datasets:
            r = c.post("/api/datasets", json=ds)
            r.raise_for_status()
            out.append(r.json())
    return out


def admin_api_key(base_url: str, email: str, password: str, name: str = "seed") -> str:
    """Sign in with a password and create an admin API key (for seeding)."""
    with httpx.Client(base_url=base_url) as c:
        token = c.post("/api/auth/login", json={"email": email, "password": password})
        token.raise_for_status()
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        r = c.post("/api/auth/api-keys", json={"name": name, "role": "admin"}, headers=auth)
        r.raise_for_status()
        return str(r.json()["key"])


if __name__ == "__main__":  # pragma: no cover - developer convenience
    import sys

    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    key = admin_api_key(base, "admin@acme.test", "admin-pass-123")
    print(f"published {len(publish(base, key))} datasets")
