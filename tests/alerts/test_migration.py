"""Migration 0010e is reversible: down to 0009 drops the alert tables and positions, up again
brings them back."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import command

from datamesh import migrate
from datamesh.embedded_pg import EmbeddedPostgres

TABLES = {"alert_rules", "alert_deliveries", "alert_matches", "outbox_positions"}


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


def test_down_and_up_again(pg: EmbeddedPostgres) -> None:
    pg.drop_database("alerts_migration")
    pg.create_database("alerts_migration")
    url = pg.url("alerts_migration")
    plain = pg.url("alerts_migration", driver="postgresql")
    migrate.upgrade(url)
    assert asyncio.run(_tables(plain)) >= TABLES
    command.downgrade(migrate.alembic_config(url), "0010d")
    assert not TABLES & asyncio.run(_tables(plain))
    migrate.upgrade(url)
    assert asyncio.run(_tables(plain)) >= TABLES
    pg.drop_database("alerts_migration")
