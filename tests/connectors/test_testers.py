"""Connection testers and the SSRF guard, against real servers on loopback: a separate embedded
PostgreSQL, a stdlib HTTP server and an OpenBao dev server. Nothing here is mocked."""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from datamesh.connectors import registry
from datamesh.connectors.registry import ConnectorType, SecretField, TestOutcome
from datamesh.connectors.testers import run_test
from datamesh.kit.ssrf import (
    HostNotResolved,
    OutboundBlocked,
    OutboundPolicy,
    RedirectLimitExceeded,
    guarded_client,
    request_following_redirects,
)
from datamesh.secrets.resolver import SecretResolutionError, SecretResolver, VaultConfig
from tests.connectors.conftest import HTTP_TOKEN, TargetDatabase
from tests.fixtures.http_target import HttpTarget
from tests.fixtures.openbao import OpenBaoServer

METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
TIMEOUT = 10.0


def _resolver_returning(table: dict[str, list[str]]) -> Any:
    """A resolver hook standing in for DNS answers we cannot create without editing /etc/hosts."""

    async def resolve(host: str, port: int | None) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections (via the backlog) and never answers: forces a timeout."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


# == SSRF guard ==================================================================================
async def test_metadata_ip_is_refused_by_default() -> None:
    with pytest.raises(OutboundBlocked) as info:
        await OutboundPolicy().check_host("169.254.169.254")
    assert "169.254.169.254" in str(info.value)
    assert "169.254.0.0/16" in str(info.value)


async def test_other_metadata_addresses_are_refused_by_default() -> None:
    policy = OutboundPolicy()
    for host in ("fd00:ec2::254", "100.100.100.200", "fe80::1", "[fe80::1]", "0.0.0.0"):
        with pytest.raises(OutboundBlocked):
            await policy.check_host(host)


async def test_metadata_host_names_are_refused_without_resolving() -> None:
    policy = OutboundPolicy(resolver=_resolver_returning({}))
    for host in (
        "metadata.google.internal",
        "METADATA.google.internal.",
        "metadata",
        "instance-data",
    ):
        with pytest.raises(OutboundBlocked) as info:
            await policy.check_host(host)
        assert "metadata" in str(info.value) or "instance-data" in str(info.value)


async def test_a_name_resolving_to_metadata_is_refused() -> None:
    policy = OutboundPolicy(resolver=_resolver_returning({"evil.example": ["169.254.169.254"]}))
    with pytest.raises(OutboundBlocked) as info:
        await policy.check_host("evil.example", 443)
    assert info.value.host == "evil.example"
    assert "evil.example (169.254.169.254)" in str(info.value)


async def test_one_bad_address_among_many_is_enough_to_refuse() -> None:
    policy = OutboundPolicy(
        resolver=_resolver_returning({"mixed.example": ["10.0.0.7", "2001:db8::1", "169.254.1.1"]})
    )
    with pytest.raises(OutboundBlocked):
        await policy.check_host("mixed.example")


async def test_ipv6_wrapped_metadata_addresses_are_refused() -> None:
    policy = OutboundPolicy(
        resolver=_resolver_returning(
            {"mapped.example": ["::ffff:169.254.169.254"], "nat64.example": ["64:ff9b::a9fe:a9fe"]}
        )
    )
    for host in ("mapped.example", "nat64.example", "::ffff:169.254.169.254"):
        with pytest.raises(OutboundBlocked):
            await policy.check_host(host)


async def test_legacy_numeric_forms_resolve_and_are_refused() -> None:
    # 2852039166 == 0xA9FEA9FE == 169.254.169.254 for inet_aton, which getaddrinfo uses.
    with pytest.raises(OutboundBlocked) as info:
        await OutboundPolicy().check_host("2852039166")
    assert "169.254.169.254" in str(info.value)


async def test_loopback_and_private_ranges_are_allowed_by_default() -> None:
    policy = OutboundPolicy(
        resolver=_resolver_returning({"db.internal": ["10.1.2.3", "fd12:3456::5"]})
    )
    assert await policy.check_host("127.0.0.1") == [ipaddress.ip_address("127.0.0.1")]
    assert await policy.check_host("::1") == [ipaddress.ip_address("::1")]
    assert [str(ip) for ip in await policy.check_host("db.internal")] == [
        "10.1.2.3",
        "fd12:3456::5",
    ]
    resolved = await OutboundPolicy().check_host("localhost")
    assert resolved
    assert all(ip.is_loopback for ip in resolved)


async def test_admin_can_deny_loopback() -> None:
    policy = OutboundPolicy(denied=["127.0.0.0/8", "::1/128"])
    for host in ("127.0.0.1", "127.9.9.9", "localhost", "::1"):
        with pytest.raises(OutboundBlocked) as info:
            await policy.check_host(host)
        assert "denied by admin" in str(info.value)


async def test_admin_deny_covers_private_ranges_but_a_narrower_allow_wins() -> None:
    policy = OutboundPolicy(denied=["10.0.0.0/8"], allowed=["10.20.0.0/16"])
    assert policy.is_allowed("10.20.1.1")
    assert not policy.is_allowed("10.30.1.1")
    assert not policy.is_allowed("::ffff:10.30.1.1")


async def test_default_denies_are_overridden_only_when_explicitly_allowed() -> None:
    assert not OutboundPolicy(allowed=["0.0.0.0/0"]).is_allowed("169.254.169.254")
    explicit = OutboundPolicy(allowed=["169.254.169.254/32"])
    assert explicit.is_allowed("169.254.169.254")
    assert not explicit.is_allowed("169.254.169.253")
    # At the same prefix length an admin deny beats an admin allow.
    assert not OutboundPolicy(denied=["10.0.0.0/8"], allowed=["10.0.0.0/8"]).is_allowed("10.1.1.1")


def test_bad_network_in_policy_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="not an IP network"):
        OutboundPolicy(denied=["not-a-network"])


async def test_unresolvable_host() -> None:
    with pytest.raises(HostNotResolved) as info:
        await OutboundPolicy().check_host("no-such-host.invalid")
    assert "no-such-host.invalid" in str(info.value)


async def test_guarded_client_refuses_metadata_before_connecting() -> None:
    async with guarded_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises(OutboundBlocked):
            await client.get(METADATA_URL)


async def test_guarded_client_reaches_loopback_target(http_target: HttpTarget) -> None:
    async with guarded_client(OutboundPolicy(), timeout=5) as client:
        response, hops = await request_following_redirects(client, "GET", http_target.url("/ok"))
    assert (response.status_code, hops) == (200, 0)


async def test_guarded_client_keeps_the_host_name_in_the_host_header(
    http_target: HttpTarget,
) -> None:
    # Connects to the checked IP, but the server still sees the name the user gave.
    async with guarded_client(OutboundPolicy(), timeout=5) as client:
        response, _ = await request_following_redirects(
            client, "GET", http_target.url("/ok", host="localhost")
        )
    assert response.status_code == 200
    assert http_target.seen[-1].host == f"localhost:{http_target.port}"


async def test_redirect_to_metadata_is_refused(http_target: HttpTarget) -> None:
    url = http_target.url(f"/redirect?to={METADATA_URL}")
    async with guarded_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises(OutboundBlocked) as info:
            await request_following_redirects(client, "GET", url)
    assert "169.254.169.254" in str(info.value)


async def test_redirect_is_checked_even_with_httpx_following_it(http_target: HttpTarget) -> None:
    url = http_target.url(f"/redirect?to={METADATA_URL}")
    async with guarded_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises(OutboundBlocked):
            await client.get(url, follow_redirects=True)


async def test_redirect_to_a_loopback_denied_by_admin_is_refused(http_target: HttpTarget) -> None:
    policy = OutboundPolicy(allowed=["127.0.0.1/32"], denied=["127.0.0.0/8", "::1/128"])
    # 127.0.0.1 is allowed, 127.0.0.2 is not: the second hop must be refused.
    url = http_target.url(f"/redirect?to=http://127.0.0.2:{http_target.port}/ok")
    async with guarded_client(policy, timeout=5) as client:
        with pytest.raises(OutboundBlocked) as info:
            await request_following_redirects(client, "GET", url)
    assert "127.0.0.2" in str(info.value)


async def test_redirect_chain_is_capped_at_five_hops(http_target: HttpTarget) -> None:
    url = http_target.url("/ok")
    for _ in range(6):  # six nested redirects in front of /ok
        url = str(httpx.URL(http_target.url("/redirect"), params={"to": url}))
    async with guarded_client(OutboundPolicy(), timeout=5) as client:
        response, hops = await request_following_redirects(client, "GET", url, max_redirects=10)
        assert (response.status_code, hops) == (200, 6)
        with pytest.raises(RedirectLimitExceeded) as info:
            await request_following_redirects(client, "GET", url)
    assert "more than 5 redirects" in str(info.value)


async def test_redirect_to_another_origin_drops_the_token(http_target: HttpTarget) -> None:
    cross = f"http://localhost:{http_target.port}/auth"
    url = str(httpx.URL(http_target.url("/redirect"), params={"to": cross}))
    async with guarded_client(OutboundPolicy(), timeout=5) as client:
        response, hops = await request_following_redirects(
            client, "GET", url, headers={"Authorization": f"Bearer {HTTP_TOKEN}"}
        )
    assert (response.status_code, hops) == (401, 1)
    assert http_target.seen[-1].authorization is None


async def test_non_http_schemes_are_refused() -> None:
    async with guarded_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises((OutboundBlocked, httpx.UnsupportedProtocol)):
            await client.get("file:///etc/passwd")


# == HTTP API tester =============================================================================
async def _http(
    config: dict[str, Any],
    secrets_: dict[str, str] | None = None,
    *,
    policy: OutboundPolicy | None = None,
    timeout: float = TIMEOUT,
) -> TestOutcome:
    return await run_test(
        registry.get("http_api"),
        config,
        secrets_ or {},
        timeout=timeout,
        policy=policy or OutboundPolicy(),
    )


async def test_http_ok(http_target: HttpTarget) -> None:
    outcome = await _http({"url": http_target.url("/ok")})
    assert outcome.ok
    assert re.fullmatch(r"HTTP 200 in \d+ ms", outcome.message)
    assert outcome.details["status"] == 200


async def test_http_unexpected_status(http_target: HttpTarget) -> None:
    outcome = await _http({"url": http_target.url("/fail")})
    assert not outcome.ok
    assert outcome.message == "expected 200, got 503"


async def test_http_expected_status_list(http_target: HttpTarget) -> None:
    outcome = await _http({"url": http_target.url("/fail"), "expected_status": [200, 503]})
    assert outcome.ok
    assert outcome.message.startswith("HTTP 503")


async def test_http_head_and_post(http_target: HttpTarget) -> None:
    for method in ("HEAD", "POST"):
        outcome = await _http({"url": http_target.url("/ok"), "method": method})
        assert outcome.ok, outcome.message
        assert http_target.seen[-1].method == method


async def test_http_bearer_token_comes_from_the_secret(http_target: HttpTarget) -> None:
    assert (await _http({"url": http_target.url("/auth")}, {"token": HTTP_TOKEN})).ok
    outcome = await _http({"url": http_target.url("/auth")})
    assert outcome.message == "expected 200, got 401"
    wrong = await _http({"url": http_target.url("/auth")}, {"token": "not-the-token"})
    assert wrong.message == "expected 200, got 401"


async def test_http_follows_safe_redirects(http_target: HttpTarget) -> None:
    url = str(httpx.URL(http_target.url("/redirect"), params={"to": http_target.url("/ok")}))
    outcome = await _http({"url": url})
    assert outcome.ok
    assert outcome.details["redirects"] == 1


async def test_http_redirect_to_metadata_fails_the_test(http_target: HttpTarget) -> None:
    url = str(httpx.URL(http_target.url("/redirect"), params={"to": METADATA_URL}))
    outcome = await _http({"url": url})
    assert not outcome.ok
    assert "169.254.169.254" in outcome.message
    assert "refused" in outcome.message


async def test_http_metadata_url_fails_the_test() -> None:
    outcome = await _http({"url": METADATA_URL})
    assert not outcome.ok
    assert "refused" in outcome.message


async def test_http_loopback_refused_when_admin_denies_it(http_target: HttpTarget) -> None:
    policy = OutboundPolicy(denied=["127.0.0.0/8", "::1/128"])
    outcome = await _http({"url": http_target.url("/ok")}, policy=policy)
    assert not outcome.ok
    assert "denied by admin" in outcome.message


async def test_http_connection_refused() -> None:
    outcome = await _http({"url": f"http://127.0.0.1:{_closed_port()}/"})
    assert not outcome.ok
    assert "connection refused" in outcome.message


async def test_http_timeout(http_target: HttpTarget) -> None:
    outcome = await _http({"url": http_target.url("/slow?s=3")}, timeout=0.5)
    assert not outcome.ok
    assert "timed out" in outcome.message


async def test_http_invalid_config_is_reported_not_run() -> None:
    outcome = await _http({"url": "gopher://x", "headers": {"Authorization": "Bearer raw"}})
    assert not outcome.ok
    assert outcome.message.startswith("invalid config:")
    assert "headers.Authorization" in outcome.message
    assert "Bearer raw" not in outcome.message


# == PostgreSQL tester ===========================================================================
def _pg_config(db: TargetDatabase, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": db.port,
        "database": db.database,
        "user": db.user,
        "sslmode": "disable",
    }
    config.update(overrides)
    return config


async def _pg(
    config: dict[str, Any],
    secrets_: dict[str, str],
    *,
    policy: OutboundPolicy | None = None,
    timeout: float = TIMEOUT,
) -> TestOutcome:
    return await run_test(
        registry.get("postgresql"),
        config,
        secrets_,
        timeout=timeout,
        policy=policy or OutboundPolicy(),
    )


async def test_pg_good_credentials(target_db: TargetDatabase) -> None:
    outcome = await _pg(_pg_config(target_db), {"password": target_db.password})
    assert outcome.ok, outcome.message
    assert re.fullmatch(r"PostgreSQL \d+(\.\d+)*", outcome.message)
    assert outcome.details["server_version"].startswith(outcome.message.split()[1])
    assert outcome.details["ssl"] is False


async def test_pg_default_sslmode_prefer_falls_back_to_plain(target_db: TargetDatabase) -> None:
    config = _pg_config(target_db)
    del config["sslmode"]
    outcome = await _pg(config, {"password": target_db.password})
    assert outcome.ok, outcome.message


async def test_pg_host_name_is_resolved_and_checked(target_db: TargetDatabase) -> None:
    outcome = await _pg(_pg_config(target_db, host="localhost"), {"password": target_db.password})
    assert outcome.ok, outcome.message


async def test_pg_wrong_password(target_db: TargetDatabase) -> None:
    wrong = f"wrong-{secrets.token_hex(6)}"
    outcome = await _pg(_pg_config(target_db), {"password": wrong})
    assert not outcome.ok
    assert f'authentication failed for user "{target_db.user}"' in outcome.message
    assert wrong not in outcome.message
    assert wrong not in repr(outcome)
    assert outcome.details["sqlstate"] == "28P01"


async def test_pg_missing_password_does_not_borrow_the_servers(
    target_db: TargetDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PGPASSWORD/.pgpass of the DataMesh server must never be sent to a user-chosen host.
    monkeypatch.setenv("PGPASSWORD", target_db.password)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:*:{target_db.password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    outcome = await _pg(_pg_config(target_db), {})
    assert not outcome.ok
    assert "password" in outcome.message


async def test_pg_unknown_database(target_db: TargetDatabase) -> None:
    outcome = await _pg(_pg_config(target_db, database="nope_db"), {"password": target_db.password})
    assert not outcome.ok
    assert 'database "nope_db" does not exist' in outcome.message


async def test_pg_closed_port() -> None:
    config = {"host": "127.0.0.1", "port": _closed_port(), "database": "d", "user": "u"}
    outcome = await _pg(config, {"password": "whatever-pw"})
    assert not outcome.ok
    assert outcome.message.startswith("connection refused")


async def test_pg_silent_server_times_out(silent_server: int) -> None:
    config = {"host": "127.0.0.1", "port": silent_server, "database": "d", "user": "u"}
    outcome = await _pg(config, {"password": "whatever-pw"}, timeout=0.5)
    assert not outcome.ok
    assert "timed out" in outcome.message


async def test_pg_blocked_hosts(target_db: TargetDatabase) -> None:
    outcome = await _pg(_pg_config(target_db, host="169.254.169.254"), {"password": "pw-x-1"})
    assert not outcome.ok
    assert "refused" in outcome.message
    denied = OutboundPolicy(denied=["127.0.0.0/8", "::1/128"])
    outcome = await _pg(_pg_config(target_db), {"password": target_db.password}, policy=denied)
    assert not outcome.ok
    assert "denied by admin" in outcome.message


async def test_pg_unresolvable_host() -> None:
    config = {"host": "no-such-host.invalid", "database": "d", "user": "u"}
    outcome = await _pg(config, {"password": "pw-x-2"})
    assert not outcome.ok
    assert outcome.message == "no-such-host.invalid: host name could not be resolved"


# == secrets through references ==================================================================
@pytest.fixture(scope="module")
def vault_resolver(openbao: OpenBaoServer, target_db: TargetDatabase) -> SecretResolver:
    openbao.write_secret("secret/connectors/pg", {"password": target_db.password})
    openbao.write_secret("secret/connectors/http", {"token": HTTP_TOKEN})
    return SecretResolver(vault=VaultConfig(url=openbao.url, token=openbao.root_token))


@pytest.fixture
def refs(
    target_db: TargetDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The canary password behind one reference of each scheme."""
    monkeypatch.setenv("DM_TEST_PG_PASSWORD", target_db.password)
    path = tmp_path / "pg-password"
    path.write_text(target_db.password + "\n")
    return {
        "env": "env:DM_TEST_PG_PASSWORD",
        "file": f"file:{path}",
        "vault": "vault:secret/connectors/pg#password",
    }


@pytest.mark.parametrize("scheme", ["env", "file", "vault"])
async def test_pg_with_resolved_reference(
    scheme: str,
    refs: dict[str, str],
    vault_resolver: SecretResolver,
    target_db: TargetDatabase,
) -> None:
    values = await vault_resolver.resolve_many({"password": refs[scheme]})
    outcome = await _pg(_pg_config(target_db), values)
    assert outcome.ok, outcome.message


async def test_http_with_token_from_vault(
    vault_resolver: SecretResolver, http_target: HttpTarget
) -> None:
    values = await vault_resolver.resolve_many({"token": "vault:secret/connectors/http#token"})
    assert (await _http({"url": http_target.url("/auth")}, values)).ok


# == the canary: a resolved secret never leaks ==================================================
async def _leaky_tester(
    config: Mapping[str, Any], secrets_: Mapping[str, str], timeout: float, policy: OutboundPolicy
) -> TestOutcome:
    """A badly written plugin tester that echoes its secret everywhere."""
    password = secrets_["password"]
    if config.get("mode") == "raise":
        raise RuntimeError(
            f"driver said: bad password {password!r} for dsn user:{quote(password)}@h"
        )
    return TestOutcome(
        ok=False,
        message=f"login with {password} failed",
        latency_ms=1.0,
        details={"dsn": f"user:{quote(password, safe='')}@h", "tried": [password], password: 1},
    )


LEAKY = ConnectorType(
    type="leaky_plugin",
    title="Leaky",
    description="Echoes secrets.",
    capabilities={"test_connection": True},
    config_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {"mode": {"enum": ["raise", "return"]}},
    },
    secret_fields=(SecretField("password", "Password."),),
    tester=_leaky_tester,
)


@pytest.mark.parametrize("mode", ["raise", "return"])
async def test_run_test_scrubs_even_a_leaky_tester(canary: str, mode: str) -> None:
    outcome = await run_test(
        LEAKY, {"mode": mode}, {"password": canary}, timeout=5, policy=OutboundPolicy()
    )
    assert not outcome.ok
    text = outcome.message + repr(outcome.details)
    assert "***" in text
    for form in (canary, quote(canary), quote(canary, safe=""), repr(canary)[1:-1]):
        assert form not in text


async def test_canary_never_appears_in_any_outcome_or_error(
    canary: str,
    refs: dict[str, str],
    vault_resolver: SecretResolver,
    target_db: TargetDatabase,
    http_target: HttpTarget,
    openbao: OpenBaoServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    openbao.write_secret("secret/connectors/canary", {"token": canary, "other": canary})
    # A value no HTTP library would send (h11 quotes such a value in its error).
    monkeypatch.setenv("DM_TEST_BAD_TOKEN", canary + "\nX-Injected: 1")
    texts: list[str] = []
    outcomes: list[TestOutcome] = []
    redirect_to_metadata = str(httpx.URL(http_target.url("/redirect"), params={"to": METADATA_URL}))
    for ref in [*refs.values(), "vault:secret/connectors/canary#token", "env:DM_TEST_BAD_TOKEN"]:
        values = await vault_resolver.resolve_many({"password": ref})
        token = {"token": values["password"]}
        outcomes += [
            await _pg(_pg_config(target_db), values),  # succeeds
            await _pg(_pg_config(target_db, user="postgres"), values),  # auth failure
            await _pg(_pg_config(target_db, database="nope_db"), values),
            await _pg({**_pg_config(target_db), "port": _closed_port()}, values),
            await _pg(_pg_config(target_db, host="169.254.169.254"), values),
            await _pg(_pg_config(target_db, user=target_db.user, extra=1), values),
            await _http({"url": http_target.url("/fail")}, token),
            await _http({"url": http_target.url("/auth")}, token),
            await _http({"url": redirect_to_metadata}, token),
            await _http({"url": f"http://127.0.0.1:{_closed_port()}/"}, token),
        ]
    assert outcomes[-4].message == "token contains characters not allowed in an HTTP header"
    for bad_ref in ("vault:secret/connectors/canary#missing", "vault:secret/connectors/nope#token"):
        with pytest.raises(SecretResolutionError) as info:
            await vault_resolver.resolve(bad_ref)
        texts += [str(info.value), repr(info.value)]
    assert any(o.ok for o in outcomes)
    assert any(not o.ok for o in outcomes)
    for outcome in outcomes:
        texts += [outcome.message, repr(outcome.details), repr(outcome)]
    forms = {canary, quote(canary, safe=""), quote_plus(canary)}
    for text in texts:
        for form in forms:
            assert form not in text
    assert canary not in caplog.text
