"""SQL lineage (sqlglot): tables and column lineage of view and model SQL, names as stored."""

from __future__ import annotations

import pytest

from datamesh.lineage.sql import ColumnRef, SqlLineageError, parse

COLUMNS = {
    ("db", "Odd Schema", "Select"): {"Group": "int", "name": "text"},
    ("db", "public", "orders"): {"id": "int", "amount": "numeric", "cust": "int"},
}


def test_quoted_names_keep_their_case_and_spaces() -> None:
    out = parse(
        'SELECT s."Group" AS "The Group", upper(s.name) AS n FROM "Odd Schema"."Select" s',
        database="db",
        columns=COLUMNS,
    )
    assert out.tables == [("db", "Odd Schema", "Select")]
    by_out = {c.output: c for c in out.columns}
    assert by_out["The Group"].inputs == [ColumnRef(("db", "Odd Schema", "Select"), "Group")]
    assert by_out["The Group"].transformation_subtype == "IDENTITY"
    assert by_out["n"].transformation_subtype == "TRANSFORMATION"


def test_star_ctes_and_indirect_inputs() -> None:
    out = parse(
        "WITH big AS (SELECT * FROM orders WHERE amount > 10) "
        "SELECT cust, sum(amount) AS total FROM big GROUP BY cust",
        database="db",
        columns=COLUMNS,
    )
    assert out.tables == [("db", "public", "orders")]
    total = next(c for c in out.columns if c.output == "total")
    assert total.inputs == [ColumnRef(("db", "public", "orders"), "amount")]
    assert total.transformation_subtype == "AGGREGATION"
    assert (ColumnRef(("db", "public", "orders"), "amount"), "FILTER") in out.indirect


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT FROM WHERE ((",
        "CREATE TABLE x (a int)",
        "SELECT 1; SELECT 2",
        "SELECT t.a FROM t, LATERAL ROWS FROM (generate_series(1, t.a)) AS r(x)",
    ],
)
def test_what_cannot_be_traced_is_a_clear_error(sql: str) -> None:
    with pytest.raises(SqlLineageError) as info:
        parse(sql, database="db", columns=COLUMNS)
    assert str(info.value)
