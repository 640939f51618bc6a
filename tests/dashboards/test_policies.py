"""The SQL filter (lists) and the in-memory rule (single reads) decide alike on every case."""

from __future__ import annotations

import itertools
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from datamesh.auth.principal import Principal
from datamesh.dashboards import policies, repository
from datamesh.models.dashboards import Dashboard
from tests.dashboards.helpers import created
from tests.factories import signed_in


async def test_sql_readable_agrees_with_can_read(app: FastAPI, client: httpx.AsyncClient) -> None:
    creator = await signed_in(app, client, "creator@acme.test", role="producer")
    other = await signed_in(app, client, "other@acme.test", role="producer")
    outsider = await signed_in(app, client, "out@initech.test", org="Initech", role="admin")
    for vis in ("public", "internal", "private"):
        await created(client, creator, vis, visibility=vis)
        await created(client, outsider, f"initech-{vis}", visibility=vis)
    checked = 0
    async with app.state.sessionmaker() as session:
        boards = list(await session.scalars(select(Dashboard)))
        for acct, role, kind in itertools.product(
            (creator, other, outsider),
            ("admin", "steward", "producer", "viewer"),
            ("user", "api_key"),
        ):
            p = Principal(
                kind=kind,  # type: ignore[arg-type]
                id=uuid.uuid4() if kind == "api_key" else uuid.UUID(acct.id),
                name=acct.email,
                org_id=uuid.UUID(acct.org_id),
                role=role,  # type: ignore[arg-type]
                user_id=uuid.UUID(acct.id),
            )
            sql = set(await session.scalars(select(Dashboard.id).where(repository.readable(p))))
            for d in boards:
                expected = policies.can_read(p, d.visibility, d.org_id, d.created_by)
                assert expected == (d.id in sql), (acct.email, role, kind, d.title)
                checked += 1
        assert policies.can_read(None, "public", boards[0].org_id, None) is False
        anonymous = await session.scalars(select(Dashboard.id).where(repository.readable(None)))
        assert list(anonymous) == []
    assert checked == 3 * 4 * 2 * 6
