"""The same lineage scenarios on both engines (PostgreSQL walk and the Bolt projection in a real
FalkorDB server) give identical answers; the projection follows the outbox idempotently."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from openlineage.client.serde import Serde

from datamesh.config import Settings
from datamesh.lineage import projection, service
from datamesh.lineage.bolt import BoltGraph
from tests.catalog.test_search import _ds
from tests.conftest import client_for, running_app
from tests.factories import signed_in
from tests.lineage.pipeline import PG, SF, pipeline_events


@pytest.fixture
async def bolt_app(settings: Settings, clean_db: None, graph: BoltGraph) -> AsyncIterator[FastAPI]:
    slow = settings.model_copy(update={"graph_projection_interval_seconds": 3600.0})
    async with running_app(slow, migrate_on_start=False, graph=graph) as app:
        yield app


async def _scenario(app: FastAPI, c: httpx.AsyncClient) -> list[str]:
    prod = await signed_in(app, c, "p@acme.test", role="producer")
    key = (
        await c.post(
            "/api/auth/api-keys", json={"name": "ol", "role": "producer"}, headers=prod.headers
        )
    ).json()["key"]
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
        from sqlalchemy import select

        from datamesh.auth.principal import Principal
        from datamesh.models.identity import User

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
    # Replaying the whole outbox over a populated graph changes nothing (MERGE is idempotent).
    from datamesh.lineage import repository as repo

    async with bolt_app.state.sessionmaker() as s:
        await repo.set_cursor(s, projection.CURSOR, 0)
        await s.commit()
    await projection.catch_up(bolt_app.state.sessionmaker, graph)
    assert await graph.counts() == (nodes, edges)


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
