"""Google BigQuery: the settings Connect needs for snippets. No test: no BigQuery client is
shipped, so the type does not pretend to test."""

from __future__ import annotations

from typing import Any

from datamesh.connectors.registry import ConnectorType, SecretField

CREDENTIALS_METHODS = ("adc", "service_account_file")

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "BigQuery connection",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "project": {
            "type": "string",
            "title": "Project id",
            "description": "Google Cloud project id (e.g. my-project or example.com:my-project).",
            "pattern": r"^([a-z0-9][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$",
            "x-errors": {"pattern": "must be a Google Cloud project id such as my-project-123"},
        },
        "location": {
            "type": "string",
            "title": "Location",
            "description": "Dataset location, e.g. US, EU or europe-west1.",
            "pattern": r"^[A-Za-z0-9-]{2,40}$",
            "x-errors": {"pattern": "must be a location such as US, EU or europe-west1"},
        },
        "credentials_method": {
            "enum": list(CREDENTIALS_METHODS),
            "title": "Credentials",
            "description": "adc: Application Default Credentials; service_account_file: the "
            "key referenced by the credentials_file secret.",
        },
    },
}

CONNECTOR = ConnectorType(
    type="bigquery",
    title="BigQuery",
    description="Google BigQuery projects; Connect generates Python, JDBC, PySpark and SQL "
    "snippets.",
    capabilities={"test_connection": False, "connect_snippets": True, "schema_refresh": False},
    config_schema=CONFIG_SCHEMA,
    secret_fields=(
        SecretField(
            "credentials_file",
            "Service-account key: a file: reference to the JSON key (or a reference to its JSON).",
        ),
    ),
)
