"""Exact impact on the index decides visibility from its org and visibility bits (PostgreSQL only
for private datasets of others and nodes changed since the build): on random graphs with random
visibility across two orgs and several viewers, it answers exactly as the PostgreSQL engine (who
is told included), also after visibilities, platforms and followers change under it."""

from __future__ import annotations

import random

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from datamesh.lineage import service
from datamesh.lineage.index import IndexEngine
from datamesh.models.catalog import Dataset
from tests.catalog.test_search import _ds
from tests.conftest import client_for
from tests.factories import Account, signed_in
from tests.lineage.test_index_engine import _principal

VIS = ("public", "internal", "private")


async def _agree(app: FastAPI, engine: IndexEngine, viewers: list[str], starts: list[str]) -> int:
    compared = 0
    async with app.state.sessionmaker() as s:
        for email in viewers:
            p = await _principal(app, email)
            for start in starts:
                try:
                    pg = await service.impact(s, p, service.POSTGRES, start, 20, 5000)
                except Exception as exc:  # not visible to this viewer: 404 on both
                    with pytest.raises(type(exc)):
                        await service.impact(s, p, engine, start, 20, 5000)
                    continue
                ix = await service.impact(s, p, engine, start, 20, 5000)
                assert (pg["exact"], ix["exact"], pg["truncated"]) == (False, True, False)
                assert ix | {"exact": False} == pg, (email, start)
                compared += 1
    return compared


@pytest.mark.parametrize("seed", range(3))
async def test_impact_on_the_index_sees_exactly_what_postgres_sees(app: FastAPI, seed: int) -> None:
    rnd = random.Random(seed)
    engine = app.state.graph_engine
    assert isinstance(engine, IndexEngine)
    async with client_for(app) as c:
        acme_p = await signed_in(app, c, "p@acme.test", role="producer")
        acme_q = await signed_in(app, c, "q@acme.test", role="producer")
        await signed_in(app, c, "admin@acme.test", role="admin")
        await signed_in(app, c, "v@acme.test", role="viewer")
        globex = await signed_in(app, c, "o@globex.test", org="Globex", role="producer")
        writers = [acme_p, acme_q, globex]
        made: list[tuple[dict[str, str], Account]] = []
        for i in range(18):
            who = rnd.choice(writers)
            platform = rnd.choice(("postgresql", "snowflake", "bigquery"))
            ds = await _ds(c, who, f"s.t{i}", visibility=rnd.choice(VIS), platform=platform)
            made.append((ds, who))
        for _ in range(40):  # forward pairs and a few back: cycles too
            (a, _), (b, who) = rnd.sample(made, 2)
            link = {"source": a["id"], "target": b["id"]}
            await c.post("/api/lineage/edges", json=link, headers=who.headers)  # may be refused
        # Datasets made by naming them in an edge have no owner: nobody to tell, until
        # someone follows them after the build.
        for i in range(4):
            (a, who) = rnd.choice(made)
            link = {"source": a["id"], "target": f"dataset:postgres://db:5432:s.named{i}"}
            await c.post("/api/lineage/edges", json=link, headers=who.headers)
        async with app.state.sessionmaker() as s:
            named = list(await s.scalars(select(Dataset.id).where(Dataset.name.like("s.named%"))))
        assert named
        viewers = [
            "p@acme.test",
            "q@acme.test",
            "admin@acme.test",
            "v@acme.test",
            "o@globex.test",
        ]
        starts = [ds["id"] for ds, _ in made]
        await engine.start_build()  # built with every node's bits known
        assert await _agree(app, engine, viewers, starts) > 0
        # Visibility and platform change after the build: the bits of those datasets are
        # no longer trusted, PostgreSQL decides them, the answers still agree.
        for ds, who in rnd.sample(made, 6):
            got = await c.get(f"/api/datasets/{ds['id']}", headers=who.headers)
            change = {"visibility": rnd.choice(VIS), "platform": "redshift"}
            r = await c.patch(
                f"/api/datasets/{ds['id']}",
                json=change,
                headers={**who.headers, "If-Match": got.headers["etag"]},
            )
            assert r.status_code == 200, r.text
        # Followers come and go after the build (their events make those bits unknown too).
        for ds_id in [*[str(n) for n in named], *(ds["id"] for ds, _ in rnd.sample(made, 5))]:
            for viewer in (acme_q, globex):
                await c.put(f"/api/follows/{ds_id}", headers=viewer.headers)  # may be 404
        assert await _agree(app, engine, viewers, starts) > 0
        # And once rebuilt, from the bits again.
        await engine.start_build()
        assert await _agree(app, engine, viewers, starts) > 0
