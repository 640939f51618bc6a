"""Migration 0010a on a database holding what issue 18's defect wrote: another org's OpenLineage
job writing Acme's private table and reading its internal one. Upgrading re-homes those links
onto the job's own org's datasets of the same names and keeps every edge; downgrading folds the
same-named datasets back together, still keeping every link."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from alembic import command

from datamesh import migrate
from datamesh.embedded_pg import EmbeddedPostgres

DB = "datamesh_names_migration"
NS = "snowflake://acme.eu-west-1"


@pytest.fixture
async def old_db(pg: EmbeddedPostgres) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    pg.drop_database(DB)
    pg.create_database(DB)
    url = pg.url(DB)
    await asyncio.to_thread(migrate.upgrade, url, "0009")
    conn = await asyncpg.connect(pg.url(DB, driver="postgresql"))
    try:
        yield url, conn
    finally:
        await conn.close()
        pg.drop_database(DB)


async def _org(conn: asyncpg.Connection, name: str, settings: str = "{}") -> uuid.UUID:
    org_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO organizations (id, name, slug, description, settings) "
        "VALUES ($1, $2, $3, '', $4::jsonb)",
        org_id,
        name,
        name.lower(),
        settings,
    )
    return org_id


async def _dataset(conn: asyncpg.Connection, org: uuid.UUID, name: str, vis: str) -> uuid.UUID:
    ds_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO datasets (id, org_id, namespace, name, display_name, description, platform,"
        " tags, visibility, status, origin, fields, version) VALUES ($1, $2, $3, $4, '', "
        "'Acme wrote this', 'snowflake', '{}', $5, 'active', 'manual', "
        '\'[{"name": "amount"}]\', 1)',
        ds_id,
        org,
        NS,
        name,
        vis,
    )
    return ds_id


async def _process(conn: asyncpg.Connection, org: uuid.UUID, name: str) -> uuid.UUID:
    proc_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO processes (id, org_id, namespace, name, type, description, owners, "
        "source_code, origin) VALUES ($1, $2, 'airflow', $3, 'airflow', '', '[]', '{}', "
        "'openlineage')",
        proc_id,
        org,
        name,
    )
    return proc_id


async def _edge(
    conn: asyncpg.Connection, src: uuid.UUID, dst: uuid.UUID, kinds: str, origin: str
) -> None:
    src_kind, dst_kind = kinds.split(">")
    await conn.execute(
        "INSERT INTO lineage_edges (id, src_id, dst_id, src_kind, dst_kind, origin) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        uuid.uuid4(),
        src,
        dst,
        src_kind,
        dst_kind,
        origin,
    )


# Every link, named the way a user reads it: (owning org, name) at each end.
_LINKS = """
SELECT coalesce(sd.name, sp.name) AS src, coalesce(so.name, spo.name) AS src_org,
       coalesce(dd.name, dp.name) AS dst, coalesce(dor.name, dpo.name) AS dst_org
  FROM lineage_edges e
  LEFT JOIN datasets sd ON sd.id = e.src_id LEFT JOIN organizations so ON so.id = sd.org_id
  LEFT JOIN processes sp ON sp.id = e.src_id LEFT JOIN organizations spo ON spo.id = sp.org_id
  LEFT JOIN datasets dd ON dd.id = e.dst_id LEFT JOIN organizations dor ON dor.id = dd.org_id
  LEFT JOIN processes dp ON dp.id = e.dst_id LEFT JOIN organizations dpo ON dpo.id = dp.org_id
 ORDER BY 1, 2, 3, 4
"""
_COLUMNS = """
SELECT o.name AS out_name, oo.name AS out_org, c.output_field, i.name AS in_name,
       io.name AS in_org, c.input_field
  FROM column_edges c
  JOIN datasets o ON o.id = c.output_dataset_id JOIN organizations oo ON oo.id = o.org_id
  JOIN datasets i ON i.id = c.input_dataset_id JOIN organizations io ON io.id = i.org_id
 ORDER BY 1, 2, 3, 4, 5, 6
"""


async def _links(conn: asyncpg.Connection) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await conn.fetch(_LINKS)]


async def test_upgrade_rehomes_cross_org_links_and_keeps_every_edge(
    old_db: tuple[str, asyncpg.Connection],
) -> None:
    url, conn = old_db
    acme = await _org(conn, "Acme")
    globex = await _org(conn, "Globex", '{"default_visibility": "private"}')
    private = await _dataset(conn, acme, "MART.DAILY_REVENUE", "private")
    internal = await _dataset(conn, acme, "MART.MARGINS", "internal")
    public = await _dataset(conn, acme, "CORE.ORDERS", "public")
    own = await _dataset(conn, globex, "GLOBEX.OUT", "internal")
    acme_job = await _process(conn, acme, "acme_job")
    globex_job = await _process(conn, globex, "writer")
    await _edge(conn, globex_job, private, "process>dataset", "openlineage")  # the exploit
    await _edge(conn, internal, globex_job, "dataset>process", "openlineage")  # a hidden read
    await _edge(conn, public, globex_job, "dataset>process", "openlineage")  # a fair read
    await _edge(conn, globex_job, own, "process>dataset", "openlineage")
    await _edge(conn, acme_job, private, "process>dataset", "openlineage")
    await _edge(conn, public, acme_job, "dataset>process", "openlineage")
    await _edge(conn, public, private, "dataset>dataset", "manual")
    await conn.execute(
        "INSERT INTO column_edges (id, output_dataset_id, output_field, input_dataset_id, "
        "input_field, process_id) VALUES ($1, $2, 'total', $3, 'margin', $4), "
        "($5, $6, 'amount', $7, 'amount', $8)",
        uuid.uuid4(),
        own,
        internal,
        globex_job,
        uuid.uuid4(),
        private,
        public,
        acme_job,
    )
    await conn.execute("INSERT INTO graph_cursors (name, last_seq) VALUES ('bolt', 42)")
    acme_rows = await conn.fetch("SELECT * FROM datasets WHERE org_id = $1 ORDER BY id", acme)
    before = await _links(conn)

    await asyncio.to_thread(migrate.upgrade, url, "0010a")

    after = await _links(conn)
    assert len(after) == len(before) == 7
    rehomed = {
        ("writer", "Globex", "MART.DAILY_REVENUE", "Globex"),
        ("MART.MARGINS", "Globex", "writer", "Globex"),
    }
    assert set(after) - set(before) == rehomed
    assert set(before) - set(after) == {
        ("writer", "Globex", "MART.DAILY_REVENUE", "Acme"),
        ("MART.MARGINS", "Acme", "writer", "Globex"),
    }
    # Acme's rows are untouched; Globex's new ones are its own, with its default visibility.
    assert await conn.fetch("SELECT * FROM datasets WHERE org_id = $1 ORDER BY id", acme) == (
        acme_rows
    )
    copies = await conn.fetch(
        "SELECT name, visibility, origin, description, fields::text FROM datasets "
        "WHERE org_id = $1 AND name <> 'GLOBEX.OUT' ORDER BY name",
        globex,
    )
    assert [tuple(r) for r in copies] == [
        ("MART.DAILY_REVENUE", "private", "lineage", "", "[]"),
        ("MART.MARGINS", "private", "lineage", "", "[]"),
    ]
    assert [tuple(r) for r in await conn.fetch(_COLUMNS)] == [
        ("GLOBEX.OUT", "Globex", "total", "MART.MARGINS", "Globex", "margin"),
        ("MART.DAILY_REVENUE", "Acme", "amount", "CORE.ORDERS", "Acme", "amount"),
    ]
    # The graph projection rebuilds from the tables (replaying events would restore old links).
    assert await conn.fetchval("SELECT last_seq FROM graph_cursors WHERE name = 'bolt'") == -1
    # Names are unique per org now: Globex may have its own CORE.ORDERS next to Acme's.
    orders = await _dataset(conn, globex, "CORE.ORDERS", "internal")
    with pytest.raises(asyncpg.UniqueViolationError):
        await _dataset(conn, globex, "CORE.ORDERS", "internal")
    await _edge(conn, orders, globex_job, "dataset>process", "openlineage")  # Acme's link, twice
    await _process(conn, globex, "acme_job")  # job names are per org too

    # Downgrade: same-named datasets fold into the oldest (Acme's); every link survives (one
    # that would then exist twice, once).
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), "0009")
    folded = await _links(conn)
    assert sorted(set(folded)) == sorted(set(before)) and len(folded) == len(before)
    assert await conn.fetchval("SELECT count(*) FROM datasets") == 4
    assert [tuple(r) for r in await conn.fetch(_COLUMNS)] == [
        ("GLOBEX.OUT", "Globex", "total", "MART.MARGINS", "Acme", "margin"),
        ("MART.DAILY_REVENUE", "Acme", "amount", "CORE.ORDERS", "Acme", "amount"),
    ]
    with pytest.raises(asyncpg.UniqueViolationError):
        await _dataset(conn, globex, "CORE.ORDERS", "internal")
    jobs = await conn.fetch("SELECT name FROM processes ORDER BY name")
    assert [r["name"] for r in jobs] == ["acme_job", "acme_job [globex]", "writer"]
    await asyncio.to_thread(migrate.upgrade, url, "0010a")  # and up again, cleanly
