"""The same lineage scenarios on both engines (PostgreSQL walk and the Bolt projection in a real
FalkorDB server) give identical answers; the projection follows the outbox idempotently."""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openlineage.client.serde import Serde
from sqlalchemy import select

from datamesh.auth.principal import Principal
from datamesh.config import Settings
from datamesh.lineage import projection, service
from datamesh.lineage import repository as repo
from datamesh.lineage.bolt import BoltGraph
from datamesh.models.identity import User
from tests.catalog.test_search import _ds
from tests.conftest import client_for, running_app
from tests.factories import api_key, signed_in
from tests.lineage.pipeline import PG, SF, pipeline_events


@pytest.fixture
async def bolt_app(settings: Settings, clean_db: None, graph: BoltGraph) -> AsyncIterator[FastAPI]:
    slow = settings.model_copy(update={"graph_projection_interval_seconds": 3600.0})
    async with running_app(slow, migrate_on_start=False, graph=graph) as app:
        yield app


async def _scenario(app: FastAPI, c: httpx.AsyncClient) -> list[str]:
    prod = await signed_in(app, c, "p@acme.test", role="producer")
    key = await api_key(c, prod.headers)
    events = [Serde.to_dict(e) for e in pipeline_events()]
    r = await c.post(
        "/api/v1/lineage/batch", json=events, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.json()["accepted"] == len(events)
    # A hand-drawn cycle and a side branch, so the walk has something to be careful about.
    a, b = await _ds(c, prod, "s.loop_a"), await _ds(c, prod, "s.loop_b")
    mart = f"dataset:{SF}:ANALYTICS.MARTS.SALES_BY_REGION"
    for src, dst in ((mart, a["id"]), (a["id"], b["id"]), (b["id"], a["id"])):
        assert (
            await c.post(
                "/api/lineage/edges", json={"source": src, "target": dst}, headers=prod.headers
            )
        ).status_code == 201
    return [
        f"dataset:{PG}:public.orders",
        "job:spark:clean_orders",
        f"dataset:{SF}:ANALYTICS.MARTS.FCT_SALES",
        a["id"],
    ]


async def test_engines_agree(bolt_app: FastAPI, graph: BoltGraph) -> None:
    async with client_for(bolt_app) as c:
        starts = await _scenario(bolt_app, c)
    applied = await projection.catch_up(bolt_app.state.sessionmaker, graph)
    assert applied > 0
    assert await projection.catch_up(bolt_app.state.sessionmaker, graph) == 0, "cursor moved"
    bolt = bolt_app.state.graph_engine
    async with bolt_app.state.sessionmaker() as s:
        user = await s.scalar(select(User))
        p = Principal(
            kind="user", id=user.id, name="p", org_id=user.org_id, role="producer", user_id=user.id
        )
        for start, direction, depth in itertools.product(
            starts, ("upstream", "downstream", "both"), (0, 1, 2, 5, 20)
        ):
            pg = await service.graph(s, p, service.POSTGRES, start, direction, depth, 5000)
            bo = await service.graph(s, p, bolt, start, direction, depth, 5000)
            assert bo["engine"] == "bolt"
            assert (pg["nodes"], pg["edges"], pg["truncated"]) == (
                bo["nodes"],
                bo["edges"],
                bo["truncated"],
            ), (start, direction, depth)
            pi = await service.impact(s, p, service.POSTGRES, start, max(depth, 1), 5000)
            bi = await service.impact(s, p, bolt, start, max(depth, 1), 5000)
            assert pi == bi


async def test_projection_replay_and_reindex(bolt_app: FastAPI, graph: BoltGraph) -> None:
    async with client_for(bolt_app) as c:
        await _scenario(bolt_app, c)
    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    counts = await graph.counts()
    nodes, edges = await projection.reindex(bolt_app.state.sessionmaker, graph)
    assert (nodes >= counts[0], edges) == (True, counts[1])
    assert await graph.counts() == (nodes, edges)
    cursor = await _cursor(bolt_app)
    assert await graph.projected_seq() == cursor > 0
    # Replaying the whole outbox over a populated graph changes nothing (MERGE is idempotent):
    # a graph whose mark says it is behind is replayed from there, not rebuilt.
    await graph.set_projected_seq(0)
    assert await projection.catch_up(bolt_app.state.sessionmaker, graph) > 0
    assert await graph.counts() == (nodes, edges)
    assert await graph.projected_seq() == await _cursor(bolt_app) == cursor


async def _cursor(app: FastAPI) -> int:
    async with app.state.sessionmaker() as s:
        return await repo.cursor(s, projection.CURSOR)


async def _answers(app: FastAPI, engine: Any, starts: list[str]) -> list[Any]:
    """Graph and impact answers for each start, as the viewer of the scenario sees them."""
    async with app.state.sessionmaker() as s:
        user = await s.scalar(select(User))
        assert user is not None
        p = Principal(
            kind="user", id=user.id, name="p", org_id=user.org_id, role="producer", user_id=user.id
        )
        found = []
        for start in starts:
            g = await service.graph(s, p, engine, start, "both", 20, 5000)
            found.append((g["engine"], g["nodes"], g["edges"]))
            found.append(await service.impact(s, p, engine, start, 20, 5000))
        return found


async def test_a_graph_server_that_comes_back_empty_is_rebuilt(
    bolt_app: FastAPI, graph: BoltGraph
) -> None:
    async with client_for(bolt_app) as c:
        starts = await _scenario(bolt_app, c)
    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    bolt = bolt_app.state.graph_engine
    expected = await _answers(bolt_app, service.POSTGRES, starts)
    before = await graph.counts()

    await graph.clear()  # the graph server restarted without its data
    # Until the projector notices, a start node missing from the graph is answered by
    # PostgreSQL (never an empty Bolt answer), and the graph is not taken out of service for it.
    assert await _answers(bolt_app, bolt, starts) == expected
    assert not projection.is_down(graph)

    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    assert await graph.counts() == before
    assert await graph.projected_seq() == await _cursor(bolt_app)
    projection.mark_up(graph)  # the projector's loop does this after a catch-up
    answers = await _answers(bolt_app, bolt, starts)
    assert {a[0] for a in answers[::2]} == {"bolt"}
    assert [a[1:] for a in answers[::2]] == [e[1:] for e in expected[::2]]
    assert answers[1::2] == expected[1::2]


async def test_a_graph_server_restored_from_an_older_backup_replays_what_it_lacks(
    bolt_app: FastAPI, graph: BoltGraph
) -> None:
    async with client_for(bolt_app) as c:
        starts = await _scenario(bolt_app, c)
        await projection.catch_up(bolt_app.state.sessionmaker, graph)
        backup_mark, backup_counts = await _cursor(bolt_app), await graph.counts()
        prod = await signed_in(bolt_app, c, "p2@acme.test", role="producer")
        extra = await _ds(c, prod, "s.after_backup")
        r = await c.post(
            "/api/lineage/edges",
            json={"source": starts[3], "target": extra["id"]},
            headers=prod.headers,
        )
        assert r.status_code == 201, r.text
    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    current = await graph.counts()
    assert current != backup_counts

    # The server comes back from the backup: without what was projected after it.
    await graph.delete_edge(starts[3], extra["id"])
    await graph.delete_node(extra["id"])
    await graph.set_projected_seq(backup_mark)
    assert await graph.counts() == backup_counts
    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    assert await graph.counts() == current
    assert await graph.projected_seq() == await _cursor(bolt_app)


async def test_a_graph_ahead_of_a_restored_database_is_rebuilt(
    bolt_app: FastAPI, graph: BoltGraph
) -> None:
    async with client_for(bolt_app) as c:
        await _scenario(bolt_app, c)
    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    counts = await graph.counts()
    # The graph holds an edge the (restored) database never had, and a mark past its cursor.
    stray = [str(uuid.uuid4()), str(uuid.uuid4())]
    await graph.upsert_nodes([{"id": n, "kind": "dataset"} for n in stray])
    await graph.upsert_edges([(stray[0], stray[1])])
    await graph.set_projected_seq(await _cursor(bolt_app) + 1000)

    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    assert await graph.counts() == counts
    assert await graph.projected_seq() == await _cursor(bolt_app)


async def test_an_unprojected_start_falls_back_quietly(
    bolt_app: FastAPI, graph: BoltGraph, caplog: pytest.LogCaptureFixture
) -> None:
    async with client_for(bolt_app) as c:
        starts = await _scenario(bolt_app, c)  # not projected: the projector is idle here
    with caplog.at_level(logging.DEBUG, logger="datamesh.lineage"):
        answers = await _answers(bolt_app, bolt_app.state.graph_engine, starts[:1])
    assert answers[0][0] == "postgres"
    assert not projection.is_down(graph)
    fallbacks = [r for r in caplog.records if "answering from postgres" in r.getMessage()]
    assert fallbacks and all(r.levelno == logging.DEBUG for r in fallbacks)


async def test_falls_back_to_postgres_when_bolt_is_down(
    bolt_app: FastAPI, settings: Settings
) -> None:
    import neo4j

    async with client_for(bolt_app) as c:
        starts = await _scenario(bolt_app, c)
        dead = projection.BoltEngine(
            BoltGraph(neo4j.AsyncGraphDatabase.driver("bolt://127.0.0.1:9"), dialect="neo4j")
        )
        bolt_app.state.graph_engine = dead
        prod_token = (
            await c.post(
                "/api/auth/login",
                json={"email": "p@acme.test", "password": "correct-horse-battery"},
            )
        ).json()["access_token"]
        c.cookies.clear()
        r = await c.get(
            "/api/lineage/graph",
            params={"node": starts[0], "direction": "downstream", "depth": 3},
            headers={"Authorization": f"Bearer {prod_token}"},
        )
        assert r.status_code == 200
        assert r.json()["engine"] == "postgres"
        assert len(r.json()["nodes"]) == 7
