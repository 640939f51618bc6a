"""One event fanned out to several readers: readers who see its blast radius alike share one
impact, and every reader's payload still carries exactly what ``GET /api/lineage/impact``
gives that reader (other orgs and owners of a private dataset in the radius see otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from datamesh.alerts import service
from datamesh.config import Settings
from tests.alerts.support import dataset, rule, touch, until
from tests.factories import Account, signed_in
from tests.fixtures.receiver import Receiver
from tests.monitoring.support import WH, run, send


@pytest.fixture(params=[True, False], ids=["index", "walk"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """On the lineage index and on the PostgreSQL walk (the two ways ``impact`` answers)."""
    return settings.model_copy(update={"lineage_index": request.param})


async def _endpoint_impact(c: httpx.AsyncClient, who: Account, node: str) -> dict[str, Any]:
    r = await c.get("/api/lineage/impact", params={"node": node, "limit": 10}, headers=who.headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_readers_alike_share_one_impact_and_each_gets_the_endpoints_own(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    admin = await signed_in(app, client, "adm@acme.test", role="admin")
    ann = await signed_in(app, client, "ann@acme.test", role="viewer")
    cid = await signed_in(app, client, "cid@acme.test", role="viewer")
    bob = await signed_in(app, client, "bob@acme.test", role="viewer")  # owns mart.secret
    gus = await signed_in(app, client, "gus@globex.test", org="Globex", role="viewer")
    orders = await dataset(client, admin, "shop.orders", namespace=WH, visibility="public")
    await dataset(client, admin, "mart.revenue", namespace=WH, visibility="internal")
    await dataset(client, admin, "mart.secret", namespace=WH, visibility="private", owners=[bob.id])
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    await send(client, admin, run("revenue", ["shop.orders"], ["mart.revenue"], start=start))
    await send(client, admin, run("secret", ["shop.orders"], ["mart.secret"], start=start))
    readers = {"ann": ann, "cid": cid, "bob": bob, "gus": gus}
    for name, who in readers.items():
        await rule(
            client,
            who,
            {"kind": "webhook", "url": receiver.url(f"/{name}")},
            scope={"datasets": [orders["id"]]},
        )
    await touch(client, admin, orders["id"], "a change everyone downstream hears of")
    await until(lambda: len(receiver.received) >= len(readers), "one call per reader")
    assert len(receiver.received) == len(readers)
    bodies = {c.path.strip("/"): c.json() for c in receiver.received}
    assert {b["subject"]["id"] for b in bodies.values()} == {orders["id"]}
    for name, who in readers.items():
        got, want = bodies[name]["impact"], await _endpoint_impact(client, who, orders["id"])
        totals = want["totals"]
        assert (got["datasets"], got["processes"]) == (totals["datasets"], totals["processes"])
        assert (got["people"], got["restricted"]) == (totals["people"], totals["restricted"])
        assert [t["id"] for t in got["top"]] == [i["id"] for i in want["items"]], name
        assert [t["restricted"] for t in got["top"]] == [i["restricted"] for i in want["items"]]
        assert [(n["name"], n["email"]) for n in got["notify"]] == [
            (n["name"], n["email"]) for n in want["notify"]
        ]
    radius = bodies["ann"]["impact"]
    assert radius["datasets"] == 2 and radius["processes"] == 2
    # Bob sees the private table he owns; Globex sees neither Acme's processes nor its
    # internal table; Ann and Cid see the same, and were given one impact computed once.
    assert bodies["bob"]["impact"]["restricted"] == radius["restricted"] - 1 == 0
    assert bodies["gus"]["impact"]["restricted"] == 4
    assert bodies["cid"]["impact"] == radius
    event_id = bodies["ann"]["id"]
    cached = {
        key[2]: entry[2].result()
        for key, entry in service._impact_cache.items()
        if str(key[0]) == event_id
    }
    by_user = {
        name: cached[next(k for k in cached if str(k) == who.id)] for name, who in readers.items()
    }
    assert by_user["ann"] is by_user["cid"]
    assert by_user["bob"] is not by_user["ann"] and by_user["gus"] is not by_user["ann"]
