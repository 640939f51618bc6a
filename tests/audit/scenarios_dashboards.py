"""Audit-coverage scenarios for /api/dashboards (loaded by ``test_coverage``)."""

from __future__ import annotations

from tests.audit.test_coverage import World, scenario

BOARD = {"title": "Orders flow", "visibility": "public"}


async def _board(w: World) -> dict:
    resp = await w.c.post("/api/dashboards", json=BOARD, headers=w.prod.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


@scenario("POST /api/dashboards")
async def _dashboard_create(w: World):
    r = await w.call("POST", "/api/dashboards", w.prod, json=BOARD)
    return r, "dashboard.create", w.prod.id, "dashboard"


@scenario("PATCH /api/dashboards/{dashboard_id}")
async def _dashboard_update(w: World):
    d = await _board(w)
    r = await w.call(
        "PATCH",
        f"/api/dashboards/{d['id']}",
        w.prod,
        json={"description": "the critical path"},
        headers={"If-Match": '"1"'},
    )
    return r, "dashboard.update", w.prod.id, "dashboard"


@scenario("DELETE /api/dashboards/{dashboard_id}")
async def _dashboard_delete(w: World):
    d = await _board(w)
    r = await w.call("DELETE", f"/api/dashboards/{d['id']}", w.admin)
    return r, "dashboard.delete", w.admin.id, "dashboard"


@scenario("POST /api/dashboards/{dashboard_id}/duplicate")
async def _dashboard_duplicate(w: World):
    d = await _board(w)
    r = await w.call("POST", f"/api/dashboards/{d['id']}/duplicate", w.admin, json={})
    return r, "dashboard.duplicate", w.admin.id, "dashboard"
