"""Password sign-in, token rotation with reuse detection, logout, cookies and CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from tests.factories import PASSWORD, login, make_user, signed_in


async def test_login_returns_tokens_and_me(app: FastAPI, client: httpx.AsyncClient) -> None:
    acct = await make_user(app, "ana@acme.test", role="producer")
    resp = await client.post(
        "/api/auth/login", json={"email": "ANA@acme.test", "password": PASSWORD}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["refresh_token"]
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    data = me.json()
    assert data["email"] == "ana@acme.test"
    assert data["role"] == "producer"
    assert data["org"]["name"] == "Acme"
    assert data["id"] == acct.id
    assert "password" not in me.text


async def test_login_sets_httponly_cookies(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "cookie@acme.test")
    resp = await client.post(
        "/api/auth/login", json={"email": "cookie@acme.test", "password": PASSWORD}
    )
    cookies = resp.headers.get_list("set-cookie")
    access = next(c for c in cookies if c.startswith("dm_access="))
    refresh = next(c for c in cookies if c.startswith("dm_refresh="))
    csrf = next(c for c in cookies if c.startswith("dm_csrf="))
    assert "HttpOnly" in access and "SameSite=lax" in access
    assert "HttpOnly" in refresh and "Path=/api/auth" in refresh
    assert "HttpOnly" not in csrf  # the UI reads it to send it back as a header


async def test_wrong_password_and_unknown_user_answer_alike(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await make_user(app, "bo@acme.test")
    wrong = await client.post(
        "/api/auth/login", json={"email": "bo@acme.test", "password": "nope-nope"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "ghost@acme.test", "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["content-type"] == "application/problem+json"


async def test_repeated_failures_are_throttled(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "brute@acme.test")
    for _ in range(app.state.settings.login_max_failures):
        r = await client.post(
            "/api/auth/login", json={"email": "brute@acme.test", "password": "wrong-pass"}
        )
        assert r.status_code == 401
    blocked = await client.post(
        "/api/auth/login", json={"email": "brute@acme.test", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


async def test_failed_and_successful_logins_are_audited(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    acct = await make_user(app, "aud@acme.test")
    await client.post("/api/auth/login", json={"email": "aud@acme.test", "password": "wrong-pass"})
    await login(client, acct)
    rows = await raw_conn.fetch("SELECT action, actor_kind, target_id FROM audit_log ORDER BY seq")
    actions = [(r["action"], r["actor_kind"]) for r in rows]
    assert ("auth.login_failed", "anonymous") in actions
    assert ("auth.login", "user") in actions
    assert all(r["target_id"] == acct.id for r in rows if r["action"].startswith("auth."))


async def test_refresh_rotates_and_reuse_revokes_the_family(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    acct = await signed_in(app, client, "rot@acme.test")
    first = acct.refresh_token
    r1 = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert r1.status_code == 200
    second = r1.json()["refresh_token"]
    assert second != first
    new_access = r1.json()["access_token"]
    client.cookies.clear()
    # The stolen old token is presented again: the whole session ends.
    reuse = await client.post("/api/auth/refresh", json={"refresh_token": first})
    assert reuse.status_code == 401
    client.cookies.clear()
    after = await client.post("/api/auth/refresh", json={"refresh_token": second})
    assert after.status_code == 401
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {new_access}"})
    assert me.status_code == 401


async def test_logout_revokes_the_session(app: FastAPI, client: httpx.AsyncClient) -> None:
    acct = await signed_in(app, client, "out@acme.test")
    out = await client.post("/api/auth/logout", headers=acct.headers)
    assert out.status_code == 200
    assert out.json()["logged_out"] is True
    assert (await client.get("/api/auth/me", headers=acct.headers)).status_code == 401
    client.cookies.clear()
    again = await client.post("/api/auth/refresh", json={"refresh_token": acct.refresh_token})
    assert again.status_code == 401


async def test_disabled_user_tokens_stop_at_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await signed_in(app, client, "adm@acme.test", role="admin")
    victim = await signed_in(app, client, "vic@acme.test")
    assert (await client.get("/api/auth/me", headers=victim.headers)).status_code == 200
    r = await client.patch(
        f"/api/auth/users/{victim.id}", json={"disabled": True}, headers=admin.headers
    )
    assert r.status_code == 200
    assert (await client.get("/api/auth/me", headers=victim.headers)).status_code == 401
    relogin = await client.post(
        "/api/auth/login", json={"email": victim.email, "password": PASSWORD}
    )
    assert relogin.status_code == 401
    # Re-enabling does not bring the old session back.
    await client.patch(
        f"/api/auth/users/{victim.id}", json={"disabled": False}, headers=admin.headers
    )
    assert (await client.get("/api/auth/me", headers=victim.headers)).status_code == 401


async def test_cookie_writes_need_the_csrf_header(app: FastAPI, client: httpx.AsyncClient) -> None:
    await make_user(app, "csrf@acme.test", role="producer")
    resp = await client.post(
        "/api/auth/login", json={"email": "csrf@acme.test", "password": PASSWORD}
    )
    assert resp.status_code == 200
    assert (await client.get("/api/auth/me")).status_code == 200, "the cookie signs GETs in"
    no_header = await client.post("/api/auth/api-keys", json={"name": "k", "role": "viewer"})
    assert no_header.status_code == 403
    assert "CSRF" in no_header.json()["detail"]
    token = client.cookies.get("dm_csrf")
    ok = await client.post(
        "/api/auth/api-keys", json={"name": "k", "role": "viewer"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 201


def _forge(app: FastAPI, acct_id: str, **overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": "datamesh",
        "aud": "datamesh-api",
        "sub": acct_id,
        "sid": "00000000-0000-0000-0000-000000000000",
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return claims


async def test_forged_tokens_are_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    acct = await signed_in(app, client, "forge@acme.test")
    real = jwt.decode(acct.token, options={"verify_signature": False})
    key = app.state.signing_key
    base = _forge(app, acct.id, sid=real["sid"])
    now = datetime.now(UTC)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "alg none": jwt.encode(base, None, algorithm="none"),
        "rs256 confusion": jwt.encode(base, rsa_key, algorithm="RS256"),
        "expired": jwt.encode({**base, "exp": now - timedelta(minutes=1)}, key, algorithm="HS256"),
        "not yet valid": jwt.encode(
            {**base, "nbf": now + timedelta(minutes=5)}, key, algorithm="HS256"
        ),
        "wrong audience": jwt.encode({**base, "aud": "other"}, key, algorithm="HS256"),
        "wrong issuer": jwt.encode({**base, "iss": "evil"}, key, algorithm="HS256"),
        "wrong key": jwt.encode(base, "another-secret-key-of-enough-length-xx", algorithm="HS256"),
    }
    for name, token in cases.items():
        resp = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, name
    good = jwt.encode(base, key, algorithm="HS256")
    assert (
        await client.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"})
    ).status_code == 200


async def test_anonymous_gets_401_problem(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/auth/me")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
