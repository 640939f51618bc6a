"""Issue 20: the people of a blast radius are read once per person (aggregated in PostgreSQL),
each with their first reasons nearest first and how many there are in all, whether the impact
comes from the lineage index or from PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.catalog.test_search import _ds
from tests.conftest import client_for, running_app
from tests.factories import Account, signed_in


async def _chain(client: httpx.AsyncClient, app: FastAPI) -> tuple[dict, Account]:
    """src -> d1 -> ... -> d7; keeper owns d1..d7, fan follows d6 and d3, gone (disabled)
    follows d2, and the producer owns them all too."""
    producer = await signed_in(app, client, "producer@acme.test", role="producer")
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    keeper = await signed_in(app, client, "keeper@acme.test", role="producer")
    fan = await signed_in(app, client, "fan@acme.test")
    gone = await signed_in(app, client, "gone@acme.test")
    src = await _ds(client, producer, "p.src", visibility="public")
    chain = [
        await _ds(client, producer, f"p.d{i}", visibility="public", owners=[producer.id, keeper.id])
        for i in range(1, 8)
    ]
    prev = src
    for ds in chain:
        r = await client.post(
            "/api/lineage/edges",
            json={"source": prev["id"], "target": ds["id"]},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text
        prev = ds
    for who, ds in ((fan, chain[5]), (fan, chain[2]), (gone, chain[1])):
        r = await client.put(f"/api/follows/{ds['id']}", headers=who.headers)
        assert r.status_code == 200, r.text
    r = await client.patch(
        f"/api/auth/users/{gone.id}", json={"disabled": True}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    return src, fan


@pytest.mark.parametrize("index", [True, False], ids=["index", "postgres"])
async def test_each_person_once_with_first_reasons_nearest_first(
    settings, clean_db: None, index: bool
) -> None:
    async with (
        running_app(settings.model_copy(update={"lineage_index": index})) as app,
        client_for(app) as client,
    ):
        src, viewer = await _chain(client, app)
        r = await client.get(
            "/api/lineage/impact", params={"node": src["id"], "limit": 2}, headers=viewer.headers
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["exact"] is index and body["totals"]["datasets"] == 7
    notify = {p["email"]: p for p in body["notify"]}
    assert list(notify) == ["fan@acme.test", "keeper@acme.test", "producer@acme.test"]
    assert body["totals"]["people"] == 3
    keeper = notify["keeper@acme.test"]
    assert keeper["reasons"] == [f"owns p.d{i}" for i in range(1, 6)]  # nearest first, five
    assert keeper["reasons_total"] == 7
    assert notify["fan@acme.test"]["reasons"] == ["follows p.d3", "follows p.d6"]
    assert notify["fan@acme.test"]["reasons_total"] == 2
    assert "gone@acme.test" not in notify  # a disabled follower is not told
