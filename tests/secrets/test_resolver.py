"""SecretResolver against real sources: the process environment, real files, a real OpenBao."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from datamesh.secrets.references import parse_ref
from datamesh.secrets.resolver import SecretResolutionError, SecretResolver, VaultConfig
from tests.fixtures.openbao import OpenBaoServer


def _value() -> str:
    return f"val-{secrets.token_hex(8)}"


async def _error(resolver: SecretResolver, ref: str) -> SecretResolutionError:
    with pytest.raises(SecretResolutionError) as info:
        await resolver.resolve(ref)
    return info.value


# -- env: ----------------------------------------------------------------------------------------
async def test_env_reference_reads_the_variable_at_use(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = SecretResolver()
    monkeypatch.setenv("DM_TEST_SECRET", "first-value")
    assert await resolver.resolve("env:DM_TEST_SECRET") == "first-value"
    monkeypatch.setenv("DM_TEST_SECRET", "rotated-value")
    assert await resolver.resolve("env:DM_TEST_SECRET") == "rotated-value"


async def test_missing_env_variable_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    err = await _error(SecretResolver(), "env:DB_PASSWORD")
    assert str(err) == "env:DB_PASSWORD is not set"
    assert err.ref == "env:DB_PASSWORD"


async def test_empty_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DM_TEST_EMPTY", "")
    err = await _error(SecretResolver(), "env:DM_TEST_EMPTY")
    assert str(err) == "env:DM_TEST_EMPTY is empty"


async def test_explicit_environment_mapping_is_used_instead_of_os_environ() -> None:
    resolver = SecretResolver(environ={"ONLY_HERE": "mapped"})
    assert await resolver.resolve("env:ONLY_HERE") == "mapped"
    assert await resolver.resolve(parse_ref("env:ONLY_HERE")) == "mapped"


async def test_a_raw_value_is_not_a_reference_and_is_not_echoed() -> None:
    raw = "hunter2-pasted-by-mistake"
    err = await _error(SecretResolver(), raw)
    assert "not a valid secret reference" in str(err)
    assert raw not in str(err)
    assert raw not in repr(err)


# -- file: ---------------------------------------------------------------------------------------
async def test_file_reference_strips_the_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("file-secret\n")
    assert await SecretResolver().resolve(f"file:{path}") == "file-secret"
    path.write_bytes(b"windows-secret\r\n")
    assert await SecretResolver().resolve(f"file:{path}") == "windows-secret"


async def test_file_is_read_at_each_use_without_cache(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    resolver = SecretResolver()
    path.write_text("one\n")
    assert await resolver.resolve(f"file:{path}") == "one"
    path.write_text("two\n")
    assert await resolver.resolve(f"file:{path}") == "two"


async def test_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    # Kubernetes mounts secrets as symlinks into a ..data directory.
    real = tmp_path / "real"
    real.write_text("linked-secret\n")
    link = tmp_path / "link"
    link.symlink_to(real)
    assert await SecretResolver().resolve(f"file:{link}") == "linked-secret"


async def test_missing_file(tmp_path: Path) -> None:
    ref = f"file:{tmp_path}/absent"
    err = await _error(SecretResolver(), ref)
    assert str(err) == f"{ref}: not found"


async def test_directory_and_fifo_are_refused(tmp_path: Path) -> None:
    err = await _error(SecretResolver(), f"file:{tmp_path}")
    assert str(err).endswith("not a regular file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # Opening a FIFO with no writer would block a naive reader forever.
    err = await _error(SecretResolver(), f"file:{fifo}")
    assert str(err).endswith("not a regular file")


async def test_device_file_is_refused() -> None:
    err = await _error(SecretResolver(), "file:/dev/zero")
    assert str(err) == "file:/dev/zero: not a regular file"


async def test_files_over_64_kib_are_refused(tmp_path: Path) -> None:
    ok = tmp_path / "exactly"
    ok.write_bytes(b"x" * (64 * 1024))
    assert len(await SecretResolver().resolve(f"file:{ok}")) == 64 * 1024
    big = tmp_path / "big"
    big.write_bytes(b"y" * (64 * 1024 + 1))
    err = await _error(SecretResolver(), f"file:{big}")
    assert str(err) == f"file:{big}: larger than 64 KiB"
    assert "yyyy" not in str(err)


async def test_binary_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "bin"
    path.write_bytes(b"\xff\xfe-binary-secret")
    err = await _error(SecretResolver(), f"file:{path}")
    assert str(err).endswith("not UTF-8 text")
    assert "binary-secret" not in str(err)


async def test_os_errors_are_not_chained_into_the_resolution_error(tmp_path: Path) -> None:
    err = await _error(SecretResolver(), f"file:{tmp_path}/absent")
    assert err.__cause__ is None
    assert err.__context__ is None


# -- vault: --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vault_value(openbao: OpenBaoServer) -> str:
    value = _value()
    openbao.write_secret("secret/app/db", {"password": value, "port": 5432})
    return value


def _token_resolver(openbao: OpenBaoServer, *, cache_seconds: float = 0) -> SecretResolver:
    config = VaultConfig(url=openbao.url, token=openbao.root_token)
    return SecretResolver(vault=config, cache_seconds=cache_seconds)


async def test_vault_reference_with_token(openbao: OpenBaoServer, vault_value: str) -> None:
    resolver = _token_resolver(openbao)
    assert await resolver.resolve("vault:secret/app/db#password") == vault_value


async def test_vault_missing_key_and_path(openbao: OpenBaoServer, vault_value: str) -> None:
    resolver = _token_resolver(openbao)
    err = await _error(resolver, "vault:secret/app/db#missing")
    assert str(err) == "vault:secret/app/db#missing: not found"
    err = await _error(resolver, "vault:secret/app/nothing-here#password")
    assert str(err) == "vault:secret/app/nothing-here#password: not found"
    assert err.__cause__ is None
    assert err.__context__ is None


async def test_vault_non_string_value_is_refused(openbao: OpenBaoServer, vault_value: str) -> None:
    err = await _error(_token_resolver(openbao), "vault:secret/app/db#port")
    assert str(err) == "vault:secret/app/db#port: value is not a string"


async def test_vault_permission_denied_names_no_token(
    openbao: OpenBaoServer, vault_value: str
) -> None:
    token = openbao.create_token(
        policy_hcl='path "secret/data/other/*" { capabilities = ["read"] }'
    )
    resolver = SecretResolver(vault=VaultConfig(url=openbao.url, token=token))
    err = await _error(resolver, "vault:secret/app/db#password")
    assert str(err) == "vault:secret/app/db#password: permission denied"
    assert token not in str(err)
    assert vault_value not in str(err)


async def test_vault_approle_login(openbao: OpenBaoServer, vault_value: str) -> None:
    role_id, secret_id = openbao.create_approle(
        policy_hcl='path "secret/data/app/*" { capabilities = ["read"] }'
    )
    resolver = SecretResolver(
        vault=VaultConfig(url=openbao.url, role_id=role_id, secret_id=secret_id)
    )
    assert await resolver.resolve("vault:secret/app/db#password") == vault_value


async def test_vault_approle_with_wrong_secret_id(openbao: OpenBaoServer) -> None:
    role_id, _ = openbao.create_approle(
        policy_hcl='path "secret/data/app/*" { capabilities = ["read"] }'
    )
    wrong = f"wrong-{secrets.token_hex(8)}"
    resolver = SecretResolver(vault=VaultConfig(url=openbao.url, role_id=role_id, secret_id=wrong))
    err = await _error(resolver, "vault:secret/app/db#password")
    assert str(err) == "vault:secret/app/db#password: vault login failed"
    assert wrong not in str(err)
    assert role_id not in str(err)


async def test_vault_bad_token(openbao: OpenBaoServer) -> None:
    bad = f"bad-{secrets.token_hex(8)}"
    resolver = SecretResolver(vault=VaultConfig(url=openbao.url, token=bad))
    err = await _error(resolver, "vault:secret/app/db#password")
    assert str(err) == "vault:secret/app/db#password: permission denied"
    assert bad not in str(err)


async def test_vault_unreachable() -> None:
    resolver = SecretResolver(vault=VaultConfig(url="http://127.0.0.1:9", token="t", timeout=2))
    err = await _error(resolver, "vault:secret/app/db#password")
    assert str(err) == "vault:secret/app/db#password: vault unreachable"
    assert err.__cause__ is None
    assert err.__context__ is None


async def test_vault_not_configured() -> None:
    err = await _error(SecretResolver(), "vault:secret/app/db#password")
    assert str(err) == "vault:secret/app/db#password: vault is not configured"


def test_vault_config_hides_credentials_and_needs_one() -> None:
    config = VaultConfig(url="http://vault:8200", token="root-token-value")
    assert "root-token-value" not in repr(config)
    approle = VaultConfig(url="http://vault:8200", role_id="rid-value", secret_id="sid-value")
    assert "sid-value" not in repr(approle)
    with pytest.raises(ValueError, match="token or an AppRole"):
        VaultConfig(url="http://vault:8200")


# -- cache ---------------------------------------------------------------------------------------
async def test_cache_keeps_a_value_briefly_and_can_be_cleared(openbao: OpenBaoServer) -> None:
    openbao.write_secret("secret/app/cached", {"k": "before"})
    cached = _token_resolver(openbao, cache_seconds=300)
    uncached = _token_resolver(openbao)
    assert await cached.resolve("vault:secret/app/cached#k") == "before"
    openbao.write_secret("secret/app/cached", {"k": "after"})
    assert await cached.resolve("vault:secret/app/cached#k") == "before"
    assert await uncached.resolve("vault:secret/app/cached#k") == "after"
    cached.clear_cache()
    assert await cached.resolve("vault:secret/app/cached#k") == "after"


async def test_failures_are_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = SecretResolver(cache_seconds=300)
    monkeypatch.delenv("DM_TEST_LATE", raising=False)
    await _error(resolver, "env:DM_TEST_LATE")
    monkeypatch.setenv("DM_TEST_LATE", "arrived")
    assert await resolver.resolve("env:DM_TEST_LATE") == "arrived"


def test_resolver_repr_shows_no_values() -> None:
    resolver = SecretResolver(vault=VaultConfig(url="http://v", token="tok-secret-value"))
    assert "tok-secret-value" not in repr(resolver)


# -- resolve_many --------------------------------------------------------------------------------
async def test_resolve_many_mixes_schemes(
    openbao: OpenBaoServer, vault_value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DM_TEST_USER_PW", "from-env")
    path = tmp_path / "key"
    path.write_text("from-file\n")
    values = await _token_resolver(openbao).resolve_many(
        {
            "password": "vault:secret/app/db#password",
            "token": "env:DM_TEST_USER_PW",
            "key": f"file:{path}",
        }
    )
    assert values == {"password": vault_value, "token": "from-env", "key": "from-file"}


async def test_resolve_many_names_the_failing_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DM_TEST_OK", "fine-value")
    monkeypatch.delenv("DM_TEST_GONE", raising=False)
    with pytest.raises(SecretResolutionError) as info:
        await SecretResolver().resolve_many(
            {"token": "env:DM_TEST_OK", "password": "env:DM_TEST_GONE"}
        )
    assert str(info.value) == "password: env:DM_TEST_GONE is not set"
    assert info.value.field == "password"
    assert "fine-value" not in str(info.value)
