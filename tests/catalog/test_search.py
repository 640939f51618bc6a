"""Search: ranking, prefix and typo tolerance, filters, facets, and visibility everywhere."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.catalog import repository as repo
from datamesh.db import configured_engine, make_engine
from tests.factories import Account, signed_in


async def _ds(client: httpx.AsyncClient, who: Account, name: str, **kw: object) -> dict:
    body = {
        "namespace": kw.pop("namespace", "postgres://db:5432"),
        "name": name,
        "platform": kw.pop("platform", "postgresql"),
        **kw,
    }
    resp = await client.post("/api/datasets", json=body, headers=who.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def _search(client: httpx.AsyncClient, who: Account, **params: object) -> dict:
    resp = await client.get("/api/datasets", params=params, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def names(result: dict) -> list[str]:
    return [i["name"] for i in result["items"]]


async def test_exact_then_prefix_then_description(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    await _ds(client, prod, "shop.customers", description="People who placed orders in the shop")
    await _ds(client, prod, "shop.orders_archive", description="Old rows")
    await _ds(client, prod, "shop.orders", description="Current rows")
    await _ds(client, prod, "shop.invoices", description="Billing")
    result = await _search(client, prod, query="orders")
    assert names(result) == ["shop.orders", "shop.orders_archive", "shop.customers"]
    assert result["total"] == 3


async def test_prefix_typo_and_identifier_splitting(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    await _ds(client, prod, "ANALYTICS.PUBLIC.ORDERS")
    await _ds(client, prod, "sales.customer_orders_daily")
    await _ds(client, prod, "hr.employees")
    assert "ANALYTICS.PUBLIC.ORDERS" in names(await _search(client, prod, query="ord"))
    assert "ANALYTICS.PUBLIC.ORDERS" in names(await _search(client, prod, query="ordres"))
    assert names(await _search(client, prod, query="customer daily")) == [
        "sales.customer_orders_daily"
    ]
    assert names(await _search(client, prod, query="employee")) == ["hr.employees"]


async def test_web_search_syntax(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    await _ds(client, prod, "a.t1", description="daily revenue by region")
    await _ds(client, prod, "a.t2", description="revenue by day and region")
    await _ds(client, prod, "a.t3", description="weekly churn")
    assert names(await _search(client, prod, query='"revenue by region"')) == ["a.t1"]
    assert set(names(await _search(client, prod, query="revenue -daily"))) == {"a.t2"}
    assert set(names(await _search(client, prod, query="churn or daily"))) == {"a.t1", "a.t3"}


async def test_fields_tags_and_domain_are_searchable(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    await _ds(
        client, prod, "x.users", fields=[{"name": "emailAddress"}], tags=["pii"], domain="identity"
    )
    for q in ("email", "pii", "identity"):
        assert names(await _search(client, prod, query=q)) == ["x.users"], q


async def test_filters_and_facets(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    await _ds(
        client,
        prod,
        "s.a",
        platform="snowflake",
        namespace="snowflake://x",
        tags=["gold"],
        domain="sales",
    )
    await _ds(
        client,
        prod,
        "s.b",
        platform="snowflake",
        namespace="snowflake://x",
        tags=["gold", "pii"],
        domain="sales",
    )
    await _ds(
        client,
        prod,
        "b.c",
        platform="bigquery",
        namespace="bigquery",
        tags=["pii"],
        domain="marketing",
    )
    everything = await _search(client, prod)
    assert everything["total"] == 3
    facets = {k: {f["value"]: f["count"] for f in v} for k, v in everything["facets"].items()}
    assert facets["platform"] == {"snowflake": 2, "bigquery": 1}
    assert facets["tag"] == {"gold": 2, "pii": 2}
    assert facets["domain"] == {"sales": 2, "marketing": 1}
    assert everything["facets"]["org"][0]["label"] == "Acme"
    only = await _search(client, prod, platform="snowflake", tag="pii")
    assert names(only) == ["s.b"]
    assert {f["value"]: f["count"] for f in only["facets"]["platform"]} == {"snowflake": 1}
    assert names(await _search(client, prod, owner=prod.id, sort="name")) == ["b.c", "s.a", "s.b"]


async def test_pagination_never_repeats(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    for i in range(7):
        await _ds(client, prod, f"t.orders_{i}", description="orders")
    for sort in ("relevance", "updated", "name"):
        seen, cursor = [], None
        while True:
            params = {"query": "orders", "limit": 3, "sort": sort} | (
                {"cursor": cursor} if cursor else {}
            )
            page = await _search(client, prod, **params)
            seen += names(page)
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(f"t.orders_{i}" for i in range(7)), sort
        assert len(seen) == len(set(seen))


# -- visibility: every role x org x visibility, on search, facets and get -------------------------
@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient) -> dict:
    owner = await signed_in(app, client, "owner@acme.test", role="producer")
    users = {
        "owner": owner,
        "acme_admin": await signed_in(app, client, "admin@acme.test", role="admin"),
        "acme_steward": await signed_in(app, client, "steward@acme.test", role="steward"),
        "acme_producer": await signed_in(app, client, "producer@acme.test", role="producer"),
        "acme_viewer": await signed_in(app, client, "viewer@acme.test", role="viewer"),
        "globex_admin": await signed_in(
            app, client, "admin@globex.test", role="admin", org="Globex"
        ),
        "globex_viewer": await signed_in(
            app, client, "viewer@globex.test", role="viewer", org="Globex"
        ),
        "platform_admin": await signed_in(
            app, client, "root@globex.test", role="admin", org="Globex", platform_admin=True
        ),
    }
    datasets = {
        vis: await _ds(
            client,
            owner,
            f"secretive.{vis}_table",
            visibility=vis,
            tags=[f"tag-{vis}"],
            platform=PLATFORM_OF[vis],
        )
        for vis in ("public", "internal", "private")
    }
    return {"users": users, "datasets": datasets}


# A platform only that dataset is on, so its facet count shows whether it was counted.
PLATFORM_OF = {"public": "hive", "internal": "mysql", "private": "trino"}

EXPECTED = {
    # who: visibilities they may see
    "owner": {"public", "internal", "private"},
    "acme_admin": {"public", "internal", "private"},
    "acme_steward": {"public", "internal", "private"},
    "acme_producer": {"public", "internal"},
    "acme_viewer": {"public", "internal"},
    "globex_admin": {"public"},
    "globex_viewer": {"public"},
    "platform_admin": {"public"},
}


async def test_visibility_matrix(world: dict, client: httpx.AsyncClient) -> None:
    for who, vis in itertools.product(EXPECTED, ("public", "internal", "private")):
        await _check_visibility(world, client, who, vis)


async def _check_visibility(world: dict, client: httpx.AsyncClient, who: str, vis: str) -> None:
    user = world["users"][who]
    ds = world["datasets"][vis]
    allowed = vis in EXPECTED[who]
    got = await client.get(f"/api/datasets/{ds['id']}", headers=user.headers)
    assert got.status_code == (200 if allowed else 404)
    if not allowed:
        assert ds["name"] not in got.text
    for params in ({}, {"query": f"{vis}_table"}, {"query": "secretive"}, {"tag": f"tag-{vis}"}):
        result = await _search(client, user, **params)
        assert (ds["name"] in names(result)) == allowed, params
        platforms = {f["value"] for f in result["facets"]["platform"]}
        tags = {f["value"] for f in result["facets"]["tag"]}
        # facet counts never reveal a hidden dataset
        assert (PLATFORM_OF[vis] in platforms) == allowed
        assert (f"tag-{vis}" in tags) == allowed
        if not allowed:
            assert ds["id"] not in str(result)
    total = (await _search(client, user, query="secretive"))["total"]
    assert total == len(EXPECTED[who])


async def test_other_org_cannot_edit_even_public(world: dict, client: httpx.AsyncClient) -> None:
    public = world["datasets"]["public"]
    other = world["users"]["globex_admin"]
    r = await client.patch(
        f"/api/datasets/{public['id']}", json={"description": "defaced"}, headers=other.headers
    )
    assert r.status_code == 403
    hidden = world["datasets"]["private"]
    r = await client.patch(
        f"/api/datasets/{hidden['id']}", json={"description": "x"}, headers=other.headers
    )
    assert r.status_code == 404


async def test_stream_predicate_agrees_with_sql_readable(world: dict, app: FastAPI) -> None:
    """The live stream decides in memory; it must decide exactly as the SQL filter does."""
    import uuid

    from datamesh.auth.principal import Principal
    from datamesh.catalog import policies, repository

    async with app.state.sessionmaker() as session:
        info = await repository.visibility_info(
            session, [uuid.UUID(d["id"]) for d in world["datasets"].values()]
        )
        for acct in world["users"].values():
            for role_override in (None, "admin", "steward", "producer", "viewer"):
                p = Principal(
                    kind="user",
                    id=uuid.UUID(acct.id),
                    name=acct.email,
                    org_id=uuid.UUID(acct.org_id),
                    role=role_override or acct.role,  # type: ignore[arg-type]
                    user_id=uuid.UUID(acct.id),
                )
                sql = set(await session.scalars(repository.readable_ids(p)))
                for ds_id, (vis, org_id, owners) in info.items():
                    assert policies.can_read(p, vis, org_id, owners) == (ds_id in sql), (
                        acct.email,
                        vis,
                    )


async def test_text_filters_every_sort_order(app: FastAPI, client: httpx.AsyncClient) -> None:
    prod = await signed_in(app, client, "p@acme.test", role="producer")
    await _ds(client, prod, "s.orders")
    await _ds(client, prod, "s.invoices")
    for sort in ("relevance", "name", "updated"):
        found = await _search(client, prod, query="orders", sort=sort)
        assert names(found) == ["s.orders"], sort
        none = await _search(client, prod, query="zzzz-nothing-like-this", sort=sort)
        assert none["items"] == [] and none["total"] == 0, sort


async def test_name_candidates_are_read_in_order_from_one_index(session: AsyncSession) -> None:
    """The prefix candidates come from ix_datasets_short_name_c in order, with no sort of every
    match (a text_pattern_ops index could only find them: 4,000 rows read and sorted for a
    common word at 100k datasets). Scans the planner might prefer on a small table are off."""
    conn = await session.connection()
    compiled = repo.name_candidates([], repo._text_terms("orders")).compile(dialect=conn.dialect)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    await session.execute(text("SET LOCAL enable_bitmapscan = off"))
    found = await conn.exec_driver_sql(f"EXPLAIN {compiled}", params)
    plan = "\n".join(r[0] for r in found)
    assert "Index Scan using ix_datasets_short_name_c" in plan, plan
    assert "Sort" not in plan, plan


async def test_text_searches_are_planned_for_their_own_words(session: AsyncSession) -> None:
    """Every word runs the same statements; a generic plan (PostgreSQL's choice after five runs)
    cannot use the name index for `LIKE $1`, so each text search plans with its values: on
    connections that carry that setting, the typo threshold and no sequential scans from their
    start, outside any transaction; the app's other connections keep PostgreSQL's defaults."""
    names = [*repo.SEARCH_SETTINGS, "application_name"]
    show = text("SELECT " + ", ".join(f"current_setting('{n}', true)" for n in names))
    for _ in range(7):  # past the five custom plans PostgreSQL makes before a generic one
        await repo.search(session, None, repo.SearchQuery(text="orders"))
    engine = configured_engine(session.bind, "search", repo.SEARCH_SETTINGS)
    assert engine.sync_engine.pool.checkedin() >= 1  # the searches used it
    async with engine.connect() as conn:
        assert (await conn.execute(show)).one() == (
            *repo.SEARCH_SETTINGS.values(),
            "datamesh-search",
        )
        raw = await conn.get_raw_connection()
        assert not raw.driver_connection.is_in_transaction()  # no BEGIN was sent
    own = (await session.execute(show)).one()
    assert (own[1], own[2], own[3]) == ("auto", "on", "datamesh")


async def test_the_search_connections_close_with_the_app_engine(app: FastAPI) -> None:
    """The search's pool is made on first use next to an engine and closed when that engine
    is disposed (no connection left open on the database)."""
    engine = make_engine(app.state.database_url, app.state.settings)
    search = configured_engine(engine, "search", repo.SEARCH_SETTINGS)
    assert configured_engine(engine, "search", repo.SEARCH_SETTINGS) is search  # one per engine
    async with search.connect() as conn:
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
    assert search.sync_engine.pool.checkedin() == 1
    await engine.dispose()
    assert search.sync_engine.pool.checkedin() == 0
    gone = text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")
    # The backend leaves pg_stat_activity as it exits; each look is a transaction of its own
    # (the view is a snapshot per transaction).
    for _ in range(200):
        async with app.state.engine.connect() as conn:
            if await conn.scalar(gone, {"pid": pid}):
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the search connection's backend is still there")
