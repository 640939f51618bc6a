"""The hot read paths (ADR 0012): a profile is read by one statement, outside any transaction
when the request has none (no BEGIN/COMMIT round trips), inside the request's transaction when
it has one (it sees that transaction's own writes); a text search sends its page and its
counts in two statements on connections that carry its settings, outside any transaction, and
names the orgs it shows."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal
from datamesh.catalog import repository as repo
from datamesh.db import configured_engine
from datamesh.models.catalog import Dataset
from tests.factories import signed_in

BODY = {"namespace": "postgres://db:5432", "name": "shop.orders", "platform": "postgresql"}


class _Sent:
    """The statements this task sends on the app's engine and on search's (``engine`` names
    which), and whether the database had a transaction open after each (asyncpg's own view of
    the protocol's state)."""

    def __init__(self, app: FastAPI) -> None:
        search = configured_engine(app.state.engine, "search", repo.SEARCH_SETTINGS)
        self.engines = {"app": app.state.engine.sync_engine, "search": search.sync_engine}
        self.task = asyncio.current_task()
        self.statements: list[tuple[str, bool]] = []
        self.engine: list[str] = []

    def _after(self, conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if asyncio.current_task() is self.task:
            driver = conn.connection.driver_connection
            self.statements.append((statement, driver.is_in_transaction()))
            self.engine.append(next(k for k, e in self.engines.items() if e is conn.engine))

    def __enter__(self) -> _Sent:
        for engine in self.engines.values():
            event.listen(engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_: object) -> None:
        for engine in self.engines.values():
            event.remove(engine, "after_cursor_execute", self._after)


async def test_a_profile_read_is_one_statement_outside_a_transaction(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    created = await client.post("/api/datasets", json=BODY, headers=prod.headers)
    assert created.status_code == 201, created.text
    url = f"/api/datasets/{created.json()['id']}"
    await app.state.stream_hub.connected.wait()  # the auth cache serves only while it listens
    assert (await client.get(url, headers=prod.headers)).status_code == 200
    hits = app.state.auth_cache.counts["hit"]
    with _Sent(app) as sent:
        got = await client.get(url, headers=prod.headers)
    assert got.status_code == 200, got.text
    assert got.json()["name"] == "shop.orders" and got.json()["org"]["name"] == "Acme"
    assert got.headers["etag"] == created.headers["etag"]
    assert app.state.auth_cache.counts["hit"] == hits + 1, "authentication read nothing"
    assert len(sent.statements) == 1, sent.statements
    statement, in_transaction = sent.statements[0]
    assert "FROM datasets" in statement
    assert in_transaction is False, "no BEGIN was sent: the read ran in AUTOCOMMIT"


async def test_a_read_sees_its_transactions_writes_and_others_see_them_at_commit(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    created = await client.post("/api/datasets", json=BODY, headers=prod.headers)
    assert created.status_code == 201, created.text
    ds_id = uuid.UUID(created.json()["id"])
    p = Principal(
        kind="user",
        id=uuid.UUID(prod.id),
        name="p",
        org_id=uuid.UUID(prod.org_id),
        role="producer",
        user_id=uuid.UUID(prod.id),
    )
    await session.execute(update(Dataset).where(Dataset.id == ds_id).values(description="new"))
    mine = await repo.get_with_extras(session, ds_id, p)
    assert mine is not None and mine[0].description == "new", "its own uncommitted write"
    url = f"/api/datasets/{ds_id}"
    assert (await client.get(url, headers=prod.headers)).json()["description"] == ""
    await session.commit()
    assert (await client.get(url, headers=prod.headers)).json()["description"] == "new"


async def test_a_text_search_sends_two_statements_and_names_the_orgs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    for name in ("shop.orders", "shop.orders_archive", "hr.employees"):
        r = await client.post("/api/datasets", json={**BODY, "name": name}, headers=prod.headers)
        assert r.status_code == 201, r.text
    await app.state.stream_hub.connected.wait()
    assert (await client.get("/api/datasets", headers=prod.headers)).status_code == 200
    with _Sent(app) as sent:
        # one word and few exact matches: the typo neighbours are part of the same statement
        r = await client.get("/api/datasets", params={"query": "ordrs"}, headers=prod.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["name"] for i in body["items"]] == ["shop.orders"]
    assert body["items"][0]["org"]["name"] == "Acme"
    assert [(f["label"], f["count"]) for f in body["facets"]["org"]] == [("Acme", 1)]
    assert body["total"] == 1
    # The page and the counts, on search's connections, with no BEGIN, settings or COMMIT.
    assert len(sent.statements) == 2, [s for s, _ in sent.statements]
    assert sent.engine == ["search", "search"]
    assert not any("set_config" in s for s, _ in sent.statements)
    assert not any(in_transaction for _, in_transaction in sent.statements)


async def test_a_statement_built_for_one_search_serves_the_next_with_its_own_values(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Search statements are built once per shape: the next viewer of the same shape (another
    org) and the next filter value get their own results, never the first request's."""
    acme = await signed_in(app, client, "p@acme.test", role="producer")
    globex = await signed_in(app, client, "p@globex.test", role="producer", org="Globex")
    for who, name, platform in ((acme, "acme.orders", "hive"), (globex, "globex.orders", "trino")):
        body = {**BODY, "name": name, "platform": platform, "visibility": "internal"}
        r = await client.post("/api/datasets", json=body, headers=who.headers)
        assert r.status_code == 201, r.text
    repo._statements.cache_clear()
    for who, expected in ((acme, ["acme.orders"]), (globex, ["globex.orders"])):
        r = await client.get("/api/datasets", params={"query": "orders"}, headers=who.headers)
        assert [i["name"] for i in r.json()["items"]] == expected
    for platform, expected in (("hive", ["acme.orders"]), ("trino", [])):
        params = {"query": "orders", "platform": platform}
        r = await client.get("/api/datasets", params=params, headers=acme.headers)
        assert [i["name"] for i in r.json()["items"]] == expected, platform
    assert repo._statements.cache_info().currsize == 2, "one shape per filter set"
