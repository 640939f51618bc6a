"""The auth cache's rules (auth/cache.py): what is stored, what is served, what empties it.
Across workers (the NOTIFY), see tests/faults/test_revocation_workers.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from datamesh.auth.cache import AuthCache
from datamesh.auth.principal import Principal
from datamesh.feed.stream import StreamHub
from datamesh.models.events import Event
from tests.factories import PASSWORD, make_user

P = Principal(kind="user", id=uuid.uuid4(), name="n", org_id=uuid.uuid4(), role="viewer")


def test_nothing_is_cached_or_served_while_the_invalidations_are_not_listened_to() -> None:
    cache = AuthCache(max_age=60)
    cache.put("k", P, cache.generation)
    assert cache.get("k") is None
    cache.set_live(True)
    cache.put("k", P, cache.generation)
    assert cache.get("k") is P
    cache.set_live(False)  # the LISTEN connection dropped: a NOTIFY may be lost
    assert cache.get("k") is None


def test_a_lookup_that_began_before_an_invalidation_is_not_stored() -> None:
    cache = AuthCache(max_age=60)
    cache.set_live(True)
    generation = cache.generation  # a request starts reading the session...
    cache.invalidate("auth_sessions")  # ...a revocation commits meanwhile
    cache.put("k", P, generation)
    assert cache.get("k") is None


def test_entries_end_with_their_age_limit_and_their_session() -> None:
    cache = AuthCache(max_age=0)
    cache.set_live(True)
    cache.put("k", P, cache.generation)
    assert cache.get("k") is None  # 0: the cache is off
    cache = AuthCache(max_age=60)
    cache.set_live(True)
    cache.put("k", P, cache.generation, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert cache.get("k") is None


async def test_logout_is_refused_at_once_by_the_process_that_committed_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await make_user(app, "cache@acme.test", role="viewer")
    r = await client.post(
        "/api/auth/login", json={"email": "cache@acme.test", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    client.cookies.clear()
    cache: AuthCache = app.state.auth_cache
    await app.state.stream_hub.connected.wait()
    for _ in range(3):
        assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    hits = cache.counts["hit"]
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    assert cache.counts["hit"] == hits + 1, "the session was served from the cache"
    assert (await client.post("/api/auth/logout", headers=headers)).is_success
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 401


def test_an_event_is_serialized_once_for_all_its_subscribers(app: FastAPI) -> None:
    hub: StreamHub = app.state.stream_hub
    event = Event(id=uuid.uuid4(), type="dataset.published")
    built: list[int] = []

    def build() -> str:
        built.append(1)
        return "{}"

    assert [hub.serialized(event, build) for _ in range(100)] == ["{}"] * 100
    assert len(built) == 1
