"""Regressions for what the schema fuzzer (test_schemathesis.py) found, one test each."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
from fastapi import FastAPI

from datamesh.errors import PROBLEM_JSON
from tests.factories import signed_in


def _problem_validator(app: FastAPI) -> jsonschema.Draft202012Validator:
    spec = app.openapi()
    return jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/Problem", "components": spec["components"]}
    )


async def test_audit_verify_with_a_seq_past_bigint_is_a_422_not_a_500(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    root = await signed_in(app, client, "root@acme.test", role="admin", platform_admin=True)
    for since in (10**21, 2**63 - 1):
        r = await client.get("/api/audit/verify", params={"since": since}, headers=root.headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == PROBLEM_JSON
        assert r.json()["errors"][0]["field"] == "query.since"
    r = await client.get("/api/audit/verify", params={"since": 2**63 - 2}, headers=root.headers)
    assert r.status_code == 200
    assert r.json()["ok"] is True


async def test_405_names_every_method_of_the_resource(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Starlette named only the first matching route's methods (``Allow: GET``)."""
    r = await client.put("/api/datasets/01a20311-f893-74cb-8590-a51d3c51b557", json={})
    assert r.status_code == 405
    assert r.headers["content-type"] == PROBLEM_JSON
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "PATCH", "DELETE"}
    r = await client.request("OPTIONS", "/api/datasets")
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    # A literal path beats a template that also matches it (/api/nodes/{node_id}).
    r = await client.request("OPTIONS", "/api/nodes/test")
    assert r.headers["allow"] == "POST"


def _op(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = spec["paths"][path][method]
    return op


async def test_the_document_declares_the_errors_every_request_may_get(app: FastAPI) -> None:
    spec = app.openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"400", "401", "403", "404", "422", "503"} <= codes, (method, path)
            if method in ("post", "put", "patch"):
                assert {"409", "413", "415"} <= codes, (method, path)
            for code, entry in op["responses"].items():
                if int(code) >= 400:
                    assert list(entry["content"]) == [PROBLEM_JSON], (method, path, code)
            for param in op.get("parameters", []):
                # Parameters are absent or strings: a generated "null" header is not a value.
                assert "null" not in str(param["schema"]), (method, path, param["name"])
    assert "429" in _op(spec, "post", "/api/auth/login")["responses"]
    assert "502" in _op(spec, "post", "/api/datasets/{dataset_id}/refresh")["responses"]
    assert "412" in _op(spec, "patch", "/api/datasets/{dataset_id}")["responses"]
    # Signing out needs no session (it clears cookies): credentials are optional there.
    assert {} in _op(spec, "post", "/api/auth/logout")["security"]


async def test_an_invalid_openlineage_event_is_a_problem_with_field_paths(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The 400 listed {index, detail} items, which the Problem schema does not allow."""
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    bad = {"eventType": "START", "job": {"namespace": "x"}, "run": {"runId": "1"}}
    r = await client.post("/api/v1/lineage", json=bad, headers=prod.headers)
    assert r.status_code == 400
    body = r.json()
    _problem_validator(app).validate(body)
    assert body["detail"].count("invalid OpenLineage event") == 1
    fields = {e["field"] for e in body["errors"]}
    assert "eventTime" in fields
    assert any(f.startswith("job.") or f == "job" for f in fields), fields
    r = await client.post("/api/v1/lineage", json={}, headers=prod.headers)
    assert r.status_code == 400
    _problem_validator(app).validate(r.json())
    # The batch names each bad event by index, with the same field paths.
    r = await client.post("/api/v1/lineage/batch", json=[bad], headers=prod.headers)
    assert r.status_code == 200
    [err] = r.json()["errors"]
    assert err["index"] == 0
    assert {p["loc"] for p in err["problems"]} >= {"eventTime"}
