"""Connect's one read (issue 21): the dataset, the profile (asked for, else the caller's
default, else the organization's) and the feed window's lock in one statement. The choices and
the refusals are the same as when they were separate queries."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from fastapi import FastAPI

from tests.connect.test_endpoints import _audit, _connect, _ds, _events, _profile
from tests.factories import signed_in


async def test_concurrent_connects_of_one_person_are_one_feed_item(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    producer = await signed_in(app, client, "p@acme.test", role="producer")
    viewer = await signed_in(app, client, "v@acme.test")
    ds = await _ds(client, producer, "warehouse.sales.orders", visibility="public")
    # A double (sextuple) click: the read of each takes the window's lock, so the checks queue
    # and only the first finds no recent event.
    results = await asyncio.gather(
        *(_connect(client, viewer, ds["id"], kinds=["python"], action="copy") for _ in range(6))
    )
    assert {r["dataset_id"] for r in results} == {ds["id"]}
    assert len(await _events(raw_conn, "dataset.connected")) == 1
    assert len(await _audit(raw_conn, "dataset.connect")) == 6, "each connect is audited"


async def test_the_profile_is_chosen_in_the_read(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    alice = await signed_in(app, client, "alice@acme.test", role="producer")
    bob = await signed_in(app, client, "bob@acme.test", role="producer")
    # "postgres" is the OpenLineage spelling: the read maps it as canonical_platform does.
    ds = await _ds(client, admin, "warehouse.sales.orders", platform="postgres")
    hidden = await _ds(client, admin, "warehouse.sales.secret", visibility="private")

    none = await _connect(client, alice, ds["id"], kinds=["python"])
    assert none["profile_id"] is None and "no PostgreSQL profile" in none["warnings"][0]
    org = await _profile(client, admin, "postgresql", "Acme PG", scope="org")
    assert (await _connect(client, alice, ds["id"]))["profile_id"] == org["id"]
    mine = await _profile(client, alice, "postgresql", "mine")
    assert mine["is_default"] is True
    assert (await _connect(client, alice, ds["id"]))["profile_id"] == mine["id"], "user first"
    assert (await _connect(client, bob, ds["id"]))["profile_id"] == org["id"]
    other = await _profile(client, alice, "postgresql", "other")
    asked = await _connect(client, alice, ds["id"], profile_id=other["id"])
    assert asked["profile_id"] == other["id"]

    # Someone else's profile is not found; another platform's is a conflict; a hidden dataset
    # is not found whatever the profile. None of these is recorded.
    before = len(await _audit(raw_conn, "dataset.connect"))
    theirs = await client.post(
        f"/api/datasets/{ds['id']}/connect", json={"profile_id": mine["id"]}, headers=bob.headers
    )
    assert theirs.status_code == 404 and "profile" in theirs.json()["detail"]
    sf = await _profile(client, alice, "snowflake", "sf")
    wrong = await client.post(
        f"/api/datasets/{ds['id']}/connect", json={"profile_id": sf["id"]}, headers=alice.headers
    )
    assert wrong.status_code == 409 and "Snowflake" in wrong.json()["detail"]
    unseen = await client.post(
        f"/api/datasets/{hidden['id']}/connect",
        json={"profile_id": mine["id"]},
        headers=alice.headers,
    )
    assert unseen.status_code == 404 and "dataset" in unseen.json()["detail"]
    assert len(await _audit(raw_conn, "dataset.connect")) == before


async def test_a_platform_spelled_with_odd_whitespace_still_finds_the_default(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    alice = await signed_in(app, client, "alice@acme.test", role="producer")
    ds = await _ds(client, alice, "warehouse.sales.orders", visibility="public")
    mine = await _profile(client, alice, "postgresql", "mine")
    # PostgreSQL's btrim() trims spaces only, Python's strip() any whitespace: the read's
    # choice is checked against Python's reading and asked again when they differ.
    await raw_conn.execute(
        "UPDATE datasets SET platform = E'\\tPostgreSQL\\n' WHERE id = $1", ds["id"]
    )
    assert (await _connect(client, alice, ds["id"]))["profile_id"] == mine["id"]


async def test_the_compiled_read_carries_no_viewer_values(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # The read is compiled once per shape of viewer and request (repository._CONTEXT_SQL)
    # and never changes after: it holds SQL only, so there is nothing to invalidate. What
    # must hold is that one viewer's values never reach another viewer of the same shape.
    admin = await signed_in(app, client, "admin@acme.test", role="admin")
    alice = await signed_in(app, client, "alice@acme.test")
    eve = await signed_in(app, client, "eve@other.test", org="Other")
    internal = await _ds(client, admin, "warehouse.sales.internal", visibility="internal")
    public = await _ds(client, admin, "warehouse.sales.public", visibility="public")
    alices = await _profile(client, alice, "postgresql", "alice's")
    eves = await _profile(client, eve, "postgresql", "eve's")
    org = await _profile(client, admin, "postgresql", "Acme PG", scope="org")
    for _ in range(2):  # the first of each shape compiles, the second reuses
        assert (await _connect(client, alice, internal["id"]))["profile_id"] == alices["id"]
        hidden = await client.post(
            f"/api/datasets/{internal['id']}/connect", json={}, headers=eve.headers
        )
        assert hidden.status_code == 404, "another org's viewer does not see an internal one"
        assert (await _connect(client, eve, public["id"]))["profile_id"] == eves["id"]
        assert (await _connect(client, alice, public["id"]))["profile_id"] == alices["id"]
        r = await client.post(
            f"/api/datasets/{public['id']}/connect",
            json={"profile_id": org["id"]},
            headers=eve.headers,
        )
        assert r.status_code == 404, "another org's org-wide profile is not eve's to use"
