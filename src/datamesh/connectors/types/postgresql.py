"""PostgreSQL (any server speaking the PostgreSQL protocol, 10+): settings and a real test.

The test connects with asyncpg to the policy-checked address, runs ``SELECT 1`` and reads the
server version: that proves the network path, TLS mode, credentials and database at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg

from datamesh.connectors.registry import (
    ConnectorType,
    CrawledColumn,
    CrawledObject,
    Crawler,
    CrawlRefused,
    CrawlResult,
    Progress,
    SecretField,
    TestOutcome,
)
from datamesh.connectors.testers import describe_error, elapsed_ms, failure
from datamesh.kit.ssrf import OutboundError, OutboundPolicy

DEFAULT_PORT = 5432
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# Host names, IPv4 and bare IPv6 literals; no "/" so asyncpg never treats it as a Unix socket.
HOST_PATTERN = r"^[A-Za-z0-9_]([A-Za-z0-9_.:-]{0,252})$|^::?[0-9A-Fa-f:.]*$"

_PATTERNS = {
    "type": "array",
    "maxItems": 100,
    "items": {"type": "string", "minLength": 1, "maxLength": 200},
}
# Settings every crawlable PostgreSQL-protocol type takes (Redshift too).
CRAWL_PROPERTIES: dict[str, Any] = {
    "include_schemas": {
        **_PATTERNS,
        "title": "Schemas to crawl",
        "description": "Patterns (* and ?, case-sensitive); empty: every schema you may read.",
    },
    "exclude_schemas": {
        **_PATTERNS,
        "title": "Schemas to skip",
        "description": "Patterns (* and ?, case-sensitive) of schemas never crawled.",
    },
}

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
        **CRAWL_PROPERTIES,
    },
}


@contextlib.asynccontextmanager
async def _connection(
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    connect_timeout: float,
    policy: OutboundPolicy,
    application_name: str = "datamesh-schema-refresh",
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
        server_settings={"application_name": application_name},
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


# -- crawl ---------------------------------------------------------------------------------------
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", "pg_internal", "catalog_history")
_KINDS = {
    "r": "table",
    "p": "partitioned_table",
    "v": "view",
    "m": "materialized_view",
    "f": "foreign_table",
}


def _schemas_sql() -> str:
    excluded = ", ".join(f"'{s}'" for s in SYSTEM_SCHEMAS)
    return (
        "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(oid, 'USAGE') "
        f"AND nspname NOT IN ({excluded}) AND nspname NOT LIKE 'pg\\_toast%' "
        "AND nspname NOT LIKE 'pg\\_temp\\_%' ORDER BY nspname"
    )


def _relations_sql(redshift: bool) -> str:
    # From the catalog's page count (as of the last VACUUM/ANALYZE), like the row estimate:
    # pg_total_relation_size would stat every file of every relation.
    size = (
        "NULL::bigint"
        if redshift
        else "CASE WHEN c.relkind IN ('r','m') THEN "
        "c.relpages::bigint * current_setting('block_size')::bigint END"
    )
    not_partition = "" if redshift else " AND NOT c.relispartition"
    return (
        "SELECT c.relname AS name, c.relkind::text AS kind, "
        "coalesce(d.description, '') AS comment, "
        "CASE WHEN c.relkind IN ('r','m','p') AND c.reltuples >= 0 "
        "THEN c.reltuples::bigint END AS row_estimate, "
        f"{size} AS size_bytes, "
        "CASE WHEN c.relkind IN ('v','m') THEN pg_get_viewdef(c.oid) END AS definition "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_description d ON d.objoid = c.oid "
        "AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 "
        f"WHERE n.nspname = $1 AND c.relkind IN ('r','p','v','m','f'){not_partition} "
        "ORDER BY c.relname"
    )


def _columns_sql(redshift: bool) -> str:
    not_partition = "" if redshift else " AND NOT c.relispartition"
    return (
        "SELECT c.relname AS rel, a.attname AS name, "
        "format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable, "
        "pg_get_expr(d.adbin, d.adrelid) AS default, a.attnum AS position, "
        "coalesce(ds.description, '') AS comment "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "LEFT JOIN pg_description ds ON ds.objoid = c.oid "
        "AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = a.attnum "
        f"WHERE n.nspname = $1 AND c.relkind IN ('r','p','v','m','f'){not_partition} "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
    )


_KEYS_SQL = (
    "SELECT c.relname AS rel, con.contype::text AS kind, con.conname AS name, "
    "ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord) "
    "      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num "
    "      ORDER BY k.ord) AS columns, "
    "fn.nspname AS ref_schema, fc.relname AS ref_table, "
    "ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord) "
    "      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num "
    "      ORDER BY k.ord) AS ref_columns "
    "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_class fc ON fc.oid = con.confrelid "
    "LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace "
    "WHERE n.nspname = $1 AND con.contype IN ('p','f') ORDER BY c.relname, con.conname"
)


def schema_selected(name: str, config: Mapping[str, Any]) -> bool:
    include = list(config.get("include_schemas") or [])
    exclude = list(config.get("exclude_schemas") or [])
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in exclude)


async def _read_schema(conn: Any, schema: str, redshift: bool) -> list[CrawledObject]:
    objects = {
        r["name"]: CrawledObject(
            schema=schema,
            name=r["name"],
            kind=_KINDS.get(r["kind"], "table"),
            comment=r["comment"],
            row_estimate=r["row_estimate"],
            size_bytes=r["size_bytes"],
            definition=r["definition"],
        )
        for r in await conn.fetch(_relations_sql(redshift), schema)
    }
    for r in await conn.fetch(_columns_sql(redshift), schema):
        obj = objects.get(r["rel"])
        if obj is not None:
            obj.columns.append(
                CrawledColumn(
                    name=r["name"],
                    type=r["type"],
                    nullable=r["nullable"],
                    default=r["default"],
                    position=r["position"],
                    comment=r["comment"],
                )
            )
    # Redshift keeps key constraints in pg_constraint but cannot unnest their column arrays.
    for r in [] if redshift else await conn.fetch(_KEYS_SQL, schema):
        obj = objects.get(r["rel"])
        if obj is None:
            continue
        if r["kind"] == "p":
            obj.primary_key = list(r["columns"])
        else:
            obj.foreign_keys.append(
                {
                    "name": r["name"],
                    "columns": list(r["columns"]),
                    "ref_schema": r["ref_schema"],
                    "ref_table": r["ref_table"],
                    "ref_columns": list(r["ref_columns"]),
                }
            )
    return list(objects.values())


def crawler_for(scheme: str) -> Crawler:
    """A crawler for a PostgreSQL-protocol server whose datasets live in ``scheme://host:port``
    (``postgres`` for PostgreSQL, ``redshift`` for Redshift, as OpenLineage names them)."""

    async def crawl(
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        timeout: float,  # noqa: ASYNC109 - a budget for each network wait, enforced inside
        policy: OutboundPolicy,
        progress: Progress,
    ) -> CrawlResult:
        if not config.get("host"):
            raise CrawlRefused("set the host to crawl (a Serverless workgroup alone is not enough)")
        if config.get("iam"):
            raise CrawlRefused("crawls authenticate with a password; IAM is not supported yet")
        host = str(config["host"])
        port = int(config.get("port", DEFAULT_PORT))
        async with _connection(config, secrets, timeout, policy, "datamesh-crawl") as conn:
            async with asyncio.timeout(timeout * 2):
                # An empty search path: view definitions come back with every name qualified.
                await conn.execute(
                    "SELECT set_config('search_path', '', false), "
                    f"set_config('statement_timeout', '{int(timeout * 1000)}', false)"
                )
                database = str(await conn.fetchval("SELECT current_database()"))
                redshift = "redshift" in str(await conn.fetchval("SELECT version()")).lower()
                schemas = [
                    r["nspname"]
                    for r in await conn.fetch(_schemas_sql())
                    if schema_selected(r["nspname"], config)
                ]
            result = CrawlResult(namespace=f"{scheme}://{host}:{port}", database=database)
            for done, schema in enumerate(schemas):
                await progress(f"reading schema {schema}", done, len(schemas))
                try:
                    async with asyncio.timeout(timeout * 3):
                        result.objects += await _read_schema(conn, schema, redshift)
                    result.schemas.append(schema)
                except (asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    result.complete = False
                    reason = (
                        f"timed out after {timeout * 3:g} s"
                        if isinstance(exc, TimeoutError)
                        else str(exc).strip() or type(exc).__name__
                    )
                    result.errors.append(
                        {"object": f"{database}.{schema}", "kind": "read", "message": reason}
                    )
            await progress("read", len(schemas), len(schemas))
        return result

    return crawl


CONNECTOR = ConnectorType(
    type="postgresql",
    title="PostgreSQL",
    description="PostgreSQL and compatible servers, reached over TCP with asyncpg.",
    capabilities={
        "test_connection": True,
        "connect_snippets": True,
        "schema_refresh": True,
        "crawl": True,
    },
    config_schema=CONFIG_SCHEMA,
    secret_fields=(SecretField("password", "Password of the user (omit for trust/cert auth)."),),
    tester=check_connection,
    crawler=crawler_for("postgres"),
)
