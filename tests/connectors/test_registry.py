"""The connector registry: built-in types, entry-point plugins, config and secret validation."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from datamesh.connectors import registry
from datamesh.connectors.registry import (
    ConnectorType,
    FieldError,
    UnknownConnector,
    apply_defaults,
    validate_config,
    validate_secrets,
)
from datamesh.connectors.testers import TestNotSupported, run_test
from datamesh.kit.ssrf import OutboundPolicy

BUILTINS = {"postgresql", "http_api", "snowflake", "databricks", "bigquery", "redshift"}
SNIPPET_ONLY = {"snowflake", "databricks", "bigquery", "redshift"}


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    registry.reload()
    yield
    registry.reload()


def _paths(errors: list[FieldError]) -> list[list[str | int]]:
    return [e.path for e in errors]


# -- the built-in types --------------------------------------------------------------------------
def test_the_six_builtin_types_are_registered_in_id_order() -> None:
    ids = [t.type for t in registry.all_types()]
    assert set(ids) >= BUILTINS
    assert ids == sorted(ids)
    assert registry.get("postgresql").title == "PostgreSQL"


def test_unknown_type_raises() -> None:
    with pytest.raises(UnknownConnector) as info:
        registry.get("oracle")
    assert info.value.type_id == "oracle"
    assert "oracle" in str(info.value)


@pytest.mark.parametrize("type_id", sorted(BUILTINS))
def test_every_builtin_schema_is_a_closed_draft_2020_12_object(type_id: str) -> None:
    ctype = registry.get(type_id)
    Draft202012Validator.check_schema(ctype.config_schema)
    assert ctype.config_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert ctype.config_schema["type"] == "object"
    assert ctype.config_schema["additionalProperties"] is False
    assert set(ctype.capabilities) == {
        "test_connection",
        "connect_snippets",
        "schema_refresh",
        "crawl",
    }
    assert ctype.capabilities["connect_snippets"] is True
    assert ctype.secret_fields
    assert all(s.description for s in ctype.secret_fields)


@pytest.mark.parametrize("type_id", sorted(SNIPPET_ONLY))
def test_warehouse_types_never_pretend_to_test(type_id: str) -> None:
    ctype = registry.get(type_id)
    assert ctype.capabilities["test_connection"] is False
    assert ctype.tester is None


async def test_running_a_test_on_a_type_without_tester_is_refused() -> None:
    with pytest.raises(TestNotSupported):
        await run_test(
            registry.get("snowflake"),
            {"account": "myorg-acct"},
            {},
            timeout=1,
            policy=OutboundPolicy(),
        )


def test_testable_types_declare_it() -> None:
    for type_id in ("postgresql", "http_api"):
        ctype = registry.get(type_id)
        assert ctype.capabilities["test_connection"] is True
        assert ctype.tester is not None


def test_expected_secret_fields() -> None:
    names = {t.type: [s.name for s in t.secret_fields] for t in registry.all_types()}
    assert names["postgresql"] == ["password"]
    assert names["http_api"] == ["token"]
    assert names["snowflake"][:2] == ["password", "private_key"]
    assert names["databricks"] == ["token"]
    assert names["bigquery"] == ["credentials_file"]
    assert names["redshift"] == ["password"]


# -- ConnectorType's own invariants ---------------------------------------------------------------
def test_a_type_cannot_claim_a_test_it_cannot_run() -> None:
    with pytest.raises(ValueError, match="test_connection"):
        ConnectorType(
            type="liar",
            title="Liar",
            description="claims a test",
            capabilities={"test_connection": True},
            config_schema={"type": "object", "additionalProperties": False},
        )


def test_a_type_needs_a_closed_schema() -> None:
    with pytest.raises(ValueError, match="closed object schema"):
        ConnectorType(
            type="open_one",
            title="Open",
            description="accepts anything",
            capabilities={},
            config_schema={"type": "object"},
        )


# -- validate_config -----------------------------------------------------------------------------
def test_valid_postgresql_config() -> None:
    config = {"host": "db.internal", "port": 5433, "database": "app", "user": "bob"}
    assert validate_config("postgresql", config) == []
    assert validate_config("postgresql", {**config, "sslmode": "verify-full"}) == []
    assert validate_config("postgresql", {**config, "host": "::1"}) == []


def test_all_errors_are_reported_with_their_field_paths() -> None:
    errors = validate_config(
        "postgresql", {"port": "5432", "sslmode": "sometimes", "password": "x", "extra": 1}
    )
    assert _paths(errors) == [
        ["database"],
        ["extra"],
        ["host"],
        ["password"],
        ["port"],
        ["sslmode"],
        ["user"],
    ]
    by_path = {tuple(e.path): e.message for e in errors}
    assert by_path[("host",)] == "is required"
    assert by_path[("extra",)] == "is not a known field"
    assert by_path[("port",)] == "must be an integer"
    assert by_path[("sslmode",)].startswith("must be one of: disable")


def test_port_range_and_socket_paths_are_refused() -> None:
    base = {"database": "app", "user": "bob"}
    errors = validate_config("postgresql", {**base, "host": "/var/run/postgresql", "port": 70000})
    assert {tuple(e.path): e.message for e in errors} == {
        ("host",): "must be a host name or IP address",
        ("port",): "must be <= 65535",
    }


def test_non_object_config() -> None:
    assert validate_config("http_api", ["http://x"]) == [FieldError([], "must be an object")]


def test_http_api_config_rules() -> None:
    assert validate_config("http_api", {"url": "https://api.example.com/health"}) == []
    assert validate_config("http_api", {"url": "http://10.0.0.5:8080/", "method": "HEAD"}) == []
    assert (
        validate_config("http_api", {"url": "https://x.test/", "expected_status": [200, 204]}) == []
    )
    errors = validate_config(
        "http_api",
        {
            "url": "ftp://files.example.com/",
            "method": "DELETE",
            "expected_status": "200",
            "headers": {"Accept": "text/plain", "X-Multi": "a\r\nInjected: 1"},
        },
    )
    assert _paths(errors) == [["expected_status"], ["headers", "X-Multi"], ["method"], ["url"]]


def test_http_api_refuses_credentials_in_url_and_headers() -> None:
    errors = validate_config(
        "http_api",
        {
            "url": "https://user:pw@api.example.com/",
            "headers": {"Authorization": "Bearer x", "x-api-key": "k", "Cookie": "s=1"},
        },
    )
    assert _paths(errors) == [
        ["headers", "Authorization"],
        ["headers", "Cookie"],
        ["headers", "x-api-key"],
        ["url"],
    ]
    header_error = next(e for e in errors if e.path == ["headers", "Authorization"])
    assert "token secret" in header_error.message
    assert "Bearer x" not in header_error.message


def test_warehouse_configs() -> None:
    assert (
        validate_config(
            "snowflake",
            {
                "account": "myorg-acct",
                "user": "bob",
                "role": "R",
                "warehouse": "WH",
                "authenticator": "externalbrowser",
            },
        )
        == []
    )
    assert _paths(validate_config("snowflake", {"account": "x.snowflakecomputing.com"})) == [
        ["account"]
    ]
    assert (
        validate_config(
            "databricks",
            {
                "workspace_host": "adb-1.2.azuredatabricks.net",
                "http_path": "/sql/1.0/warehouses/ab",
                "catalog": "main",
            },
        )
        == []
    )
    assert _paths(validate_config("databricks", {"workspace_host": "https://adb-1.net"})) == [
        ["workspace_host"]
    ]
    assert (
        validate_config(
            "bigquery", {"project": "my-project-1", "location": "EU", "credentials_method": "adc"}
        )
        == []
    )
    assert (
        validate_config(
            "redshift",
            {"host": "c.abc.us-east-1.redshift.amazonaws.com", "database": "dev", "user": "bob"},
        )
        == []
    )
    assert (
        validate_config(
            "redshift",
            {
                "workgroup": "wg-one",
                "database": "dev",
                "iam": True,
                "region": "us-east-1",
                "account_id": "123456789012",
            },
        )
        == []
    )


def test_redshift_needs_host_or_workgroup_not_both() -> None:
    neither = validate_config("redshift", {"database": "dev"})
    both = validate_config("redshift", {"database": "dev", "host": "h.example", "workgroup": "wg1"})
    for errors in (neither, both):
        assert errors == [
            FieldError(
                [], "set either host (provisioned cluster) or workgroup (Serverless), not both"
            )
        ]


def test_apply_defaults_fills_top_level_defaults_only_where_missing() -> None:
    config = apply_defaults("postgresql", {"host": "h", "database": "d", "user": "u"})
    assert config["port"] == 5432
    assert config["sslmode"] == "prefer"
    assert apply_defaults("postgresql", {"port": 6543})["port"] == 6543
    http = apply_defaults("http_api", {"url": "https://x.test"})
    assert (http["method"], http["expected_status"]) == ("GET", 200)


# -- validate_secrets ----------------------------------------------------------------------------
def test_secret_references_are_accepted() -> None:
    assert validate_secrets("postgresql", {"password": "env:PGPASS"}) == []
    assert validate_secrets("postgresql", {"password": "file:/run/secrets/pg"}) == []
    assert validate_secrets("postgresql", {"password": "vault:secret/db#password"}) == []
    assert validate_secrets("postgresql", {}) == []


def test_raw_values_and_unknown_fields_are_refused_without_echo() -> None:
    raw = "Sup3r-Secret-Raw"
    errors = validate_secrets("postgresql", {"password": raw, "token": "env:X", "pw": 42})
    assert _paths(errors) == [["password"], ["token"], ["pw"]]
    assert "secret reference" in errors[0].message
    assert "is not a secret of postgresql" in errors[1].message
    for error in errors:
        assert raw not in error.message


def test_secrets_must_be_an_object() -> None:
    assert _paths(validate_secrets("http_api", "env:TOKEN")) == [[]]


# -- entry points --------------------------------------------------------------------------------
def _install_plugin(root: Path, module: str, entry_points: str) -> None:
    """A real installed distribution: a module plus a .dist-info with entry_points.txt."""
    dist = root / "datamesh_example_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: datamesh-example-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (root / f"{module}.py").write_text(
        textwrap.dedent(
            """
            from datamesh.connectors.registry import ConnectorType, SecretField

            CONNECTOR = ConnectorType(
                type="example_db",
                title="Example DB",
                description="A plugin type.",
                capabilities={"connect_snippets": True},
                config_schema={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["dsn_name"],
                    "properties": {"dsn_name": {"type": "string"}},
                },
                secret_fields=(SecretField("password", "Password."),),
            )
            DUPLICATE = ConnectorType(
                type="postgresql",
                title="Impostor",
                description="Tries to replace the built-in.",
                capabilities={},
                config_schema={"type": "object", "additionalProperties": False},
            )
            NOT_A_TYPE = object()
            """
        )
    )


def test_plugins_register_through_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    module = "dm_example_plugin_ok"
    _install_plugin(
        tmp_path,
        module,
        f"""
        [datamesh.connectors]
        example_db = {module}:CONNECTOR
        impostor = {module}:DUPLICATE
        junk = {module}:NOT_A_TYPE
        broken = dm_no_such_module_anywhere:CONNECTOR
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    registry.reload()

    plugin = registry.get("example_db")
    assert plugin.title == "Example DB"
    assert plugin.capabilities["test_connection"] is False
    assert _paths(validate_config(plugin, {})) == [["dsn_name"]]
    # A plugin cannot replace a built-in, and broken plugins do not take the registry down.
    assert registry.get("postgresql").title == "PostgreSQL"
    assert BUILTINS | {"example_db"} <= {t.type for t in registry.all_types()}
    assert "broken" in caplog.text
    assert "already registered" in caplog.text
