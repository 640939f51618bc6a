"""Single sign-on end to end against a real, certified OpenID provider (npm oidc-provider)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from datamesh.auth.oidc import OIDCError
from datamesh.config import OIDCProviderSettings, Settings
from tests.conftest import client_for, running_app
from tests.fixtures.oidc import Login, OIDCProvider, complete_login

CALLBACK = "http://testserver/api/auth/oidc/test/callback"
ACCOUNTS = {
    "alice@acme.test": {"groups": ["datamesh-admins"], "name": "Alice Admin"},
    "pat@acme.test": {"groups": ["data-producers"], "name": "Pat Producer"},
    "eve@acme.test": {"groups": [], "name": "Eve", "email_verified": False},
}


@pytest.fixture(scope="module")
def op() -> Iterator[OIDCProvider]:
    with OIDCProvider(
        redirect_uris=[CALLBACK], post_logout_uris=["http://testserver/login"], accounts=ACCOUNTS
    ) as provider:
        yield provider


def provider_settings(op: OIDCProvider, **kw: object) -> OIDCProviderSettings:
    return OIDCProviderSettings(
        name="test",
        title="Test IdP",
        issuer=op.issuer,
        client_id=op.client_id,
        client_secret=op.client_secret,
        scopes=["openid", "email", "profile", "groups"],
        email_domains={"acme.test": "Acme"},
        group_roles={"datamesh-admins": "admin", "data-producers": "producer"},
        jwks_min_refresh_seconds=0,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def sso_app(settings: Settings, op: OIDCProvider, clean_db: None) -> AsyncIterator[FastAPI]:
    settings = settings.model_copy(
        update={"oidc_providers": [provider_settings(op)], "public_url": "http://testserver"}
    )
    async with running_app(settings, migrate_on_start=False) as app:
        yield app


async def sso(app: FastAPI, login: str, browser: httpx.Client | None = None) -> httpx.AsyncClient:
    """Sign in through the provider as a browser would; returns the app client with cookies."""
    client = client_for(app)
    start = await client.get("/api/auth/oidc/test/login", params={"next": "/catalog"})
    assert start.status_code == 302
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"]
    with browser or httpx.Client() as b:
        back = complete_login(b, authorize, login)
    assert back.startswith(CALLBACK)
    done = await client.get(back.removeprefix("http://testserver"))
    assert done.status_code == 302, done.text
    client.extra_location = done.headers["location"]  # type: ignore[attr-defined]
    return client


async def test_providers_are_listed(sso_app: FastAPI) -> None:
    async with client_for(sso_app) as c:
        resp = await c.get("/api/auth/providers")
    assert resp.json() == [
        {"name": "test", "title": "Test IdP", "login_url": "/api/auth/oidc/test/login"}
    ]


async def test_first_login_provisions_user_with_group_role(
    sso_app: FastAPI, raw_conn: asyncpg.Connection
) -> None:
    async with aclosing(await sso(sso_app, "alice@acme.test")) as client:
        assert client.extra_location == "/catalog"  # type: ignore[attr-defined]
        me = (await client.get("/api/auth/me")).json()
        assert me["email"] == "alice@acme.test"
        assert me["name"] == "Alice Admin"
        assert me["role"] == "admin"
        assert me["org"]["name"] == "Acme"
    row = await raw_conn.fetchrow("SELECT oidc_issuer, oidc_subject, password_hash FROM users")
    assert row["oidc_subject"] == "alice@acme.test"
    assert row["password_hash"] is None
    # A second sign-in finds the same user instead of creating another.
    again = await sso(sso_app, "alice@acme.test")
    await again.aclose()
    assert await raw_conn.fetchval("SELECT count(*) FROM users") == 1
    actions = [
        r["action"] for r in await raw_conn.fetch("SELECT action FROM audit_log ORDER BY seq")
    ]
    assert actions.count("auth.login") == 2
    assert "user.create" in actions


async def test_group_mapping_gives_producer(sso_app: FastAPI) -> None:
    async with aclosing(await sso(sso_app, "pat@acme.test")) as client:
        assert (await client.get("/api/auth/me")).json()["role"] == "producer"


async def test_unknown_domain_is_not_provisioned(sso_app: FastAPI) -> None:
    async with aclosing(await sso(sso_app, "mallory@evil.test")) as client:
        location = client.extra_location  # type: ignore[attr-defined]
        assert location.startswith("/login?error=sso")
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_state_mismatch_is_refused(sso_app: FastAPI) -> None:
    async with client_for(sso_app) as client:
        start = await client.get("/api/auth/oidc/test/login")
        with httpx.Client() as b:
            back = complete_login(b, start.headers["location"], "alice@acme.test")
        forged = back.replace("state=", "state=x")
        done = await client.get(forged.removeprefix("http://testserver"))
        assert done.headers["location"].startswith("/login?error=sso")
        assert (await client.get("/api/auth/me")).status_code == 401


async def test_callback_without_the_browser_cookie_is_refused(sso_app: FastAPI) -> None:
    async with client_for(sso_app) as client:
        start = await client.get("/api/auth/oidc/test/login")
        with httpx.Client() as b:
            back = complete_login(b, start.headers["location"], "alice@acme.test")
    async with client_for(sso_app) as attacker:  # a different browser: no state cookie
        done = await attacker.get(back.removeprefix("http://testserver"))
        assert done.headers["location"].startswith("/login?error=sso")
        assert (await attacker.get("/api/auth/me")).status_code == 401


async def _id_token(op: OIDCProvider, login: str, **kw: object) -> tuple[str, str]:
    flow = Login(op, scope="openid email profile groups", redirect_uri=CALLBACK, **kw)  # type: ignore[arg-type]
    with httpx.Client() as b:
        tokens = flow.tokens(b, login)
    return tokens["id_token"], flow.nonce


async def test_id_token_checks(sso_app: FastAPI, op: OIDCProvider) -> None:
    provider = sso_app.state.oidc.get("test")
    token, nonce = await _id_token(op, "alice@acme.test")
    claims = await provider.verify_id_token(token, nonce)
    assert claims["email"] == "alice@acme.test"
    with pytest.raises(OIDCError, match="nonce"):
        await provider.verify_id_token(token, "another-nonce")
    head, body, sig = token.split(".")
    tampered_sig = sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")
    with pytest.raises(OIDCError):
        await provider.verify_id_token(f"{head}.{body}.{tampered_sig}", nonce)
    import base64
    import json

    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["email"] = "root@acme.test"
    forged_body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(OIDCError):
        await provider.verify_id_token(f"{head}.{forged_body}.{sig}", nonce)
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(OIDCError, match="algorithm"):
        await provider.verify_id_token(f"{none_header}.{body}.", nonce)


async def test_wrong_audience_is_refused(sso_app: FastAPI, op: OIDCProvider) -> None:
    provider = sso_app.state.oidc.get("test")
    token, nonce = await _id_token(
        op, "alice@acme.test", client_id=op.other_client_id, client_secret=op.other_client_secret
    )
    with pytest.raises(OIDCError, match="another application"):
        await provider.verify_id_token(token, nonce)


async def test_expired_id_token_is_refused(settings: Settings, clean_db: None) -> None:
    with OIDCProvider(redirect_uris=[CALLBACK], accounts=ACCOUNTS, id_token_ttl=1) as short:
        s = settings.model_copy(
            update={
                "oidc_providers": [provider_settings(short, clock_skew_seconds=0)],
                "public_url": "http://testserver",
            }
        )
        async with running_app(s, migrate_on_start=False) as app:
            token, nonce = await _id_token(short, "alice@acme.test")
            time.sleep(2.1)
            with pytest.raises(OIDCError, match="expired"):
                await app.state.oidc.get("test").verify_id_token(token, nonce)


async def test_key_rotation_needs_no_restart(
    settings: Settings, clean_db: None, tmp_path: Path
) -> None:
    with OIDCProvider(redirect_uris=[CALLBACK], accounts=ACCOUNTS) as rotating:
        s = settings.model_copy(
            update={
                "oidc_providers": [provider_settings(rotating)],
                "public_url": "http://testserver",
            }
        )
        async with running_app(s, migrate_on_start=False) as app:
            first = await sso(app, "alice@acme.test")
            await first.aclose()
            old_kid = rotating.signing_kid
            new_kid = rotating.rotate_keys()
            assert new_kid != old_kid
            async with aclosing(await sso(app, "alice@acme.test")) as second:
                assert (await second.get("/api/auth/me")).status_code == 200


async def test_logout_offers_the_provider_logout(sso_app: FastAPI) -> None:
    async with aclosing(await sso(sso_app, "alice@acme.test")) as client:
        csrf = client.cookies.get("dm_csrf")
        out = await client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 200
        logout_url = out.json()["logout_url"]
        assert logout_url and "post_logout_redirect_uri" in logout_url
        assert (await client.get("/api/auth/me")).status_code == 401
