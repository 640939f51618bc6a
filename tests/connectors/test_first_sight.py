"""The bulk first-sight path (a first crawl, a dbt import): datasets a source has just created
get the same audit entry, event and first schema version per dataset as the single write path,
with the audit chain intact, and nothing at all when the transaction rolls back."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.catalog import service as catalog
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.models.audit import AuditEntry
from datamesh.models.catalog import Dataset
from datamesh.models.events import Event
from datamesh.orgs import service as orgs

NS = "postgres://db.example:5432"
CRAWLER = Actor.system("crawler")
SOURCE = uuid.UUID(int=7)


async def _none(_: uuid.UUID) -> int:
    return 0


def _observed(ids: dict[tuple[str, str], uuid.UUID], name: str, n: int) -> catalog.Observed:
    return catalog.Observed(
        dataset_id=ids[(NS, name)],
        created=True,
        platform="postgresql",
        kind="view" if n % 2 else "table",
        description=f"comment {n}" if n % 2 == 0 else "",
        fields=[
            {"name": "id", "type": "bigint", "nullable": False, "position": 1, "comment": "key"},
            {"name": f"c{n}", "type": "text", "nullable": True, "position": 2, "comment": ""},
        ],
        properties={"row_estimate": 10 * n, "primary_key": ["id"], "foreign_keys": []},
        node_id=uuid.UUID(int=99),
        database="db",
        schema="Odd Schema",
        table=name.rsplit(".", 1)[1],
        tags=["pii", "pii"] if n == 1 else [],
    )


async def _first_sight(
    session: AsyncSession, names: list[str], *, once: bool = False
) -> tuple[uuid.UUID, dict[Any, Any]]:
    """Datasets made by a source's first word: filled in after ``resolve_names`` made them
    blank, or (``once``) written once, with their content, by ``resolve_names`` itself."""
    org = await orgs.get_or_create_by_name(session, "Acme")
    sender = catalog.system_sender(org.id, "crawler")
    keys = [(NS, n) for n in names]
    unresolved = dict.fromkeys(keys, uuid.UUID(int=0))
    content = {
        (NS, n): catalog.first_content(_observed(unresolved, n, i), "crawl", CRAWLER)
        for i, n in enumerate(names)
    }
    found = await catalog.resolve_names(
        session, sender, keys, written=True, content=content if once else None
    )
    observed = [_observed(found.ids, n, i) for i, n in enumerate(names)]
    for obs in observed:
        obs.filled = once
    outcome = await catalog.apply_observations(
        session, CRAWLER, org.id, observed, origin="crawl", source_id=SOURCE, downstream=_none
    )
    assert outcome.created == len(names) and outcome.updated == 0
    return org.id, found.ids


def _without(row: Any, *keys: str) -> dict[str, Any]:
    cols = row.__table__.columns.keys()
    return {k: getattr(row, k) for k in cols if k not in keys}


@pytest.mark.parametrize("once", [False, True], ids=["filled-after", "written-once"])
async def test_bulk_made_datasets_are_audited_and_announced_like_single_writes(
    session: AsyncSession, clean_db: None, once: bool
) -> None:
    names = [f"db.Odd Schema.t{i}" for i in range(3)]
    org_id, ids = await _first_sight(session, names, once=once)
    await session.commit()

    for name in names:
        ds = await session.scalar(
            select(Dataset)
            .where(Dataset.id == ids[(NS, name)])
            .execution_options(populate_existing=True)
        )
        assert ds is not None and ds.source_schema == "Odd Schema" and ds.node_id is not None
        bulk_audit = (
            await session.scalars(select(AuditEntry).where(AuditEntry.target_id == str(ds.id)))
        ).one()
        bulk_event = (
            await session.scalars(select(Event).where(Event.subject_id == str(ds.id)))
        ).one()
        # What the single path writes for this dataset as stored: audit.record and events.emit
        # with the snapshot every dataset write audits.
        after = {**catalog._snapshot(ds, []), "kind": ds.kind, "properties": ds.properties}
        details = {"origin": "crawl", "source_id": str(SOURCE)}
        single = await audit.record(
            session,
            CRAWLER,
            "dataset.publish",
            catalog.ref(ds),
            audit.diff({}, after),
            org_id=org_id,
            details=details,
        )
        event_id = await events.emit(
            session,
            "dataset.published",
            CRAWLER,
            catalog.ref(ds),
            {"platform": ds.platform, "origin": "crawl", "kind": ds.kind},
            org_id=org_id,
        )
        await session.commit()
        single_audit = await session.scalar(select(AuditEntry).where(AuditEntry.id == single.id))
        single_event = await session.get(Event, event_id)
        skip = ("seq", "id", "at", "prev_hash", "hash")
        assert _without(bulk_audit, *skip) == _without(single_audit, *skip)
        assert bulk_audit.changes["fields"]["after"][0]["description"] == "key"
        skip = ("seq", "id", "occurred_at")
        assert _without(bulk_event, *skip) == _without(single_event, *skip)

    tagged = await session.get(Dataset, ids[(NS, names[1])])
    assert tagged is not None and tagged.tags == ["pii"] and tagged.kind == "view"
    versions = await catalog.repo.schema_versions(session, ids[(NS, names[0])], 10)
    assert [v.version for v in versions] == [1] and versions[0].fields[1]["name"] == "c0"
    result = await audit.verify(session)
    total = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert result.ok and result.checked == total  # the org's creation, then bulk and single


async def test_a_rolled_back_first_sight_leaves_nothing(
    app: FastAPI, session: AsyncSession, raw_conn: asyncpg.Connection, clean_db: None
) -> None:
    await _first_sight(session, ["db.s.a", "db.s.b"])
    await session.rollback()
    for table in ("datasets", "audit_log", "events", "dataset_schema_versions"):
        assert await raw_conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    # and the next transaction's chain starts clean (no entry of the rolled-back one left over)
    await _first_sight(session, ["db.s.c"])
    await session.commit()
    published = "SELECT count(*) FROM audit_log WHERE action = 'dataset.publish'"
    assert await raw_conn.fetchval(published) == 1
    assert (await audit.verify(session)).ok


async def test_rows_written_once_are_the_rows_filled_in_after(
    session: AsyncSession, clean_db: None
) -> None:
    after = [f"db.s.after{i}" for i in range(3)]
    once = [f"db.s.once{i}" for i in range(3)]
    _, ids_after = await _first_sight(session, after)
    _, ids_once = await _first_sight(session, once, once=True)
    await session.commit()
    differ = ("id", "name", "short_name", "search", "source_table", "created_at", "updated_at")
    for a, o in zip(after, once, strict=True):
        row_after = await session.get(Dataset, ids_after[(NS, a)])
        row_once = await session.get(Dataset, ids_once[(NS, o)])
        assert row_after is not None and row_once is not None
        assert row_once.fields and row_once.origin == "crawl" and row_once.node_id is not None
        assert _without(row_once, *differ) == _without(row_after, *differ)
    assert await session.scalar(select(func.count()).select_from(Dataset)) == 6
