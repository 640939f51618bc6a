"""Freshness SLAs: set, read, replace and delete through the API; validation; who may; audit."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.factories import signed_in
from tests.monitoring.support import Clock, dataset_id, run, send

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient):
    app.state.clock = Clock(datetime(2026, 11, 20, 6, 30, tzinfo=UTC))
    prod = await signed_in(app, client, "prod@acme.test", role="producer")
    viewer = await signed_in(app, client, "viewer@acme.test", role="viewer")
    other = await signed_in(app, client, "admin@globex.test", org="Globex", role="admin")
    await send(client, prod, run("load_orders", [], ["orders"], start=T0))
    ds = await dataset_id(client, prod, "orders")
    return {"prod": prod, "viewer": viewer, "other": other, "ds": ds}


async def test_set_read_replace_delete(
    client: httpx.AsyncClient, world, raw_conn: asyncpg.Connection
) -> None:
    prod, ds = world["prod"], world["ds"]
    url = f"/api/datasets/{ds}/sla"
    assert (await client.get(url, headers=prod.headers)).status_code == 404

    r = await client.put(url, json={"kind": "daily_by", "at": "07:00"}, headers=prod.headers)
    assert r.status_code == 200, r.text
    sla = r.json()
    assert sla["dataset_id"] == ds
    assert (sla["kind"], sla["at"], sla["hours"], sla["state"]) == ("daily_by", "07:00", None, "ok")
    # the run ended 06:05 on the 20th: the next deadline it does not meet is 07:00 on the 21st
    assert sla["last_complete_at"] == "2026-11-20T06:05:00Z"
    assert sla["due_at"] == "2026-11-21T07:00:00Z"
    assert sla["breached_since"] is None
    assert (await client.get(url, headers=prod.headers)).json() == sla
    # readers of the dataset may read its SLA
    assert (await client.get(url, headers=world["viewer"].headers)).json()["kind"] == "daily_by"

    r = await client.put(url, json={"kind": "max_age", "hours": 6}, headers=prod.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["kind"], r.json()["at"], r.json()["hours"]) == ("max_age", None, 6)
    assert r.json()["due_at"] == "2026-11-20T12:05:00Z"

    assert (await client.delete(url, headers=prod.headers)).status_code == 204
    assert (await client.get(url, headers=prod.headers)).status_code == 404
    assert (await client.delete(url, headers=prod.headers)).status_code == 404

    rows = await raw_conn.fetch(
        "SELECT action, actor_name, changes FROM audit_log WHERE target_id = $1 "
        "AND action LIKE 'dataset.sla%' ORDER BY seq",
        ds,
    )
    assert [(r["action"], r["actor_name"]) for r in rows] == [
        ("dataset.sla_set", prod.email),
        ("dataset.sla_set", prod.email),
        ("dataset.sla_delete", prod.email),
    ]


async def test_setting_the_same_sla_again_changes_nothing(
    client: httpx.AsyncClient, world, raw_conn: asyncpg.Connection
) -> None:
    prod, url = world["prod"], f"/api/datasets/{world['ds']}/sla"
    body = {"kind": "max_age", "hours": 24}
    first = (await client.put(url, json=body, headers=prod.headers)).json()
    second = await client.put(url, json=body, headers=prod.headers)
    assert second.status_code == 200 and second.json() == first
    count = await raw_conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'dataset.sla_set'"
    )
    assert count == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "daily_by", "at": "25:00"}, "daily_by.at"),
        ({"kind": "daily_by", "at": "7:00"}, "daily_by.at"),
        ({"kind": "daily_by"}, "daily_by.at"),
        ({"kind": "max_age", "hours": 0}, "max_age.hours"),
        ({"kind": "max_age", "hours": 8761}, "max_age.hours"),
        ({"kind": "max_age", "hours": "soon"}, "max_age.hours"),
        ({"kind": "daily_by", "at": "07:00", "hours": 3}, "daily_by.hours"),
        ({"kind": "weekly", "at": "07:00"}, ""),
        ({"hours": 5}, "kind"),  # no variant named: the field to add is said, in words
    ],
)
async def test_invalid_slas_are_refused_with_the_field(
    client: httpx.AsyncClient, world, body: dict, field: str
) -> None:
    r = await client.put(
        f"/api/datasets/{world['ds']}/sla", json=body, headers=world["prod"].headers
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in r.json()["errors"]]
    assert any(f.endswith(field) for f in fields), fields
    assert "Unable to extract tag" not in r.text
    if field == "kind":
        assert fields == ["kind"], fields
    got = await client.get(f"/api/datasets/{world['ds']}/sla", headers=world["prod"].headers)
    assert got.status_code == 404


async def test_who_may_set_an_sla(client: httpx.AsyncClient, world) -> None:
    url = f"/api/datasets/{world['ds']}/sla"
    body = {"kind": "max_age", "hours": 3}
    # a viewer of the org reads the dataset but may not edit it
    assert (await client.put(url, json=body, headers=world["viewer"].headers)).status_code == 403
    # another org does not see an internal dataset at all
    for method in ("PUT", "GET", "DELETE"):
        r = await client.request(
            method, url, json=body if method == "PUT" else None, headers=world["other"].headers
        )
        assert r.status_code == 404, (method, r.text)
    assert (await client.put(url, json=body, headers=world["prod"].headers)).status_code == 200
    assert (await client.delete(url, headers=world["viewer"].headers)).status_code == 403
    assert (await client.put(url, json=body)).status_code == 401
