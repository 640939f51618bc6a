"""Lineage from SQL: which tables and columns a query reads, parsed with sqlglot.

One module for every SQL DataMesh reads: view and materialized-view definitions found by a crawl,
and dbt's compiled models. A query is qualified against the columns known for its tables (so
``SELECT *`` and unqualified columns resolve), then each output column is traced back to the
base-table columns it is computed from (transformation ``DIRECT`` with subtype ``IDENTITY``,
``TRANSFORMATION`` or ``AGGREGATION``, as in OpenLineage's column-lineage facet); columns that
only filter, join or group the rows are reported as ``INDIRECT`` inputs of the whole dataset.

Names are kept exactly as the database stores them (case and spaces included): the result names a
table ``(database, schema, table)``, which is how datasets are named (``db.schema.table``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema

# (database, schema, table), each as stored by the database.
TableKey = tuple[str, str, str]


class SqlLineageError(Exception):
    """The SQL could not be parsed or traced; the message is short and shows no data."""


@dataclass(frozen=True, slots=True)
class ColumnRef:
    table: TableKey
    column: str


@dataclass(slots=True)
class ColumnLineage:
    output: str
    inputs: list[ColumnRef]
    transformation_type: str = "DIRECT"
    transformation_subtype: str = "IDENTITY"


@dataclass(slots=True)
class SqlLineage:
    tables: list[TableKey] = field(default_factory=list)
    columns: list[ColumnLineage] = field(default_factory=list)
    # Columns that decide which rows come out (WHERE, JOIN ... ON, GROUP BY), with their use.
    indirect: list[tuple[ColumnRef, str]] = field(default_factory=list)


def _schema(columns: Mapping[TableKey, Mapping[str, str]]) -> MappingSchema:
    nested: dict[str, Any] = {}
    for (db, schema, table), cols in columns.items():
        nested.setdefault(db, {}).setdefault(schema, {})[table] = {
            c: (t or "text") for c, t in cols.items()
        }
    # normalize=False: the keys are the names as stored (quoted identifiers keep their case).
    return MappingSchema(nested, dialect="postgres", normalize=False)


def _table_key(table: exp.Table, database: str, schema: str) -> TableKey:
    return (table.catalog or database, table.db or schema, table.name)


def _column_name(node: Node) -> str:
    expression = node.expression
    if isinstance(expression, exp.Column):
        return expression.name
    try:
        parsed = sqlglot.parse_one(node.name, read="postgres")
    except SqlglotError:
        return node.name.rsplit(".", 1)[-1].strip('"')
    return parsed.name if isinstance(parsed, exp.Column) else node.name.rsplit(".", 1)[-1]


def _subtype(expression: exp.Expr) -> str:
    inner = expression.this if isinstance(expression, exp.Alias) else expression
    if isinstance(inner, exp.Column):
        return "IDENTITY"
    if inner.find(exp.AggFunc) is not None:
        return "AGGREGATION"
    return "TRANSFORMATION"


def _base_tables(scope: Scope, database: str, schema: str) -> dict[str, TableKey]:
    """Alias -> table for the sources of one scope that are real tables (not CTEs/subqueries)."""
    return {
        alias: _table_key(source, database, schema)
        for alias, source in scope.sources.items()
        if isinstance(source, exp.Table) and source.name  # not a function in FROM
    }


def _indirect(scope: Scope, database: str, schema: str) -> list[tuple[ColumnRef, str]]:
    tables = _base_tables(scope, database, schema)
    found: list[tuple[ColumnRef, str]] = []
    select = scope.expression
    parts: list[tuple[exp.Expr | None, str]] = [
        (select.args.get("where"), "FILTER"),
        (select.args.get("group"), "GROUP_BY"),
        (select.args.get("having"), "FILTER"),
    ]
    parts += [(j.args.get("on"), "JOIN") for j in select.args.get("joins") or []]
    for part, use in parts:
        if part is None:
            continue
        for column in part.find_all(exp.Column):
            table = tables.get(column.table)
            if table is not None:
                found.append((ColumnRef(table, column.name), use))
    return found


def parse(
    sql: str,
    *,
    database: str,
    schema: str = "public",
    columns: Mapping[TableKey, Mapping[str, str]] | None = None,
) -> SqlLineage:
    """Tables and column lineage of one query in the PostgreSQL dialect.

    ``database``/``schema`` qualify names the query leaves unqualified; ``columns`` are the known
    columns (name -> type) of the tables it may read. Raises :class:`SqlLineageError`.
    """
    try:
        parsed = sqlglot.parse(sql, read="postgres")
        statements = [s for s in parsed if s is not None]
        if len(statements) != 1:
            raise SqlLineageError(f"expected one statement, found {len(statements)}")
        statement = statements[0]
        query = statement.expression if isinstance(statement, exp.Create) else statement
        if not isinstance(query, exp.Query):
            raise SqlLineageError(f"not a query ({type(query).__name__})")
        # Only the tables the query names: qualifying against a whole database's columns
        # costs ~20x more per query.
        known = columns or {}
        named = {_table_key(t, database, schema) for t in query.find_all(exp.Table)}
        mapping = _schema({k: known[k] for k in named if k in known})
        qualified = qualify(
            query,
            dialect="postgres",
            schema=mapping,
            catalog=database,
            db=schema,
            validate_qualify_columns=False,
            identify=False,
        )
        result = SqlLineage()
        seen_tables: dict[TableKey, None] = {}
        indirect: dict[tuple[ColumnRef, str], None] = {}
        scopes = traverse_scope(qualified)
        for scope in scopes:
            for table in _base_tables(scope, database, schema).values():
                seen_tables[table] = None
            for item in _indirect(scope, database, schema):
                indirect[item] = None
        result.tables = list(seen_tables)
        result.indirect = list(indirect)
        if not scopes:
            raise SqlLineageError("not a query")
        # The query is qualified and its scopes built once (``scope=``: sqlglot would do both
        # again); ``trim_selects=False``: no copy of each select per output column, only the
        # leaves (tables and their columns) are read below.
        outputs = lineage(
            None,
            qualified,
            schema=mapping,
            dialect="postgres",
            scope=scopes[-1],
            trim_selects=False,
            copy=False,
        )
        assert isinstance(outputs, dict)
        for name, node in outputs.items():
            inputs: dict[ColumnRef, None] = {}
            for leaf in node.walk():
                if leaf.downstream or not isinstance(leaf.source, exp.Table):
                    continue
                key = _table_key(leaf.source, database, schema)
                if key in seen_tables:
                    inputs[ColumnRef(key, _column_name(leaf))] = None
            result.columns.append(
                ColumnLineage(
                    output=name,
                    inputs=list(inputs),
                    transformation_subtype=_subtype(node.expression),
                )
            )
    except SqlLineageError:
        raise
    except SqlglotError as exc:
        raise SqlLineageError(_first_line(str(exc)) or type(exc).__name__) from None
    except (RecursionError, ValueError, KeyError, AttributeError, TypeError) as exc:
        # sqlglot's optimizer meets SQL it does not model; the view is still catalogued.
        raise SqlLineageError(f"could not trace the query ({type(exc).__name__})") from None
    return result


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:300]
