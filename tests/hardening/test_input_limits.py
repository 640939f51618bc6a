"""Input limits: oversized and deep bodies, huge pages and depths, long strings, malformed
OpenLineage events, unicode and control characters. Each is answered clearly: a 4xx
problem+json naming the field, or accepted and stored exactly; never a 500. A heavy bad
request does not hold up a cheap one sent at the same time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from datamesh.config import Settings
from datamesh.errors import PROBLEM_JSON
from tests.factories import Account, signed_in
from tests.fixtures.live import live_server

JSON = {"content-type": "application/json"}


def problem_of(r: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = r.json()
    assert body["status"] == r.status_code and body["detail"]
    return body


def fields_of(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors") or []}


@pytest.fixture
async def admin(app: FastAPI, client: httpx.AsyncClient) -> Account:
    return await signed_in(app, client, "root@acme.test", role="admin", platform_admin=True)


def _dataset(name: str = "shop.public.orders", **kw: Any) -> dict[str, Any]:
    return {"namespace": "postgres://db:5432", "name": name, "platform": "postgresql", **kw}


def _event(**kw: Any) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": "3f5e8b44-8c1b-4a4f-9d3e-1f2a3b4c5d6e"},
        "job": {"namespace": "airflow", "name": "etl.orders"},
        "inputs": [{"namespace": "postgres://db:5432", "name": "shop.public.raw"}],
        "outputs": [{"namespace": "postgres://db:5432", "name": "shop.public.orders"}],
        "producer": "https://example.test/producer",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
        **kw,
    }


# -- sizes and depth ----------------------------------------------------------------------------
async def test_an_oversized_body_is_a_413(
    app: FastAPI, client: httpx.AsyncClient, admin: Account
) -> None:
    limit = app.state.settings.max_body_bytes
    big = b'{"name": "' + b"x" * (limit + 1) + b'"}'
    r = await client.post("/api/datasets", content=big, headers={**admin.headers, **JSON})
    assert "bytes" in problem_of(r, 413)["detail"]

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    r = await client.post("/api/v1/lineage", content=chunked(), headers={**admin.headers, **JSON})
    problem_of(r, 413)


@pytest.mark.parametrize("path", ["/api/datasets", "/api/v1/lineage", "/api/v1/lineage/batch"])
async def test_deeply_nested_json_is_a_400(
    client: httpx.AsyncClient, admin: Account, path: str
) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    r = await client.post(path, content=deep, headers={**admin.headers, **JSON})
    problem_of(r, 400, 422)


async def test_a_deeply_nested_openlineage_facet_is_refused(
    client: httpx.AsyncClient, admin: Account
) -> None:
    body = orjson.dumps(_event(run={"runId": _event()["run"]["runId"], "facets": {"x": 0}}))
    deep = body.replace(b'"x":0', b'"x":' + b'{"a":' * 5_000 + b'"leaf"' + b"}" * 5_000)
    r = await client.post("/api/v1/lineage", content=deep, headers={**admin.headers, **JSON})
    problem_of(r, 400, 422)


async def test_huge_page_sizes_are_422_with_the_field(
    app: FastAPI, client: httpx.AsyncClient, admin: Account
) -> None:
    spec = app.openapi()
    listed = [
        path
        for path, ops in spec["paths"].items()
        if "get" in ops
        and "{" not in path
        and any(p["name"] == "limit" for p in ops["get"].get("parameters", []))
    ]
    assert "/api/datasets" in listed and "/api/feed" in listed
    for path in listed:
        r = await client.get(path, params={"limit": 10**9}, headers=admin.headers)
        assert "query.limit" in fields_of(problem_of(r, 422)), path


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/lineage/graph", {"node": "dataset:postgres://db:5432:shop.public.orders"}),
        ("/api/lineage/impact", {"node": "dataset:postgres://db:5432:shop.public.orders"}),
        ("/api/v1/lineage", {"nodeId": "dataset:postgres://db:5432:shop.public.orders"}),
    ],
)
async def test_a_depth_of_a_million_is_refused(
    client: httpx.AsyncClient, admin: Account, path: str, params: dict[str, str]
) -> None:
    await client.post("/api/v1/lineage", json=_event(), headers=admin.headers)
    r = await client.get(path, params={**params, "depth": 1_000_000}, headers=admin.headers)
    assert "query.depth" in fields_of(problem_of(r, 422))


# -- long strings -------------------------------------------------------------------------------
LONG = "x" * 200_000


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/datasets", _dataset(LONG), "name"),
        ("/api/datasets", _dataset(namespace=LONG), "namespace"),
        ("/api/datasets", _dataset(description=LONG), "description"),
        ("/api/datasets", _dataset(display_name=LONG), "display_name"),
        ("/api/lineage/processes", {"namespace": "a", "name": LONG}, "name"),
        ("/api/orgs", {"name": LONG}, "name"),
        ("/api/auth/api-keys", {"name": LONG}, "name"),
        ("/api/nodes", {"name": LONG, "type": "http_api", "config": {"url": "http://x/"}}, "name"),
    ],
)
async def test_very_long_text_fields_are_422_with_the_field(
    client: httpx.AsyncClient, admin: Account, path: str, body: dict[str, Any], field: str
) -> None:
    r = await client.post(path, json=body, headers=admin.headers)
    assert field in fields_of(problem_of(r, 422))


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/datasets", "query"),
        ("/api/lineage/processes", "q"),
        ("/api/audit", "query"),
        ("/api/nodes", "q"),
    ],
)
async def test_very_long_queries_are_answered(
    client: httpx.AsyncClient, admin: Account, path: str, param: str
) -> None:
    r = await client.get(path, params={param: "x" * 20_000}, headers=admin.headers)
    if r.status_code != 200:
        assert f"query.{param}" in fields_of(problem_of(r, 422))


async def test_a_very_long_openlineage_name_is_refused_with_its_path(
    client: httpx.AsyncClient, admin: Account
) -> None:
    r = await client.post(
        "/api/v1/lineage", json=_event(job={"namespace": "a", "name": LONG}), headers=admin.headers
    )
    assert "job.name" in fields_of(problem_of(r, 400, 422))


# -- malformed OpenLineage ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({}, "eventTime"),
        (_event(eventTime=[]), "eventTime"),
        (_event(eventType=5), "eventType"),
        (_event(run="x"), "run"),
        (_event(job={"namespace": 1, "name": None}), "job.namespace"),
        (_event(inputs={"a": 1}), "inputs"),
        (_event(inputs=[{"namespace": "n"}]), "inputs.0.name"),
        (_event(outputs=[5]), "outputs.0"),
    ],
)
async def test_malformed_openlineage_events_name_what_is_wrong(
    client: httpx.AsyncClient, admin: Account, event: dict[str, Any], field: str
) -> None:
    r = await client.post("/api/v1/lineage", json=event, headers=admin.headers)
    fields = fields_of(problem_of(r, 400, 422))
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    # In a batch, the same event is listed by index and the others still land.
    r = await client.post("/api/v1/lineage/batch", json=[event, _event()], headers=admin.headers)
    if r.status_code == 200:
        assert r.json()["failed"] == 1 and r.json()["errors"][0]["index"] == 0
    else:
        problem_of(r, 400, 422)


async def test_a_huge_facet_is_stored_or_refused_never_a_500(
    app: FastAPI, client: httpx.AsyncClient, admin: Account
) -> None:
    blob = "y" * (app.state.settings.max_body_bytes - 10_000)
    event = _event(outputs=[{"namespace": "pg", "name": "t", "facets": {"x": {"blob": blob}}}])
    r = await client.post("/api/v1/lineage", json=event, headers=admin.headers)
    if r.status_code != 200:
        problem_of(r, 400, 413, 422)


# -- unicode and control characters -------------------------------------------------------------
UNICODE = [
    "طلبات_العملاء",  # Arabic (RTL)
    "הזמנות.לקוחות",  # Hebrew (RTL)
    "orders_\u202etxt.exe",  # RIGHT-TO-LEFT OVERRIDE
    "📦 orders 👩‍👩‍👧‍👦",  # emoji with ZWJ sequences
    "cafe\u0301 n\u0303o Z\u0335\u0321a\u0336l\u0334g\u0337o",  # combining marks
    "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522 \U0001d7d9",  # astral
    "tab\there bell\x07 esc\x1b[31m",  # control characters other than NUL
]


@pytest.mark.parametrize("text", UNICODE)
async def test_unicode_names_are_stored_exactly_and_found(
    client: httpx.AsyncClient, admin: Account, text: str
) -> None:
    r = await client.post(
        "/api/datasets", json=_dataset(text, description=text), headers=admin.headers
    )
    if r.status_code != 201:  # refused: clearly, naming the field
        assert "name" in fields_of(problem_of(r, 422))
        return
    ds = r.json()
    got = (await client.get(f"/api/datasets/{ds['id']}", headers=admin.headers)).json()
    assert got["name"] == text and got["description"] == text
    r = await client.get("/api/datasets", params={"query": text}, headers=admin.headers)
    assert r.status_code == 200
    assert ds["id"] in [i["id"] for i in r.json()["items"]]


async def test_unicode_in_openlineage_names_round_trips(
    client: httpx.AsyncClient, admin: Account
) -> None:
    name = "ANALYTICS.طلبات.📦_e\u0301"
    event = _event(outputs=[{"namespace": "postgres://db:5432", "name": name}])
    r = await client.post("/api/v1/lineage", json=event, headers=admin.headers)
    assert r.status_code == 200, r.text
    r = await client.get(
        "/api/lineage/graph",
        params={"node": f"dataset:postgres://db:5432:{name}", "depth": 1},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert name in {n.get("name") for n in r.json()["nodes"]}


@pytest.mark.parametrize(
    ("method", "path", "kw", "field"),
    [
        ("POST", "/api/datasets", {"json": _dataset("a\x00b")}, "name"),
        ("POST", "/api/datasets", {"json": _dataset(description="x\x00")}, "description"),
        ("POST", "/api/datasets", {"json": _dataset(tags=["ok", "b\x00"])}, "tags.1"),
        ("POST", "/api/auth/login", {"json": {"email": "a\x00@b.c", "password": "p"}}, "email"),
        ("POST", "/api/orgs", {"json": {"name": "Org\x00"}}, "name"),
        (
            "POST",
            "/api/lineage/processes",
            {"json": {"namespace": "\x00", "name": "j"}},
            "namespace",
        ),
        (
            "POST",
            "/api/v1/lineage",
            {"json": _event(job={"namespace": "a", "name": "\x00"})},
            "job.name",
        ),
        (
            "POST",
            "/api/v1/lineage",
            {"json": _event(run={"runId": _event()["run"]["runId"], "facets": {"k\x00": 1}})},
            "run.facets.k",
        ),
        ("GET", "/api/datasets", {"params": {"query": "a\x00b"}}, "query.query"),
        ("GET", "/api/lineage/processes", {"params": {"q": "\x00"}}, "query.q"),
        ("GET", "/api/audit", {"params": {"actor": "x\x00"}}, "query.actor"),
        ("GET", "/api/lineage/graph", {"params": {"node": "dataset:a:\x00"}}, "query.node"),
    ],
)
async def test_nul_characters_are_422_with_the_field(
    client: httpx.AsyncClient,
    admin: Account,
    method: str,
    path: str,
    kw: dict[str, Any],
    field: str,
) -> None:
    """PostgreSQL text cannot hold NUL: it used to reach the database and answer 500."""
    r = await client.request(method, path, headers=admin.headers, **kw)
    fields = fields_of(problem_of(r, 422))
    assert any(f.replace("\x00", "") == field for f in fields), fields


async def test_a_nul_in_one_event_of_a_batch_fails_that_event_only(
    client: httpx.AsyncClient, admin: Account
) -> None:
    """A batch reports its bad events and lands the good ones, NULs included."""
    bad = _event(job={"namespace": "a", "name": "j\x00"})
    r = await client.post("/api/v1/lineage/batch", json=[_event(), bad], headers=admin.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["failed"]) == (1, 1)
    assert body["errors"][0]["index"] == 1
    assert body["errors"][0]["problems"][0]["loc"] == "job.name"


# -- none slow the server for others ------------------------------------------------------------
async def test_a_slow_oversized_upload_does_not_hold_up_other_requests(
    settings: Settings, clean_db: None
) -> None:
    """While one client trickles a too-large body, another's request is answered; the
    upload is then refused with a 413 once it crosses the limit."""
    settings.max_body_bytes = 256 * 1024
    async with (
        live_server(settings, migrate_on_start=False) as (url, app),
        httpx.AsyncClient(base_url=url, timeout=None) as c,
    ):
        who = await signed_in(app, c, "root@acme.test", role="admin", platform_admin=True)
        sent_half = asyncio.Event()
        go_on = asyncio.Event()

        async def trickle() -> AsyncIterator[bytes]:
            for i in range(8):
                yield b" " * (64 * 1024)
                if i == 1:
                    sent_half.set()
                    await go_on.wait()

        heavy = asyncio.create_task(
            c.post("/api/v1/lineage", content=trickle(), headers={**who.headers, **JSON})
        )
        await sent_half.wait()
        cheap = await c.get("/api/datasets", headers=who.headers)
        assert cheap.status_code == 200
        assert not heavy.done()  # the cheap request finished while the upload was open
        go_on.set()
        r = await heavy
        problem_of(r, 413)


async def test_a_flood_of_bad_requests_does_not_starve_a_good_one(
    settings: Settings, clean_db: None
) -> None:
    """Deep JSON, NUL, huge limits and depths sent at once, with one cheap request among them:
    every bad one is a 4xx and the good one answers 200."""
    async with (
        live_server(settings, migrate_on_start=False) as (url, app),
        httpx.AsyncClient(base_url=url, timeout=None) as c,
    ):
        who = await signed_in(app, c, "root@acme.test", role="admin", platform_admin=True)
        h = who.headers
        deep = "[" * 10_000 + "]" * 10_000
        bad = (
            [
                c.post("/api/v1/lineage/batch", content=deep, headers={**h, **JSON})
                for _ in range(10)
            ]
            + [
                c.get(
                    "/api/lineage/impact",
                    params={"node": "dataset:a:b", "depth": 10**6},
                    headers=h,
                )
                for _ in range(10)
            ]
            + [c.post("/api/datasets", json=_dataset("\x00"), headers=h) for _ in range(10)]
        )
        good = c.get("/api/datasets", headers=h)
        *answers, ok = await asyncio.gather(*bad, good)
        assert ok.status_code == 200
        for r in answers:
            problem_of(r, 400, 422)
