"""Databricks (SQL warehouses and clusters): the settings Connect needs for snippets.
No test: no Databricks driver is shipped, so the type does not pretend to test."""

from __future__ import annotations

from typing import Any

from datamesh.connectors.registry import ConnectorType, SecretField

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_PATTERN = rf"^{_LABEL}(\.{_LABEL})+$"

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Databricks connection",
    "type": "object",
    "additionalProperties": False,
    "required": ["workspace_host"],
    "properties": {
        "workspace_host": {
            "type": "string",
            "title": "Workspace host",
            "description": "e.g. adb-1234567890123456.7.azuredatabricks.net (no https://)",
            "maxLength": 253,
            "pattern": HOSTNAME_PATTERN,
            "x-errors": {"pattern": "must be the workspace host name, without https://"},
        },
        "http_path": {
            "type": "string",
            "title": "HTTP path",
            "description": "Of the SQL warehouse or cluster, e.g. /sql/1.0/warehouses/abc123",
            "maxLength": 512,
            "pattern": r"^/[A-Za-z0-9/_.=-]+$",
            "x-errors": {"pattern": "must be a path starting with /, e.g. /sql/1.0/warehouses/…"},
        },
        "catalog": {
            "type": "string",
            "title": "Catalog",
            "description": "Unity Catalog catalog holding the datasets.",
            "minLength": 1,
            "maxLength": 255,
        },
    },
}

CONNECTOR = ConnectorType(
    type="databricks",
    title="Databricks",
    description="Databricks workspaces (Unity Catalog); Connect generates Python, JDBC, PySpark "
    "and SQL snippets.",
    capabilities={"test_connection": False, "connect_snippets": True, "schema_refresh": False},
    config_schema=CONFIG_SCHEMA,
    secret_fields=(SecretField("token", "Personal access token or service-principal token."),),
)
