"""Audit scenarios for pipeline health: setting and removing a dataset's freshness SLA."""

from __future__ import annotations

from tests.audit.test_coverage import World, scenario
from tests.catalog.test_search import _ds


@scenario("PUT /api/datasets/{dataset_id}/sla")
async def _sla_set(w: World):
    ds = await _ds(w.c, w.prod, "s.fresh")
    r = await w.call(
        "PUT", f"/api/datasets/{ds['id']}/sla", w.prod, json={"kind": "daily_by", "at": "07:00"}
    )
    return r, "dataset.sla_set", w.prod.id, "dataset"


@scenario("DELETE /api/datasets/{dataset_id}/sla")
async def _sla_delete(w: World):
    ds = await _ds(w.c, w.prod, "s.fresh")
    await w.c.put(
        f"/api/datasets/{ds['id']}/sla",
        json={"kind": "max_age", "hours": 6},
        headers=w.prod.headers,
    )
    r = await w.call("DELETE", f"/api/datasets/{ds['id']}/sla", w.prod)
    return r, "dataset.sla_delete", w.prod.id, "dataset"
