"""Snowflake: the settings Connect needs for snippets. No test: DataMesh ships no Snowflake
driver, and a type never claims a test it cannot really run."""

from __future__ import annotations

from typing import Any

from datamesh.connectors.registry import ConnectorType, SecretField

AUTHENTICATORS = (
    "snowflake",
    "externalbrowser",
    "snowflake_jwt",
    "oauth",
    "username_password_mfa",
    "programmatic_access_token",
)
_NAME = {"type": "string", "minLength": 1, "maxLength": 255}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Snowflake connection",
    "type": "object",
    "additionalProperties": False,
    "required": ["account"],
    "properties": {
        "account": {
            "type": "string",
            "title": "Account identifier",
            "description": "e.g. myorg-myaccount, without .snowflakecomputing.com",
            "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$",
            "not": {"pattern": r"\.snowflakecomputing\.com$"},
            "x-errors": {
                "pattern": "must be an account identifier such as myorg-myaccount",
                "not": "give the account identifier only, without .snowflakecomputing.com",
            },
        },
        "user": {**_NAME, "title": "User"},
        "role": {**_NAME, "title": "Role"},
        "warehouse": {**_NAME, "title": "Warehouse"},
        "authenticator": {
            "title": "Authenticator",
            "description": "One of the connector's authenticators, or an Okta URL.",
            "default": "snowflake",
            "anyOf": [
                {"enum": list(AUTHENTICATORS)},
                {"type": "string", "maxLength": 2048, "pattern": r"^https://[^\s/@]+\S*$"},
            ],
            "x-errors": {
                "anyOf": "must be one of " + ", ".join(AUTHENTICATORS) + " or an https:// Okta URL"
            },
        },
    },
}

CONNECTOR = ConnectorType(
    type="snowflake",
    title="Snowflake",
    description="Snowflake accounts; Connect generates Python, JDBC, PySpark and SQL snippets.",
    capabilities={"test_connection": False, "connect_snippets": True, "schema_refresh": False},
    config_schema=CONFIG_SCHEMA,
    secret_fields=(
        SecretField("password", "Password (authenticator snowflake or username_password_mfa)."),
        SecretField("private_key", "PEM private key for key-pair (snowflake_jwt) auth."),
        SecretField("private_key_passphrase", "Passphrase of an encrypted private key."),
    ),
)
