"""Exports open in spreadsheets: a name a pipeline chose (``=HYPERLINK(...)``) arrives as text,
not as a formula, in the impact export (and the rule itself, for every formula lead)."""

from __future__ import annotations

import csv
import io

import httpx
from fastapi import FastAPI

from datamesh.kit import spreadsheet
from tests.factories import api_key, signed_in
from tests.lineage.test_columns import NS, _event, _send


def test_formula_leads_are_quoted_and_other_values_pass() -> None:
    for lead in ("=", "+", "-", "@", "\t", "\r"):
        assert spreadsheet.cell(f"{lead}1+1") == f"'{lead}1+1"
    assert spreadsheet.row(["s.raw", -3, None, "a=b"]) == ["s.raw", -3, None, "a=b"]


async def test_impact_export_neutralises_a_formula_name(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await signed_in(app, client, "csv@acme.test", role="producer")
    key = await api_key(client, owner.headers)
    evil = '=HYPERLINK("http://evil.test","x")'
    await _send(client, key, [_event("job1", evil, {"a": [("s.src", "a")]})])
    src = f"dataset:{NS}:s.src"
    r = await client.get(
        "/api/lineage/impact/export", params={"node": src, "format": "csv"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    names = {row["name"] for row in rows if row["kind"] == "dataset"}
    assert names == {"'" + evil}
