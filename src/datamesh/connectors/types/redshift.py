"""Amazon Redshift (provisioned clusters and Serverless): the settings Connect needs for
snippets, and crawls through the PostgreSQL crawler (Redshift speaks the same protocol and keeps
the same catalog tables). No test yet: it would need IAM credential handling, and a type never
pretends."""

from __future__ import annotations

from typing import Any

from datamesh.connectors.registry import ConnectorType, SecretField
from datamesh.connectors.types.postgresql import CRAWL_PROPERTIES, HOST_PATTERN, crawler_for

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Redshift connection",
    "type": "object",
    "additionalProperties": False,
    "required": ["database"],
    "oneOf": [{"required": ["host"]}, {"required": ["workgroup"]}],
    "x-errors": {
        "oneOf": "set either host (provisioned cluster) or workgroup (Serverless), not both"
    },
    "properties": {
        "host": {
            "type": "string",
            "title": "Host",
            "description": "Cluster endpoint, e.g. examplecluster.abc123.us-west-2.redshift"
            ".amazonaws.com",
            "maxLength": 253,
            "pattern": HOST_PATTERN,
            "x-errors": {"pattern": "must be a host name or IP address"},
        },
        "workgroup": {
            "type": "string",
            "title": "Serverless workgroup",
            "pattern": r"^[a-z0-9-]{3,64}$",
            "x-errors": {"pattern": "must be a workgroup name (a-z, 0-9, -; 3-64 characters)"},
        },
        "port": {
            "type": "integer",
            "title": "Port",
            "minimum": 1,
            "maximum": 65535,
            "default": 5439,
        },
        "database": {"type": "string", "title": "Database", "minLength": 1, "maxLength": 127},
        "user": {"type": "string", "title": "User", "minLength": 1, "maxLength": 128},
        "iam": {
            "type": "boolean",
            "title": "IAM authentication",
            "description": "Use AWS credentials from the default chain instead of a password.",
            "default": False,
        },
        "region": {
            "type": "string",
            "title": "AWS region",
            "pattern": r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
            "x-errors": {"pattern": "must be an AWS region such as us-east-1"},
        },
        "account_id": {
            "type": "string",
            "title": "AWS account id",
            "description": "Needed with a workgroup to build the Serverless endpoint.",
            "pattern": r"^[0-9]{12}$",
            "x-errors": {"pattern": "must be a 12-digit AWS account id"},
        },
        **CRAWL_PROPERTIES,
    },
}

CONNECTOR = ConnectorType(
    type="redshift",
    title="Amazon Redshift",
    description="Redshift clusters and Serverless workgroups; Connect generates Python, JDBC, "
    "PySpark and SQL snippets.",
    capabilities={
        "test_connection": False,
        "connect_snippets": True,
        "schema_refresh": False,
        "crawl": True,
    },
    config_schema=CONFIG_SCHEMA,
    secret_fields=(SecretField("password", "Database password (when not using IAM)."),),
    crawler=crawler_for("redshift"),
)
