"""Sign-in throttling (OWASP): per account with backoff, a far higher per-address limit against
spraying, never another account locked out, nothing told about whether an account exists, and
X-Forwarded-For believed only from DATAMESH_TRUSTED_PROXIES."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from datamesh.config import Settings
from tests.conftest import running_app
from tests.factories import PASSWORD, make_user

WRONG = "not-the-password"


@asynccontextmanager
async def client_at(app: FastAPI, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client whose connection comes from ``address`` (as the server sees its peer)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@asynccontextmanager
async def app_with(settings: Settings, **changes: Any) -> AsyncIterator[FastAPI]:
    async with running_app(settings.model_copy(update=changes), migrate_on_start=False) as app:
        yield app


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str, **headers: str
) -> httpx.Response:
    client.cookies.clear()
    return await client.post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def pass_time(raw_conn: asyncpg.Connection, seconds: int) -> None:
    """As if ``seconds`` had passed since every recorded failure."""
    await raw_conn.execute(
        "UPDATE login_throttle SET window_start = window_start - make_interval(secs => $1)",
        seconds,
    )


async def test_twelve_wrong_passwords_lock_out_only_that_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The issue's scenario: everyone behind the attacker's address still signs in."""
    await make_user(app, "viewer@acme.test")
    await make_user(app, "admin@acme.test", role="admin")
    await make_user(app, "admin@globex.test", org="Globex", role="admin")
    answers = [(await sign_in(client, "viewer@acme.test", WRONG)).status_code for _ in range(12)]
    limit = app.state.settings.login_max_failures
    assert answers == [401] * limit + [429] * (12 - limit)
    assert (await sign_in(client, "admin@acme.test", PASSWORD)).status_code == 200
    assert (await sign_in(client, "admin@globex.test", PASSWORD)).status_code == 200
    # The attacked account itself waits out its backoff, even with its right password.
    held = await sign_in(client, "viewer@acme.test", PASSWORD)
    assert held.status_code == 429
    assert 0 < int(held.headers["retry-after"]) <= app.state.settings.login_backoff_seconds


async def test_the_attacked_account_backs_off_exponentially_then_recovers(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    settings = app.state.settings
    await make_user(app, "target@acme.test")
    for _ in range(settings.login_max_failures):
        assert (await sign_in(client, "target@acme.test", WRONG)).status_code == 401
    waits = []
    for _ in range(3):
        blocked = await sign_in(client, "target@acme.test", WRONG)
        assert blocked.status_code == 429
        waits.append(int(blocked.headers["retry-after"]))
        await pass_time(raw_conn, waits[-1] + 1)
        # Once the wait is over the account may try again; another failure doubles the wait.
        assert (await sign_in(client, "target@acme.test", WRONG)).status_code == 401
    base = settings.login_backoff_seconds
    assert waits == [base, 2 * base, 4 * base]
    assert int((await sign_in(client, "target@acme.test", PASSWORD)).headers["retry-after"]) == (
        8 * base
    )
    await pass_time(raw_conn, 8 * base + 1)
    assert (await sign_in(client, "target@acme.test", PASSWORD)).status_code == 200
    # Success forgets the failures: the next typo starts from scratch.
    assert (await sign_in(client, "target@acme.test", WRONG)).status_code == 401
    assert (await sign_in(client, "target@acme.test", PASSWORD)).status_code == 200


async def test_an_account_is_forgiven_after_a_quiet_window(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    settings = app.state.settings
    await make_user(app, "forgetful@acme.test")
    for _ in range(settings.login_max_failures):
        await sign_in(client, "forgetful@acme.test", WRONG)
    await pass_time(raw_conn, settings.login_failure_window_seconds + 1)
    assert (await sign_in(client, "forgetful@acme.test", WRONG)).status_code == 401
    assert (await sign_in(client, "forgetful@acme.test", PASSWORD)).status_code == 200


async def test_spraying_many_accounts_hits_the_address_limit(
    settings: Settings, clean_db: None
) -> None:
    async with app_with(settings, login_address_max_failures=8) as app:
        await make_user(app, "real@acme.test")
        async with client_at(app, "198.51.100.7") as sprayer, client_at(app, "192.0.2.1") as other:
            for i in range(8):  # one guess per account: no account reaches its own limit
                r = await sign_in(sprayer, f"user{i}@acme.test", "Summer2026!")
                assert r.status_code == 401
            blocked = await sign_in(sprayer, "real@acme.test", PASSWORD)
            assert blocked.status_code == 429
            assert int(blocked.headers["retry-after"]) > 0
            assert "address" in blocked.json()["detail"]
            # Another address is not affected, nor is the account the sprayer named.
            assert (await sign_in(other, "real@acme.test", PASSWORD)).status_code == 200


async def test_the_default_address_limit_is_far_above_the_account_limit(
    settings: Settings,
) -> None:
    assert settings.login_address_max_failures >= 10 * settings.login_max_failures


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    settings: Settings, clean_db: None
) -> None:
    async with app_with(settings, login_address_max_failures=3) as app:
        await make_user(app, "someone@acme.test")
        async with client_at(app, "127.0.0.1") as c:
            for i in range(3):
                forged = {"X-Forwarded-For": f"203.0.113.{i}"}
                assert (await sign_in(c, f"x{i}@acme.test", WRONG, **forged)).status_code == 401
            # A new forged address does not escape the limit of the real peer.
            again = await sign_in(
                c, "someone@acme.test", PASSWORD, **{"X-Forwarded-For": "203.0.113.99"}
            )
            assert again.status_code == 429


async def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(
    settings: Settings, clean_db: None, raw_conn: asyncpg.Connection
) -> None:
    async with app_with(
        settings, login_address_max_failures=3, trusted_proxies=["10.0.0.0/8"]
    ) as app:
        await make_user(app, "someone@acme.test")
        async with client_at(app, "10.1.2.3") as proxy:
            spray = {"X-Forwarded-For": "203.0.113.7"}
            for i in range(3):
                assert (await sign_in(proxy, f"x{i}@acme.test", WRONG, **spray)).status_code == 401
            assert (await sign_in(proxy, "someone@acme.test", PASSWORD, **spray)).status_code == 429
            # Another user behind the same proxy signs in.
            colleague = {"X-Forwarded-For": "203.0.113.8"}
            ok = await sign_in(proxy, "someone@acme.test", PASSWORD, **colleague)
            assert ok.status_code == 200
        clients = await raw_conn.fetch(
            "SELECT DISTINCT host(client) AS c FROM audit_log WHERE action LIKE 'auth.%'"
        )
        assert {r["c"] for r in clients} == {"203.0.113.7", "203.0.113.8"}


async def test_throttled_answers_do_not_tell_whether_the_account_exists(
    app: FastAPI, client: httpx.AsyncClient, raw_conn: asyncpg.Connection
) -> None:
    await make_user(app, "known@acme.test")
    for _ in range(app.state.settings.login_max_failures):
        known = await sign_in(client, "known@acme.test", WRONG)
        unknown = await sign_in(client, "nobody@acme.test", WRONG)
        assert known.status_code == unknown.status_code == 401
        assert known.json() == unknown.json()
    known = await sign_in(client, "known@acme.test", PASSWORD)
    unknown = await sign_in(client, "nobody@acme.test", PASSWORD)
    assert known.status_code == unknown.status_code == 429
    assert known.json() == unknown.json()
    assert known.headers["retry-after"] == unknown.headers["retry-after"]


async def test_failures_count_across_worker_processes(settings: Settings, clean_db: None) -> None:
    """Two app instances on one database, as two workers of `serve --workers 2`."""
    async with app_with(settings) as one, app_with(settings) as two:
        await make_user(one, "shared@acme.test")
        async with client_at(one) as c1, client_at(two) as c2:
            for i in range(settings.login_max_failures):
                assert (
                    await sign_in((c1, c2)[i % 2], "shared@acme.test", WRONG)
                ).status_code == 401
            assert (await sign_in(c1, "shared@acme.test", PASSWORD)).status_code == 429
            assert (await sign_in(c2, "shared@acme.test", PASSWORD)).status_code == 429
