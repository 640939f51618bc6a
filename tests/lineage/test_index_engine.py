"""The lineage index as the default graph engine: the same answers as the PostgreSQL engine and
the Bolt projection, read-your-writes across workers, and PostgreSQL answering while it is not
ready or too far behind."""

from __future__ import annotations

import itertools
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal, for_user
from datamesh.config import Settings
from datamesh.events.consumer import Position
from datamesh.lineage import projection, service
from datamesh.lineage.bolt import BoltGraph
from datamesh.lineage.index import IndexEngine
from datamesh.models.identity import User
from tests.catalog.test_search import _ds
from tests.conftest import client_for, running_app
from tests.factories import signed_in
from tests.lineage.test_engines import _scenario, bolt_app

__all__ = ["bolt_app"]  # the fixture, shared with the Bolt engine tests


async def _principal(app: FastAPI, email: str) -> Principal:
    """The user's principal as sign-in makes it (their real role: an admin is elevated)."""
    async with app.state.sessionmaker() as s:
        user = await s.scalar(select(User).where(User.email == email))
        assert user is not None
        return for_user(user)


async def test_index_postgres_and_bolt_give_the_same_answers(
    bolt_app: FastAPI, graph: BoltGraph
) -> None:
    async with client_for(bolt_app) as c:
        starts = await _scenario(bolt_app, c)
        # Someone of another org: what it may not see is restricted, on every engine alike.
        await signed_in(bolt_app, c, "other@globex.test", org="Globex", role="producer")
    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    index = IndexEngine(bolt_app.state.sessionmaker)
    await index.start_build()
    bolt = bolt_app.state.graph_engine
    async with bolt_app.state.sessionmaker() as s:
        for email in ("p@acme.test", "other@globex.test"):
            p = await _principal(bolt_app, email)
            for start, direction, depth, cap in itertools.product(
                starts, ("upstream", "downstream", "both"), (0, 1, 2, 5, 20), (3, 5000)
            ):
                try:
                    pg = await service.graph(s, p, service.POSTGRES, start, direction, depth, cap)
                except Exception as exc:  # a node the viewer may not see: 404 on every engine
                    with pytest.raises(type(exc)):
                        await service.graph(s, p, index, start, direction, depth, cap)
                    continue
                ix = await service.graph(s, p, index, start, direction, depth, cap)
                bo = await service.graph(s, p, bolt, start, direction, depth, cap)
                assert (ix["engine"], bo["engine"]) == ("index", "bolt")
                want = (pg["nodes"], pg["edges"], pg["truncated"])
                assert (ix["nodes"], ix["edges"], ix["truncated"]) == want, (start, direction)
                assert (bo["nodes"], bo["edges"], bo["truncated"]) == want, (start, direction)
                if depth:
                    pi = await service.impact(s, p, service.POSTGRES, start, depth, cap)
                    ii = await service.impact(s, p, index, start, depth, cap)
                    assert (pi["exact"], ii["exact"]) == (False, True)
                    if not pi["truncated"]:  # the same answer, but the index says it is exact
                        assert ii | {"exact": False} == pi
                    else:  # a cut walk: the index still counts everything, and pages the rest
                        total = ii["totals"]["datasets"] + ii["totals"]["processes"]
                        assert total > pi["totals"]["datasets"] + pi["totals"]["processes"]
                        assert len(ii["items"]) == min(cap, total)
                        assert (ii["next_cursor"] is not None) == (total > cap)


async def test_an_edge_written_on_one_worker_is_seen_at_once_on_another(
    app: FastAPI, settings: Settings
) -> None:
    async with running_app(settings, migrate_on_start=False) as other:
        assert isinstance(app.state.graph_engine, IndexEngine)
        assert isinstance(other.state.graph_engine, IndexEngine)
        async with client_for(app) as c, client_for(other) as c2:
            prod = await signed_in(app, c, "p@acme.test", role="producer")
            a, b = await _ds(c, prod, "s.first"), await _ds(c, prod, "s.second")
            before = (
                await c2.get("/api/lineage/graph", params={"node": a["id"]}, headers=prod.headers)
            ).json()
            assert [n["id"] for n in before["nodes"]] == [a["id"]]
            r = await c.post(
                "/api/lineage/edges",
                json={"source": a["id"], "target": b["id"]},
                headers=prod.headers,
            )
            assert r.status_code == 201
            after = (
                await c2.get("/api/lineage/graph", params={"node": a["id"]}, headers=prod.headers)
            ).json()
            assert after["engine"] == "index"
            assert {n["id"] for n in after["nodes"]} == {a["id"], b["id"]}
            assert after["edges"] == [{"source": a["id"], "target": b["id"]}]
            impact = (
                await c2.get("/api/lineage/impact", params={"node": a["id"]}, headers=prod.headers)
            ).json()
            assert [i["id"] for i in impact["items"]] == [b["id"]]
            # And a removal, the other way round.
            assert (
                await c2.delete(f"/api/lineage/edges/{r.json()['id']}", headers=prod.headers)
            ).status_code == 204
            gone = (
                await c.get("/api/lineage/graph", params={"node": a["id"]}, headers=prod.headers)
            ).json()
            assert (gone["engine"], gone["edges"]) == ("index", [])


async def test_postgres_answers_while_the_index_is_not_ready_or_too_far_behind(
    app: FastAPI,
) -> None:
    engine = app.state.graph_engine
    assert isinstance(engine, IndexEngine) and engine.index is not None
    async with client_for(app) as c:
        prod = await signed_in(app, c, "p@acme.test", role="producer")
        a, b = await _ds(c, prod, "s.first"), await _ds(c, prod, "s.second")
        link = {"source": a["id"], "target": b["id"]}
        assert (await c.post("/api/lineage/edges", json=link, headers=prod.headers)).is_success

        async def walk() -> dict[str, object]:
            r = await c.get("/api/lineage/graph", params={"node": a["id"]}, headers=prod.headers)
            assert r.status_code == 200
            body: dict[str, object] = r.json()
            return body

        await engine.stop()  # no push catch-up behind the test's back (nothing is written)
        engine.index.cursor = Position(0)  # as if it had missed everything
        engine.max_lag = 0
        behind = await walk()
        assert behind["engine"] == "postgres"  # too far behind: never a stale answer
        assert len(behind["edges"]) == 1  # type: ignore[arg-type]
        await engine.start_build()  # the rebuild it asked for
        engine.max_lag = 10_000
        fresh = await walk()
        assert (fresh["engine"], fresh["edges"]) == ("index", behind["edges"])

        engine.index = None  # being (re)built: PostgreSQL answers, the build is started
        assert (await walk())["engine"] == "postgres"
        await engine.start_build()
        assert (await walk())["engine"] == "index"
        assert engine.index is not None and engine.index.position > 0
        assert engine.index.number(uuid.UUID(a["id"])) is not None


async def test_impact_is_exact_beyond_the_node_cap_pages_and_exports_everything(
    settings: Settings, clean_db: None
) -> None:
    capped = settings.model_copy(update={"lineage_max_nodes": 3})
    async with running_app(capped, migrate_on_start=False) as app, client_for(app) as c:
        prod = await signed_in(app, c, "p@acme.test", role="producer")
        other = await signed_in(app, c, "o@globex.test", org="Globex", role="producer")
        chain = [await _ds(c, prod, f"s.t{i}", visibility="public") for i in range(6)]
        hidden = await _ds(c, other, "g.secret", visibility="private")
        for a, b in itertools.pairwise(chain):
            link = {"source": a["id"], "target": b["id"]}
            assert (await c.post("/api/lineage/edges", json=link, headers=prod.headers)).is_success
        # Globex reads t1 into its private table: Acme's blast radius includes it, unnamed.
        link = {"source": chain[1]["id"], "target": hidden["id"]}
        assert (await c.post("/api/lineage/edges", json=link, headers=other.headers)).is_success

        params = {"node": chain[0]["id"], "limit": "2"}
        first = (await c.get("/api/lineage/impact", params=params, headers=prod.headers)).json()
        assert first["exact"] is True and first["truncated"] is False
        assert first["totals"] == {
            "datasets": 6,
            "processes": 0,
            "restricted": 1,
            "people": 1,
            "hidden_owners": 1,  # Globex's owner of its private table: counted, never named
        }
        assert first["by_distance"] == [
            {"distance": d, "count": n} for d, n in ((1, 1), (2, 2), (3, 1), (4, 1), (5, 1))
        ]
        assert first["by_platform"] == [{"platform": "postgresql", "count": 5}]
        items = list(first["items"])
        cursor = first["next_cursor"]
        while cursor:
            page = (
                await c.get(
                    "/api/lineage/impact", params=params | {"cursor": cursor}, headers=prod.headers
                )
            ).json()
            assert page["totals"] == first["totals"]
            items += page["items"]
            cursor = page["next_cursor"]
        assert [i["distance"] for i in items] == [1, 2, 2, 3, 4, 5]
        named = [i["name"] for i in items if not i["restricted"]]
        assert named == [f"s.t{i}" for i in range(1, 6)]
        secret = next(i for i in items if i["restricted"])
        assert secret["name"] is None and secret["id"] != hidden["id"]

        export = await c.get(
            "/api/lineage/impact/export",
            params={"node": chain[0]["id"], "format": "csv"},
            headers=prod.headers,
        )
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        lines = export.text.strip().splitlines()
        assert lines[0].startswith("distance,kind,id")
        assert len(lines) == 7 and "g.secret" not in export.text and hidden["id"] not in export.text
        bad = await c.get(
            "/api/lineage/impact", params=params | {"cursor": "WyJ4Il0"}, headers=prod.headers
        )
        assert bad.status_code == 400
        # A node the caller may not see: 404, on the export too.
        nope = await c.get(
            "/api/lineage/impact/export", params={"node": hidden["id"]}, headers=prod.headers
        )
        assert nope.status_code == 404


async def test_a_build_reads_its_snapshot_past_a_request_s_statement_timeout(
    settings: Settings, clean_db: None
) -> None:
    """A build is background work that reads the whole catalog: its statements are not held to
    a request's timeout (at 1M datasets with owners a build ran into it and never completed),
    and the node snapshot has no subquery per dataset (a ``SubPlan``: rescanned for every
    dataset once the ownerships outgrow work_mem)."""
    from sqlalchemy import text

    from datamesh.lineage import repository as repo

    tight = settings.model_copy(update={"db_statement_timeout_ms": 200})
    async with running_app(tight, migrate_on_start=False) as app:
        async with app.state.sessionmaker() as s:
            assert await s.scalar(text("SHOW statement_timeout")) == "200ms"
            await repo.allow_snapshot_time(s)
            assert await s.scalar(text("SHOW statement_timeout")) == "15min"
            await s.execute(text("SET LOCAL work_mem = '64kB'"))
            plan = "\n".join((await s.scalars(text(f"EXPLAIN {repo.SNAPSHOT_NODES}"))).all())
            assert "SubPlan" not in plan, plan
            await s.rollback()
            assert await s.scalar(text("SHOW statement_timeout")) == "200ms"  # this build only
        engine = IndexEngine(app.state.sessionmaker)
        await engine.start_build()
        assert engine.index is not None


async def test_node_kinds_takes_a_radius_past_the_parameter_limit(
    app: FastAPI, session: AsyncSession
) -> None:
    """The PostgreSQL engine's impact asks the kinds of its whole radius: past 32,767 ids (one
    bound parameter each) asyncpg refused it; they go as one array."""
    from datamesh.lineage import repository as repo

    async with client_for(app) as client:
        producer = await signed_in(app, client, "kinds@acme.test", role="producer")
        ds = await _ds(client, producer, "s.kinds")
    known = uuid.UUID(ds["id"])
    ids = [uuid.uuid4() for _ in range(40_000)] + [known]
    assert await repo.node_kinds(session, ids) == {known: "dataset"}


async def test_a_failed_build_is_tried_again_after_a_wait_not_on_every_walk(
    settings: Settings,
) -> None:
    """PostgreSQL unreachable: the build fails, walks meanwhile do not each start another
    (a build reads the whole catalog); once the wait is over the next walk starts one."""
    from datamesh.db import make_engine, make_sessionmaker
    from tests.fixtures.live import free_port

    nowhere = f"postgresql+asyncpg://nobody:x@127.0.0.1:{free_port()}/none"
    db = make_engine(nowhere, settings.model_copy(update={"db_connect_timeout": 1}))
    try:
        engine = IndexEngine(make_sessionmaker(db))
        engine.retry_seconds = (60.0, 600.0)
        await engine.start_build()
        assert engine.index is None and engine.failed_builds == 1
        for _ in range(3):  # walks asking within the wait
            assert engine.start_build().done()
        assert engine.failed_builds == 1
        engine._retry_at = 0.0  # the wait is over
        await engine.start_build()
        assert engine.failed_builds == 2
    finally:
        await db.dispose()
