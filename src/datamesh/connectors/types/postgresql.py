"""PostgreSQL (any server speaking the PostgreSQL protocol, 10+): settings and a real test.

The test connects with asyncpg to the policy-checked address, runs ``SELECT 1`` and reads the
server version: that proves the network path, TLS mode, credentials and database at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg

from datamesh.connectors.registry import ConnectorType, SecretField, TestOutcome
from datamesh.connectors.testers import describe_error, elapsed_ms, failure
from datamesh.kit.ssrf import OutboundError, OutboundPolicy

DEFAULT_PORT = 5432
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# Host names, IPv4 and bare IPv6 literals; no "/" so asyncpg never treats it as a Unix socket.
HOST_PATTERN = r"^[A-Za-z0-9_]([A-Za-z0-9_.:-]{0,252})$|^::?[0-9A-Fa-f:.]*$"

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "PostgreSQL connection",
    "type": "object",
    "additionalProperties": False,
    "required": ["host", "database", "user"],
    "properties": {
        "host": {
            "type": "string",
            "title": "Host",
            "description": "Host name or IP address of the server.",
            "minLength": 1,
            "maxLength": 253,
            "pattern": HOST_PATTERN,
            "x-errors": {"pattern": "must be a host name or IP address"},
        },
        "port": {
            "type": "integer",
            "title": "Port",
            "minimum": 1,
            "maximum": 65535,
            "default": DEFAULT_PORT,
        },
        "database": {"type": "string", "title": "Database", "minLength": 1, "maxLength": 128},
        "user": {"type": "string", "title": "User", "minLength": 1, "maxLength": 128},
        "sslmode": {
            "enum": list(SSL_MODES),
            "title": "SSL mode",
            "description": "As libpq's sslmode; verify-* need the CA in ~/.postgresql/root.crt "
            "or PGSSLROOTCERT on the DataMesh server.",
            "default": "prefer",
        },
    },
}


@contextlib.asynccontextmanager
async def _connection(
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    connect_timeout: float,
    policy: OutboundPolicy,
) -> AsyncIterator[Any]:
    """A connection to the configured server, through the SSRF guard."""
    host = str(config["host"])
    port = int(config.get("port", DEFAULT_PORT))
    sslmode = str(config.get("sslmode", "prefer"))
    addresses = await policy.check_host(host, port)
    conn = await asyncpg.connect(
        host=host if sslmode == "verify-full" else str(addresses[0]),
        port=port,
        user=str(config["user"]),
        database=str(config["database"]),
        password=secrets.get("password", ""),  # never PGPASSWORD of the DataMesh server
        ssl=sslmode,
        timeout=connect_timeout,
        server_settings={"application_name": "datamesh-schema-refresh"},
    )
    try:
        yield conn
    finally:
        await conn.close(timeout=connect_timeout)


async def read_columns(
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - a budget enforced inside
    policy: OutboundPolicy,
    schema: str,
    table: str,
) -> list[dict[str, str]]:
    """Columns of ``schema.table`` from the server's catalog, in table order, with comments."""
    async with asyncio.timeout(timeout), _connection(config, secrets, timeout, policy) as conn:
        rows = await conn.fetch(
            "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, "
            "coalesce(col_description(a.attrelid, a.attnum), '') AS description "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            schema,
            table,
        )
    return [{"name": r["name"], "type": r["type"], "description": r["description"]} for r in rows]


async def check_connection(
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - the tester protocol: a budget enforced inside
    policy: OutboundPolicy,
) -> TestOutcome:
    """Connect, ``SELECT 1``, ``SHOW server_version``; report the version or a clear reason."""
    start = time.perf_counter()
    host = str(config["host"])
    port = int(config.get("port", DEFAULT_PORT))
    sslmode = str(config.get("sslmode", "prefer"))
    target = f"{host}:{port}"
    try:
        async with asyncio.timeout(timeout):
            addresses = await policy.check_host(host, port)
            # Connect to the checked address (no second DNS lookup), except when the certificate
            # must match the host name: then TLS verification itself pins the server.
            connect_host = host if sslmode == "verify-full" else str(addresses[0])
            remaining = max(timeout - (time.perf_counter() - start), 0.1)
            conn = await asyncpg.connect(
                host=connect_host,
                port=port,
                user=str(config["user"]),
                database=str(config["database"]),
                # "" (not None): asyncpg must not fall back to PGPASSWORD or ~/.pgpass of the
                # DataMesh server and send those credentials to a user-chosen host.
                password=secrets.get("password", ""),
                ssl=sslmode,
                timeout=remaining,
                server_settings={"application_name": "datamesh-connection-test"},
            )
            try:
                await conn.fetchval("SELECT 1")
                version = str(await conn.fetchval("SHOW server_version"))
                ssl_in_use = await _ssl_in_use(conn)
            finally:
                await conn.close(timeout=max(timeout - (time.perf_counter() - start), 0.1))
    except asyncpg.PostgresError as exc:
        details: dict[str, Any] = {"sqlstate": getattr(exc, "sqlstate", None)}
        return failure(str(exc).strip() or type(exc).__name__, start, **details)
    except (OSError, TimeoutError, OutboundError, asyncpg.InterfaceError) as exc:
        return failure(describe_error(exc, target=target, timeout=timeout), start)
    latency = elapsed_ms(start)
    details = {"server_version": version, "host": host, "port": port}
    if isinstance(ssl_in_use, bool):
        details["ssl"] = ssl_in_use
    return TestOutcome(
        ok=True, message=f"PostgreSQL {version.split()[0]}", latency_ms=latency, details=details
    )


async def _ssl_in_use(conn: Any) -> bool | None:
    """Whether this session is encrypted, from the server's view (None when it cannot say)."""
    try:
        value = await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    except asyncpg.PostgresError:  # compatible servers without pg_stat_ssl
        return None
    return value if isinstance(value, bool) else None


CONNECTOR = ConnectorType(
    type="postgresql",
    title="PostgreSQL",
    description="PostgreSQL and compatible servers, reached over TCP with asyncpg.",
    capabilities={"test_connection": True, "connect_snippets": True, "schema_refresh": True},
    config_schema=CONFIG_SCHEMA,
    secret_fields=(SecretField("password", "Password of the user (omit for trust/cert auth)."),),
    tester=check_connection,
)
