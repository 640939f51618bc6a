"""Status, overview and coverage on a small known workspace, and what another org never sees."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from openlineage.client.event_v2 import RunState

from tests.factories import Account, signed_in
from tests.monitoring.support import Clock, dataset_id, process_id, run, send

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


async def _publish(c: httpx.AsyncClient, who: Account, name: str, visibility: str) -> str:
    r = await c.post(
        "/api/datasets",
        json={
            "namespace": "pg://x",
            "name": name,
            "platform": "postgresql",
            "visibility": visibility,
        },
        headers=who.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _sla(c: httpx.AsyncClient, who: Account, ds: str, hours: int) -> None:
    r = await c.put(
        f"/api/datasets/{ds}/sla", json={"kind": "max_age", "hours": hours}, headers=who.headers
    )
    assert r.status_code == 200, r.text


async def _dashboard(raw: asyncpg.Connection, who: Account, visibility: str, layout: dict) -> None:
    await raw.execute(
        "INSERT INTO dashboards (id, org_id, title, description, visibility, layout, version, "
        "created_by) VALUES ($1, $2, 'd', '', $3, $4::jsonb, 1, $5)",
        uuid.uuid4(),
        uuid.UUID(who.org_id),
        visibility,
        json.dumps(layout),
        uuid.UUID(who.id),
    )


def _node(i: int, annotations: object = None) -> dict:
    node: dict = {"id": f"n{i}", "kind": "note", "text": "x", "position": {"x": 0, "y": 0}}
    if annotations is not None:
        node["annotations"] = annotations
    return node


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection):
    clock = Clock(datetime(2026, 11, 20, 6, 30, tzinfo=UTC))
    app.state.clock = clock
    w: dict = {}
    w["prod"] = prod = await signed_in(app, client, "prod@acme.test", role="producer")
    w["admin"] = admin = await signed_in(app, client, "admin@acme.test", role="admin")
    w["globex"] = globex = await signed_in(
        app, client, "admin@globex.test", org="Globex", role="admin"
    )
    # Acme: load_orders -> orders -> build_report -> report; customers published by hand
    await send(client, prod, run("load_orders", [], ["orders"], start=T0))
    await send(client, prod, run("build_report", ["orders"], ["report"], start=T0))
    w["orders"] = await dataset_id(client, prod, "orders")
    w["report"] = await dataset_id(client, prod, "report")
    w["customers"] = await _publish(client, prod, "crm.customers", "internal")
    w["salaries"] = await _publish(client, admin, "hr.salaries", "private")
    w["load_orders"] = await process_id(client, prod, "load_orders")
    await _sla(client, prod, w["orders"], 2)
    # Globex: a private and a public dataset, both with SLAs and never refreshed
    w["g_private"] = await _publish(client, globex, "globex.secret", "private")
    w["g_public"] = await _publish(client, globex, "globex.open", "public")
    await _sla(client, globex, w["g_private"], 1)
    await _sla(client, globex, w["g_public"], 1)
    # dashboards: annotated nodes are those with at least one non-empty annotation
    await _dashboard(
        raw_conn,
        prod,
        "internal",
        {
            "nodes": [
                _node(1, {"owner": "ana", "sla": "daily 07:00"}),
                _node(2, {"sla": ""}),
                _node(3, {}),
                _node(4),
                _node(5, {"note": "checked"}),
            ]
        },
    )
    await _dashboard(raw_conn, admin, "private", {"nodes": [_node(1, {"owner": "hr"})]})
    await _dashboard(raw_conn, prod, "internal", {"nodes": {"not": "a list"}})
    await _dashboard(raw_conn, globex, "internal", {"nodes": [_node(1, {"owner": "g"})]})
    clock.set(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    moved = await app.state.sla_evaluator.run_once()
    assert len(moved) == 3
    return w


async def test_status_answers_only_for_what_the_caller_sees(
    client: httpx.AsyncClient, world
) -> None:
    w = world
    asked = [
        w["orders"],
        w["report"],
        w["customers"],
        w["salaries"],
        w["g_private"],
        w["g_public"],
        w["load_orders"],
        str(uuid.uuid4()),
    ]
    r = await client.get(
        "/api/monitoring/status", params={"ids": ",".join(asked)}, headers=w["prod"].headers
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert set(got) == {w["orders"], w["report"], w["customers"], w["g_public"], w["load_orders"]}
    assert got[w["orders"]] == {
        "kind": "dataset",
        "health": "breached",
        "latest_run_state": "COMPLETE",
        "sla_state": "breached",
    }
    assert got[w["report"]] == {
        "kind": "dataset",
        "health": "ok",
        "latest_run_state": "COMPLETE",
        "sla_state": None,
    }
    assert got[w["customers"]]["health"] == "unknown"
    assert got[w["g_public"]]["health"] == "breached"
    assert got[w["load_orders"]]["health"] == "ok"

    # Globex sees its own private dataset, but not Acme's internal ones nor Acme's process
    r = await client.get(
        "/api/monitoring/status", params={"ids": ",".join(asked)}, headers=w["globex"].headers
    )
    assert set(r.json()) == {w["g_private"], w["g_public"]}


async def test_status_validates_ids(client: httpx.AsyncClient, world) -> None:
    h = world["prod"].headers
    r = await client.get("/api/monitoring/status", params={"ids": "nope"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ids.0"
    many = ",".join(str(uuid.uuid4()) for _ in range(501))
    assert (
        await client.get("/api/monitoring/status", params={"ids": many}, headers=h)
    ).status_code == 422
    assert (await client.get("/api/monitoring/status", headers=h)).json() == {}


async def test_overview_lists_readable_breaches_with_their_impact(
    client: httpx.AsyncClient, world
) -> None:
    w = world
    body = (await client.get("/api/monitoring/overview", headers=w["prod"].headers)).json()
    breaches = {b["dataset"]["id"]: b for b in body["breaches"]}
    assert set(breaches) == {w["orders"], w["g_public"]}  # never Globex's private dataset
    orders = breaches[w["orders"]]
    assert orders["dataset"] == {"id": w["orders"], "name": "orders", "platform": "postgresql"}
    assert (orders["kind"], orders["due_at"], orders["breached_since"]) == (
        "max_age",
        "2026-11-20T08:05:00Z",
        "2026-11-20T08:05:00Z",
    )
    assert orders["impact_count"] == 1  # report
    assert breaches[w["g_public"]]["impact_count"] == 0
    assert body["failed_runs"] == []
    assert body["generated_at"] == "2026-11-20T12:00:00Z"

    globex = (await client.get("/api/monitoring/overview", headers=w["globex"].headers)).json()
    assert {b["dataset"]["id"] for b in globex["breaches"]} == {w["g_private"], w["g_public"]}


async def test_coverage_of_the_callers_org(client: httpx.AsyncClient, world) -> None:
    w = world
    prod = (await client.get("/api/monitoring/coverage", headers=w["prod"].headers)).json()
    assert prod == {
        "org_id": w["prod"].org_id,
        "datasets": 3,  # orders, report, customers (the private hr.salaries is hidden)
        "with_lineage": 2,
        "with_owners": 1,
        "with_sla": 1,
        "lineage_share": pytest.approx(2 / 3, abs=1e-3),
        "owners_share": pytest.approx(1 / 3, abs=1e-3),
        "sla_share": pytest.approx(1 / 3, abs=1e-3),
        "dashboards": 2,
        "annotated_nodes": 2,
    }
    admin = (await client.get("/api/monitoring/coverage", headers=w["admin"].headers)).json()
    assert (admin["datasets"], admin["with_owners"], admin["dashboards"]) == (4, 2, 3)
    assert admin["annotated_nodes"] == 3
    globex = (await client.get("/api/monitoring/coverage", headers=w["globex"].headers)).json()
    assert (globex["datasets"], globex["with_sla"], globex["sla_share"]) == (2, 2, 1.0)
    assert (globex["dashboards"], globex["annotated_nodes"]) == (1, 1)


async def test_another_orgs_job_does_not_colour_a_public_dataset(
    client: httpx.AsyncClient, world
) -> None:
    w = world
    await send(
        client,
        w["globex"],
        run("globex_export", [], ["shared.events"], start=T0, state=RunState.FAIL),
    )
    shared = await dataset_id(client, w["globex"], "shared.events")
    r = await client.patch(
        f"/api/datasets/{shared}", json={"visibility": "public"}, headers=w["globex"].headers
    )
    assert r.status_code == 200, r.text
    mine = (
        await client.get(
            "/api/monitoring/status", params={"ids": shared}, headers=w["globex"].headers
        )
    ).json()
    assert (mine[shared]["health"], mine[shared]["latest_run_state"]) == ("failing", "FAIL")
    theirs = (
        await client.get(
            "/api/monitoring/status", params={"ids": shared}, headers=w["prod"].headers
        )
    ).json()
    assert theirs[shared] == {
        "kind": "dataset",
        "health": "unknown",
        "latest_run_state": None,
        "sla_state": None,
    }
