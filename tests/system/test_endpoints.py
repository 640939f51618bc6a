"""Health, readiness, OpenAPI, metrics and the problem+json error contract."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

PROBLEM = "application/problem+json"


def assert_problem(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    assert "Traceback" not in resp.text
    return body


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/health")).json() == {"status": "ok"}
    ready = await client.get("/api/ready")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"
    assert ready.json()["migration"]


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    assert spec["info"]["title"] == "DataMesh"
    assert "/api/health" in spec["paths"]
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/health", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    generated = await client.get("/api/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert generated.headers["x-request-id"] != "bad id\twith spaces"
    assert len(generated.headers["x-request-id"]) == 32


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/nope"), 404)
    assert body["type"].endswith("/not-found")


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/api/health"), 405)


async def test_oversized_body_is_413(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = app.state.settings.max_body_bytes
    resp = await client.post(
        "/api/health",
        content=b"{" + b" " * limit + b"}",
        headers={"content-type": "application/json"},
    )
    assert_problem(resp, 413)


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = app.state.settings.max_body_bytes

    async def chunks():  # no content-length: counted while streaming
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    resp = await client.post(
        "/api/health", content=chunks(), headers={"content-type": "application/json"}
    )
    # /api/health has no POST: a streamed oversized body is refused before routing matters
    assert resp.status_code in (405, 413)


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/health", content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    body = assert_problem(resp, 415)
    assert "application/json" in body["detail"]


async def test_metrics_expose_latency_histogram(client: httpx.AsyncClient) -> None:
    await client.get("/api/health")
    text = (await client.get("/metrics")).text
    assert "datamesh_http_request_duration_seconds_bucket{" in text
    assert 'route="/api/health"' in text
    assert "datamesh_http_requests_in_flight" in text
    assert "datamesh_db_pool_connections" in text


async def test_unhandled_error_is_500_without_trace(app: FastAPI) -> None:
    from tests.conftest import client_for

    @app.get("/api/_boom")
    async def boom() -> None:
        raise RuntimeError("secret-internal-detail")

    async with client_for(app) as c:
        resp = await c.get("/api/_boom")
    body = assert_problem(resp, 500)
    assert "secret-internal-detail" not in resp.text
    assert body["type"].endswith("/internal")
