"""The auth cache's rules (auth/cache.py): what is stored, what is served, what empties it.
Across workers (the NOTIFY), see tests/faults/test_revocation_workers.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from datamesh.auth import deps, tokens
from datamesh.auth.cache import AuthCache, token_key
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


def test_a_token_entry_ends_with_the_token_and_never_outlives_its_session_entry() -> None:
    cache = AuthCache(max_age=60)
    cache.set_live(True)
    past = datetime.now(UTC) - timedelta(seconds=1)
    cache.put(token_key("t1"), P, cache.generation, expires_at=past)  # the token's exp
    assert cache.get_token("t1") is None
    # An alias (another token of the session) ends with the session if that ends first...
    cache.put("s", P, cache.generation, expires_at=past)
    assert cache.get_as("s", token_key("t2"), datetime.now(UTC) + timedelta(hours=1)) is None
    assert cache.get_token("t2") is None
    # ...and goes with the session's entry when the cache is emptied.
    cache.put("s", P, cache.generation)
    assert cache.get_as("s", token_key("t3"), datetime.now(UTC) + timedelta(hours=1)) is P
    assert cache.get_token("t3") is P
    cache.invalidate("auth_sessions")
    assert cache.get_token("t3") is None
    assert cache.counts["token_reuse"] == 1


async def test_a_token_verified_once_is_not_verified_again_until_it_expires_or_is_revoked(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same bearer bytes within the cache's lifetime: no second signature check (the
    real verification is counted, not replaced); an expired token of the same session is
    still refused, and a revoked one at once."""
    await make_user(app, "reuse@acme.test", role="viewer")
    r = await client.post(
        "/api/auth/login", json={"email": "reuse@acme.test", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    client.cookies.clear()
    cache: AuthCache = app.state.auth_cache
    await app.state.stream_hub.connected.wait()
    verified: list[str] = []
    decode = tokens.decode_access_token

    def counted(key: str, token: str) -> tokens.AccessClaims:
        verified.append(token)
        return decode(key, token)

    monkeypatch.setattr(deps.tokens, "decode_access_token", counted)
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    reused = cache.counts["token_reuse"]
    before = len(verified)
    for _ in range(5):
        assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    assert cache.counts["token_reuse"] == reused + 5, "served by the token's bytes"
    assert len(verified) == before, "the signature was not verified again"

    # Another token of the same session already past its exp (accepted by the decode's 5 s
    # leeway): its expiry is checked on every use, so it is verified every time...
    claims = jwt.decode(token, options={"verify_signature": False})
    user_id, session_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"])
    key: str = app.state.signing_key
    late, _ = tokens.issue_access_token(key, user_id, session_id, -2)
    for n in range(1, 3):
        r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {late}"})
        assert r.status_code == 200, r.text
        assert verified.count(late) == n
    # ...and one past the leeway is refused though its session is served from the cache.
    expired, _ = tokens.issue_access_token(key, user_id, session_id, -60)
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401, r.text
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
    assert cache.counts["token_reuse"] == reused + 6

    # Revoked: the very next request with the cached bytes is refused.
    assert (await client.post("/api/auth/logout", headers=headers)).is_success
    reused = cache.counts["token_reuse"]  # the logout itself was one
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 401
    assert cache.counts["token_reuse"] == reused


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
