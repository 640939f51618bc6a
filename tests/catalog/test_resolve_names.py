"""The one rule for what a dataset name means in a write (catalog.service.resolve_names, ADR
0005): the sender's own dataset, else (for a name it reads) one of another org it may read,
else a new one in its org; hidden datasets are never found."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.models.catalog import Dataset
from datamesh.orgs import service as orgs
from tests.factories import Account, signed_in

NS = "postgres://shared:5432"


def _principal(a: Account, role: str | None = None) -> Principal:
    return Principal(
        kind="user",
        id=uuid.UUID(a.id),
        name=a.email,
        org_id=uuid.UUID(a.org_id),
        role=role or a.role,  # type: ignore[arg-type]
        email=a.email,
        user_id=uuid.UUID(a.id),
    )


async def _publish(c: httpx.AsyncClient, who: Account, name: str, vis: str, **kw: Any) -> str:
    body = {"namespace": NS, "name": name, "platform": "postgresql", "visibility": vis, **kw}
    r = await c.post("/api/datasets", json={"owners": [], **body}, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_own_then_readable_then_new(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    acme = await signed_in(app, client, "admin@acme.test", role="admin", org="Acme")
    globex = await signed_in(app, client, "producer@globex.test", role="producer", org="Globex")
    public = await _publish(client, acme, "pub", "public")
    private = await _publish(client, acme, "priv", "private")
    internal = await _publish(client, acme, "int", "internal")
    both_acme = await _publish(client, acme, "both", "public")
    both_globex = await _publish(client, globex, "both", "internal")
    p = _principal(globex)
    names = [(NS, "pub"), (NS, "priv"), (NS, "int"), (NS, "both"), (NS, "new")]

    found = await catalog.resolve_names(session, p, names, create=False)
    assert {k: str(v) for k, v in found.ids.items()} == {
        (NS, "pub"): public,  # another org's, readable: read from it
        (NS, "both"): both_globex,  # its own wins over another org's public one
    }
    assert found.foreign == {uuid.UUID(public)} and not found.created

    made = await catalog.resolve_names(session, p, names, written=[(NS, "pub")])
    assert set(made.created) == {(NS, "pub"), (NS, "priv"), (NS, "int"), (NS, "new")}
    assert str(made.ids[(NS, "both")]) == both_globex and not made.foreign
    assert not {str(i) for i in made.ids.values()} & {public, private, internal, both_acme}
    await session.commit()

    # Its own datasets now exist: every name resolves to them, without creating anything.
    again = await catalog.resolve_names(session, p, names)
    assert again.ids == made.ids and not again.created and not again.foreign
    # Acme still gets its own datasets for the same names.
    mine = await catalog.resolve_names(session, _principal(acme), names, create=False)
    assert {str(v) for v in mine.ids.values()} == {public, private, internal, both_acme}


async def test_what_the_sender_may_read_decides(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A dataset of another org is used when the sender may read it (owners see private ones);
    a system writer (file import, crawler) reads public datasets only."""
    acme = await signed_in(app, client, "admin@acme.test", role="admin", org="Acme")
    guest = await signed_in(app, client, "guest@globex.test", role="producer", org="Globex")
    shared = await _publish(client, acme, "shared", "private", owners=[guest.id])
    public = await _publish(client, acme, "open", "public")
    names = [(NS, "shared"), (NS, "open")]

    as_owner = await catalog.resolve_names(session, _principal(guest), names, create=False)
    assert {str(v) for v in as_owner.ids.values()} == {shared, public}
    system = catalog.system_sender(uuid.UUID(guest.org_id))
    as_system = await catalog.resolve_names(session, system, names, create=False)
    assert {str(v) for v in as_system.ids.values()} == {public}


async def test_a_batch_is_resolved_in_a_fixed_number_of_statements(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    acme = await signed_in(app, client, "admin@acme.test", role="admin", org="Acme")
    for i in range(5):
        await _publish(client, acme, f"known{i}", "public")
    p = _principal(acme, "producer")
    names = [(NS, f"known{i}") for i in range(5)] + [(NS, f"new{i}") for i in range(300)]
    statements: list[str] = []
    # This session's statements only: the app's background work (the lineage index catching up
    # on the publishes' NOTIFYs) shares the engine.
    mine = (await session.connection()).sync_connection

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if conn is mine:
            statements.append(statement)

    sync_engine = app.state.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        found = await catalog.resolve_names(session, p, names)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert len(found.ids) == 305 and len(found.created) == 300
    # One lookup, the org's settings (only because something is created), one insert.
    assert len(statements) == 3, statements


async def test_a_name_longer_than_its_column_still_resolves(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """OpenLineage allows 1,000-character namespaces; the column keeps 500. The name asked for
    still maps to its dataset, on creation and afterwards."""
    acme = await signed_in(app, client, "admin@acme.test", role="admin", org="Acme")
    name = ("s3://" + "x" * 700, "table")
    first = await catalog.resolve_names(session, _principal(acme), [name])
    assert set(first.created) == {name}
    await session.commit()
    again = await catalog.resolve_names(session, _principal(acme), [name])
    assert again.ids == first.ids and not again.created


async def test_a_name_created_by_a_concurrent_writer_is_read_back_not_doubled(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: Any
) -> None:
    """Two writers of one org create overlapping names at once: the second one's insert waits
    for the first's rows, skips them once they are committed and reads them back, so each name
    is one row and both writers agree on its id."""
    acme = await signed_in(app, client, "admin@acme.test", role="admin", org="Acme")
    p = _principal(acme, "producer")
    first_names = [(NS, "race_a"), (NS, "race_b"), (NS, "race_c")]
    second_names = [(NS, "race_d"), (NS, "race_c"), (NS, "race_b")]
    async with app.state.sessionmaker() as one, app.state.sessionmaker() as two:
        first = await catalog.resolve_names(one, p, first_names)
        assert set(first.created) == set(first_names)
        pid = await two.scalar(select(func.pg_backend_pid()))
        second_task = asyncio.create_task(catalog.resolve_names(two, p, second_names))
        # The second writer's insert waits on the first's uncommitted rows (asked of the server,
        # not timed): it conflicts with them rather than missing them.
        while not await raw_conn.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        ):
            assert not second_task.done(), second_task.result()
            await asyncio.sleep(0.01)
        await one.commit()
        second = await second_task
        await two.commit()
    assert set(second.created) == {(NS, "race_d")}
    assert {k: second.ids[k] for k in [(NS, "race_b"), (NS, "race_c")]} == {
        k: first.ids[k] for k in [(NS, "race_b"), (NS, "race_c")]
    }
    count = await raw_conn.fetchval(
        "SELECT count(*) FROM datasets WHERE namespace = $1 AND name LIKE 'race_%'", NS
    )
    assert count == 4


async def test_a_new_row_is_stored_with_the_model_defaults(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The one-statement insert writes what the model's own insert would: every column it
    does not name keeps the model's default, and a source's content is stored as given."""
    acme = await signed_in(app, client, "admin@acme.test", role="admin", org="Acme")
    p = _principal(acme, "producer")
    plain, rich = (NS, "plain"), (NS, 'db.Odd "Schema".Sélect')
    content = {
        "description": "a table's comment, with 'quotes' and \\ backslash",
        "platform": "postgresql",
        "origin": "crawl",
        "kind": "table",
        "properties": {"rows": 12, "comment.crawl": "c"},
        "fields": [{"name": "id", "type": "bigint", "nullable": False}],
        "tags": ["a", "b"],
        "node_id": None,
        "source_database": "db",
        "source_schema": 'Odd "Schema"',
        "source_table": "Sélect",
        "created_by": None,
    }
    made = await catalog.resolve_names(session, p, [plain])
    made_rich = await catalog.resolve_names(
        session, p, [rich], origin="crawl", content={rich: content}
    )
    await session.commit()
    a = await session.get(Dataset, made.created[plain])
    b = await session.get(Dataset, made_rich.created[rich])
    assert a is not None and b is not None
    assert (a.namespace, a.name, a.org_id) == (NS, "plain", uuid.UUID(acme.org_id))
    assert (a.display_name, a.description, a.description_source, a.domain) == ("", "", "", None)
    assert (a.tags, a.named_owners, a.facet_owners, a.fields, a.properties) == ([], [], [], [], {})
    assert (a.status, a.version, a.origin, a.kind, a.node_id) == (
        "active",
        1,
        "lineage",
        None,
        None,
    )
    default = (await orgs.org_settings(session, a.org_id)).default_visibility
    assert a.visibility == b.visibility == default and a.created_at is not None
    assert {k: getattr(b, k) for k in content} == content
    assert (b.namespace, b.name, b.origin, b.status) == (NS, rich[1], "crawl", "active")
