"""A node with 100,000 readers (issue 20, bad input): a dataset read by 100,000 processes, each
writing its own dataset (a tenth of them another org's, not visible to the caller). Impact is
exact over the whole blast radius (never cut, hidden ones counted and never named, paged), and
the graph for drawing keeps its node cap and says how much more lies beyond it."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy import select, text

from datamesh.lineage.index import IndexEngine
from datamesh.models.identity import User
from tests.catalog.test_search import _ds
from tests.conftest import client_for
from tests.factories import signed_in

READERS = 100_000
HIDDEN = READERS // 10  # outputs of readers g % 10 == 0: internal datasets of another org

_BULK = """
INSERT INTO processes (id, org_id, namespace, name, type, description, owners, source_code,
                       origin)
SELECT md5('p' || g)::uuid, :org, 'bulk', 'reader_' || g, 'spark', '', '[]', '{}',
       'openlineage'
FROM generate_series(1, :n) g;
INSERT INTO datasets (id, org_id, namespace, name, platform, visibility, status, origin,
                      display_name, description, tags, fields, version)
SELECT md5('d' || g)::uuid,
       CASE WHEN g % 10 = 0 THEN CAST(:other AS uuid) ELSE CAST(:org AS uuid) END, 'bulk://lake',
       'out_' || g, 'postgresql', 'internal', 'active', 'lineage', '', '', '{}', '[]', 1
FROM generate_series(1, :n) g;
INSERT INTO lineage_edges (id, src_id, dst_id, src_kind, dst_kind, org_id, origin)
SELECT gen_random_uuid(), CAST(:hub AS uuid), md5('p' || g)::uuid, 'dataset', 'process',
       CAST(:org AS uuid), 'openlineage'
FROM generate_series(1, :n) g
UNION ALL
SELECT gen_random_uuid(), md5('p' || g)::uuid, md5('d' || g)::uuid, 'process', 'dataset',
       CAST(:org AS uuid),
       'openlineage'
FROM generate_series(1, :n) g;
"""


async def test_a_node_with_100000_readers(app: FastAPI) -> None:
    engine = app.state.graph_engine
    assert isinstance(engine, IndexEngine)
    async with client_for(app) as c:
        owner = await signed_in(app, c, "p@acme.test", role="producer")
        await signed_in(app, c, "o@globex.test", org="Globex", role="producer")
        hub = await _ds(c, owner, "s.hub")
        async with app.state.sessionmaker() as s:
            org, other = [
                await s.scalar(select(User.org_id).where(User.email == email))
                for email in ("p@acme.test", "o@globex.test")
            ]
            for statement in _BULK.split(";")[:-1]:
                params = {"org": org, "other": other, "hub": uuid.UUID(hub["id"]), "n": READERS}
                await s.execute(text(statement), params)
            await s.commit()
        await engine.start_build()  # written behind the outbox's back: read from the tables
        assert engine.index is not None and engine.index.edge_count == 2 * READERS

        r = await c.get(
            "/api/lineage/impact", params={"node": hub["id"], "limit": 50}, headers=owner.headers
        )
        assert r.status_code == 200, r.text
        impact = r.json()
        assert (impact["exact"], impact["truncated"]) == (True, False)
        assert impact["totals"] | {"people": 0, "hidden_owners": 0} == {
            "datasets": READERS,
            "processes": READERS,
            "restricted": HIDDEN,
            "people": 0,
            "hidden_owners": 0,
        }
        assert impact["by_distance"] == [{"distance": 1, "count": 2 * READERS}]
        assert impact["by_platform"] == [{"platform": "postgresql", "count": READERS - HIDDEN}]
        assert len(impact["items"]) == 50 and impact["next_cursor"]
        # The next page follows on: no item twice.
        r = await c.get(
            "/api/lineage/impact",
            params={"node": hub["id"], "limit": 50, "cursor": impact["next_cursor"]},
            headers=owner.headers,
        )
        assert r.status_code == 200, r.text
        ids = [i["id"] for i in impact["items"] + r.json()["items"]]
        assert len(set(ids)) == 100
        pages = impact["items"] + r.json()["items"]
        assert all(i["name"] is None for i in pages if i["restricted"])  # counted, not named

        r = await c.get(
            "/api/lineage/graph",
            params={"node": hub["id"], "direction": "downstream", "depth": 1},
            headers=owner.headers,
        )
        assert r.status_code == 200, r.text
        g = r.json()
        cap = app.state.settings.lineage_max_nodes
        assert g["truncated"] is True and len(g["nodes"]) == cap
        # Within a depth processes come first: the hub and cap - 1 readers are drawn.
        drawn_readers = cap - 1
        assert sum(n["kind"] == "process" for n in g["nodes"]) == drawn_readers
        # Beyond the drawing: every reader not drawn and every output.
        assert g["more"]["downstream"] == (READERS - drawn_readers) + READERS
        root = next(n for n in g["nodes"] if n["id"] == hub["id"])
        # Past the work budget a count is the undrawn direct neighbours (a lower bound).
        exact_beyond_hub = 2 * (READERS - drawn_readers)
        assert READERS - drawn_readers <= root["more_downstream"] <= exact_beyond_hub
        if g["more_exact"]:
            assert root["more_downstream"] == exact_beyond_hub
        readers = [n for n in g["nodes"] if n["kind"] == "process"]
        assert all(n["more_downstream"] == 1 for n in readers)
        # A write after the walk is seen by the next page of the same hub (read-your-writes:
        # the blast radius kept for paging belongs to the graph before it), before and after
        # the write is folded into the base arrays.
        extra = await _ds(c, owner, "s.after")
        link = {"source": hub["id"], "target": extra["id"]}
        r = await c.post("/api/lineage/edges", json=link, headers=owner.headers)
        assert r.status_code == 201, r.text
        for _ in range(2):
            r = await c.get(
                "/api/lineage/impact", params={"node": hub["id"], "limit": 5}, headers=owner.headers
            )
            assert r.json()["totals"]["datasets"] == READERS + 1
            assert engine.index is not None
            engine.index.fold()  # what the engine does in the background
