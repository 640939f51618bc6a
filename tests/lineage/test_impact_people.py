"""Issue 20: the people of a blast radius are read once per person (aggregated in PostgreSQL),
each with their first reasons nearest first and how many there are in all, whether the impact
comes from the lineage index or from PostgreSQL."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from datamesh.lineage import service
from datamesh.lineage.index import IndexEngine
from tests.catalog.test_search import _ds
from tests.conftest import client_for, running_app
from tests.factories import Account, signed_in
from tests.lineage.test_index_engine import _principal


async def _chain(client: httpx.AsyncClient, app: FastAPI) -> tuple[dict, dict[str, Account]]:
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
    return src, {"fan": fan, "producer": producer, "admin": admin, "keeper": keeper}


@pytest.mark.parametrize("index", [True, False], ids=["index", "postgres"])
async def test_each_person_once_with_first_reasons_nearest_first(
    settings, clean_db: None, index: bool
) -> None:
    async with (
        running_app(settings.model_copy(update={"lineage_index": index})) as app,
        client_for(app) as client,
    ):
        src, accounts = await _chain(client, app)
        viewer = accounts["fan"]
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


async def _both_engines(app: FastAPI, start: str, emails: list[str]) -> None:
    """The impact each of these viewers gets from the index equals the PostgreSQL engine's."""
    index = service.engine_for(app.state)
    assert isinstance(index, IndexEngine)
    async with app.state.sessionmaker() as s:
        for email in emails:
            p = await _principal(app, email)
            pg = await service.impact(s, p, service.POSTGRES, start, 20, 5000)
            ix = await service.impact(s, p, index, start, 20, 5000)
            assert ix | {"exact": False} == pg, email


async def test_the_index_holds_the_people_and_agrees_with_postgres_after_changes(
    settings, clean_db: None
) -> None:
    """Owners (users and names from ownership facets) and followers read from the index's
    arrays after a build; after follows, unfollows, owner changes, a disabled follower and a
    renamed owner, the changed datasets are asked of PostgreSQL and the answer is the same."""
    viewers = ["fan@acme.test", "admin@acme.test", "keeper@acme.test", "producer@acme.test"]
    async with (
        running_app(settings.model_copy(update={"lineage_index": True})) as app,
        client_for(app) as client,
    ):
        src, accounts = await _chain(client, app)
        fan, producer = accounts["fan"], accounts["producer"]
        admin, keeper = accounts["admin"], accounts["keeper"]
        secret = await signed_in(app, client, "secret@acme.test", role="producer")
        late = await signed_in(app, client, "late@acme.test")
        chain = (
            await client.get(
                "/api/lineage/impact", params={"node": src["id"]}, headers=admin.headers
            )
        ).json()["items"]
        by_name = {i["name"]: i["id"] for i in chain}
        # Owners named by ownership facets, spelled differently on different datasets.
        for name, named in (("p.d2", ["Team Data", "ops"]), ("p.d4", ["TEAM DATA"])):
            r = await client.patch(
                f"/api/datasets/{by_name[name]}",
                json={"named_owners": named},
                headers=admin.headers,
            )
            assert r.status_code == 200, r.text
        # Names of several bytes per character (the index holds them as UTF-8), and a private
        # dataset that only its owner (and admins) may read, both below p.d7.
        uni = await signed_in(app, client, "uni@acme.test")
        wide = await _ds(client, producer, "p.naïve_表", visibility="public", owners=[uni.id])
        hidden = await _ds(client, secret, "p.hidden", visibility="private", owners=[secret.id])
        for below in (wide, hidden):
            r = await client.post(
                "/api/lineage/edges",
                json={"source": by_name["p.d7"], "target": below["id"]},
                headers=admin.headers,
            )
            assert r.status_code == 201, r.text
        index = service.engine_for(app.state)
        assert isinstance(index, IndexEngine)
        index.index = None  # built now: every dataset's people in its arrays
        await index.start_build()
        ix = index.index
        assert ix is not None and ix.people[1].size >= 7 * 2 + 3 + 3 + 2
        assert not ix.people_stale[: ix.sorted_count].any()
        assert set(ix.names_of(np.arange(ix.sorted_count))) >= {"p.d1", "p.naïve_表"}
        await _both_engines(app, src["id"], viewers)
        fan_view = (
            await client.get("/api/lineage/impact", params={"node": src["id"]}, headers=fan.headers)
        ).json()
        assert fan_view["totals"]["hidden_owners"] == 1  # secret: counted, never named
        told = {p["email"]: p for p in fan_view["notify"]}
        assert told["uni@acme.test"]["reasons"] == ["owns p.naïve_表"]
        named = {p["name"]: p for p in fan_view["notify"] if p["id"] is None}
        assert set(named) == {"Team Data", "ops"}  # one per lowercased name, nearest spelling
        assert named["Team Data"]["reasons"] == ["owns p.d2", "owns p.d4"]

        # Changes after the build.
        for who, ds, verb in (
            (fan, "p.d3", "DELETE"),
            (late, "p.d4", "PUT"),
            (late, "p.d1", "PUT"),
        ):
            r = await client.request(verb, f"/api/follows/{by_name[ds]}", headers=who.headers)
            assert r.status_code == 200, r.text
        r = await client.patch(
            f"/api/datasets/{by_name['p.d2']}",
            json={"owners": [producer.id], "named_owners": ["Ops", "Platform"]},
            headers=admin.headers,
        )
        assert r.status_code == 200, r.text
        for body in ({"disabled": True}, {"name": "Keeper Renamed"}):
            who = late if "disabled" in body else keeper
            r = await client.patch(f"/api/auth/users/{who.id}", json=body, headers=admin.headers)
            assert r.status_code == 200, r.text
        await _both_engines(app, src["id"], viewers)
        ix = index.index
        assert ix is not None and 0 < int(ix.people_stale[: ix.sorted_count].sum()) < 9
        after = (
            await client.get("/api/lineage/impact", params={"node": src["id"]}, headers=fan.headers)
        ).json()
    notify = {p["email"]: p for p in after["notify"]}
    assert "late@acme.test" not in notify  # disabled since: its follows are not told
    assert notify["keeper@acme.test"]["name"] == "Keeper Renamed"
    assert notify["keeper@acme.test"]["reasons_total"] == 6  # no longer owns p.d2
    assert notify["fan@acme.test"]["reasons"] == ["follows p.d6"]
    named = {p["name"]: p for p in after["notify"] if p["id"] is None}
    assert set(named) == {"Ops", "Platform", "TEAM DATA"}
