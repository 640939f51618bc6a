"""Audit-coverage scenarios for /api/alerts (loaded by ``test_coverage``)."""

from __future__ import annotations

from tests.audit.test_coverage import World, scenario

# Nothing listens on port 9 (discard): a send fails at once, which is all a scenario needs.
RULE = {
    "name": "Run failures",
    "events": ["process.run_failed"],
    "channel": {"kind": "webhook", "url": "http://127.0.0.1:9/hook"},
}


async def _rule(w: World) -> dict:
    resp = await w.c.post("/api/alerts", json=RULE, headers=w.prod.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


@scenario("POST /api/alerts")
async def _alert_create(w: World):
    r = await w.call("POST", "/api/alerts", w.prod, json=RULE)
    return r, "alert.create", w.prod.id, "alert"


@scenario("PATCH /api/alerts/{alert_id}")
async def _alert_update(w: World):
    rule = await _rule(w)
    r = await w.call("PATCH", f"/api/alerts/{rule['id']}", w.prod, json={"name": "quiet"})
    return r, "alert.update", w.prod.id, "alert"


@scenario("DELETE /api/alerts/{alert_id}")
async def _alert_delete(w: World):
    rule = await _rule(w)
    r = await w.call("DELETE", f"/api/alerts/{rule['id']}", w.prod)
    return r, "alert.delete", w.prod.id, "alert"


@scenario("POST /api/alerts/{alert_id}/test")
async def _alert_test(w: World):
    rule = await _rule(w)
    r = await w.call("POST", f"/api/alerts/{rule['id']}/test", w.prod)
    return r, "alert.test", w.prod.id, "alert"


@scenario("POST /api/alerts/{alert_id}/deliveries/{delivery_id}/redeliver")
async def _alert_redeliver(w: World):
    rule = await _rule(w)
    sent = await w.c.post(f"/api/alerts/{rule['id']}/test", headers=w.prod.headers)
    assert sent.status_code == 200, sent.text
    delivery = sent.json()["delivery_id"]
    r = await w.call("POST", f"/api/alerts/{rule['id']}/deliveries/{delivery}/redeliver", w.prod)
    return r, "alert.redeliver", w.prod.id, "alert"
