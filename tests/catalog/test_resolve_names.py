"""The one rule for what a dataset name means in a write (catalog.service.resolve_names, ADR
0005): the sender's own dataset, else (for a name it reads) one of another org it may read,
else a new one in its org; hidden datasets are never found."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
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
