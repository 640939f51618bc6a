"""Resolution of secret references at the moment of use.

A reference (``env:NAME``, ``file:/path``, ``vault:mount/path#key``) is turned into its value only
when a caller is about to use it, and the value lives in memory only (optionally cached for a few
seconds to spare Vault a round trip per test). Every failure raises :class:`SecretResolutionError`
whose text names the reference and the reason, never a value or a Vault credential; the
underlying library exception is dropped, not chained, so its text cannot leak through a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from datamesh.secrets.references import InvalidSecretReference, SecretRef, parse_ref

MAX_FILE_BYTES = 64 * 1024


class SecretResolutionError(Exception):
    """A reference could not be resolved; the text is safe to show to the user."""

    def __init__(self, message: str, *, ref: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ref = ref
        self.field = field


@dataclass(frozen=True, slots=True)
class VaultConfig:
    """How to reach Vault/OpenBao: a token, or an AppRole (role_id + secret_id) to log in with."""

    url: str
    token: str | None = field(default=None, repr=False)
    role_id: str | None = field(default=None, repr=False)
    secret_id: str | None = field(default=None, repr=False)
    timeout: float = 5.0
    approle_mount: str = "approle"
    namespace: str | None = None
    # True, False or a CA bundle path, as for requests.
    verify: bool | str = True

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError("VaultConfig.url is required")
        if not self.token and not (self.role_id and self.secret_id):
            raise ValueError("VaultConfig needs a token or an AppRole role_id and secret_id")
        if self.timeout <= 0:
            raise ValueError("VaultConfig.timeout must be positive")


class _VaultFailure(Exception):
    """Internal: a Vault read failed for a reason that is safe to show."""


class _FileFailure(Exception):
    """Internal: a secret file could not be used, for a reason that is safe to show."""


class _VaultReader:
    """A small synchronous KV v2 reader over hvac; runs in worker threads."""

    def __init__(self, config: VaultConfig) -> None:
        self._config = config
        self._client: Any = None
        self._lock = threading.Lock()

    def _login(self, client: Any) -> None:
        cfg = self._config
        if cfg.token:
            client.token = cfg.token
            return
        client.auth.approle.login(
            role_id=cfg.role_id, secret_id=cfg.secret_id, mount_point=cfg.approle_mount
        )

    def _get_client(self, *, fresh_login: bool = False) -> Any:
        import hvac

        with self._lock:
            if self._client is None:
                cfg = self._config
                # token="" (not None) keeps hvac from picking up VAULT_TOKEN or ~/.vault-token.
                client = hvac.Client(
                    url=cfg.url,
                    token="",
                    timeout=cfg.timeout,
                    verify=cfg.verify,
                    namespace=cfg.namespace,
                )
                self._login(client)
                self._client = client
            elif fresh_login:
                self._login(self._client)
            return self._client

    def read(self, mount: str, path: str) -> Mapping[str, Any]:
        """Read the latest version of a KV v2 secret; raise _VaultFailure with a safe reason."""
        result = self._read_safely(mount, path, retry_login=self._config.token is None)
        if isinstance(result, str):
            raise _VaultFailure(result)
        return result

    def _read_safely(self, mount: str, path: str, *, retry_login: bool) -> Mapping[str, Any] | str:
        """The secret's data, or a safe reason; hvac/requests exception text is never kept."""
        try:
            client = self._get_client()
        except Exception as exc:
            return _vault_reason(exc, login=True)
        try:
            response = client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount, raise_on_deleted_version=True
            )
        except Exception as exc:
            reason = _vault_reason(exc, login=False)
            if not (retry_login and _status_of(exc) == 403):
                return reason
        else:
            try:
                data = response["data"]["data"]
            except (KeyError, TypeError):
                return "not found"
            return data if isinstance(data, Mapping) else "not found"
        # An AppRole token may have expired: log in again once, then retry the read once.
        try:
            self._get_client(fresh_login=True)
        except Exception as exc:
            return _vault_reason(exc, login=True)
        return self._read_safely(mount, path, retry_login=False)


_HVAC_STATUS = {
    "InvalidRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "InvalidPath": 404,
    "RateLimitExceeded": 429,
    "InternalServerError": 500,
    "VaultNotInitialized": 501,
    "BadGateway": 502,
    "VaultDown": 503,
}


def _status_of(exc: BaseException) -> int | None:
    return _HVAC_STATUS.get(type(exc).__name__)


def _vault_reason(exc: BaseException, *, login: bool) -> str:
    """A fixed, safe description of an hvac/requests failure (by class, never by text)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = _status_of(exc)
    if login and status in (400, 401, 403):
        return "vault login failed"
    if status in (401, 403):
        return "permission denied"
    if status == 404:
        return "not found"
    if status in (501, 503):
        return "vault unavailable (sealed or not initialised)"
    if status == 429:
        return "vault rate limit exceeded"
    if status is not None:
        return f"vault request failed (HTTP {status})"
    if "VaultError" in names:
        return "vault request failed"
    if "SSLError" in names:
        return "vault TLS verification failed"
    if "Timeout" in names:
        return "vault timed out"
    if "ConnectionError" in names:
        return "vault unreachable"
    return f"vault error ({type(exc).__name__})"


@dataclass(slots=True)
class _CacheEntry:
    expires: float
    value: str = field(repr=False)


class SecretResolver:
    """Resolves references to values at use time; configured explicitly, not from settings."""

    def __init__(
        self,
        *,
        vault: VaultConfig | None = None,
        cache_seconds: float = 0.0,
        environ: Mapping[str, str] | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        if cache_seconds < 0:
            raise ValueError("cache_seconds must be >= 0")
        self._vault = _VaultReader(vault) if vault is not None else None
        self._cache_seconds = cache_seconds
        # None means os.environ, read at each use (so a rotated variable is seen).
        self._environ = environ
        self._max_file_bytes = max_file_bytes
        self._cache: dict[str, _CacheEntry] = {}

    def __repr__(self) -> str:
        return (
            f"SecretResolver(vault={'on' if self._vault else 'off'}, "
            f"cache_seconds={self._cache_seconds})"
        )

    def clear_cache(self) -> None:
        self._cache.clear()

    async def resolve(self, ref: str | SecretRef) -> str:
        """Return the value a reference points to, or raise SecretResolutionError."""
        parsed = _parse(ref)
        key = str(parsed)
        now = time.monotonic()
        if self._cache_seconds > 0:
            entry = self._cache.get(key)
            if entry is not None and entry.expires > now:
                return entry.value
            self._cache.pop(key, None)
        if parsed.scheme == "env":
            value = self._resolve_env(parsed)
        elif parsed.scheme == "file":
            value = await asyncio.to_thread(self._resolve_file, parsed)
        else:
            value = await self._resolve_vault(parsed)
        if not value:
            raise SecretResolutionError(f"{key} is empty", ref=key)
        if self._cache_seconds > 0:
            self._cache[key] = _CacheEntry(time.monotonic() + self._cache_seconds, value)
        return value

    async def resolve_many(self, refs: Mapping[str, str | SecretRef]) -> dict[str, str]:
        """Resolve several named references concurrently; the first failure names its field."""
        names = list(refs)
        results = await asyncio.gather(
            *(self.resolve(refs[name]) for name in names), return_exceptions=True
        )
        values: dict[str, str] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, SecretResolutionError):
                raise SecretResolutionError(f"{name}: {result.message}", ref=result.ref, field=name)
            if isinstance(result, BaseException):
                # Not ours: do not let its text (which might carry a value) through.
                raise SecretResolutionError(
                    f"{name}: could not be resolved ({type(result).__name__})", field=name
                )
            values[name] = result
        return values

    # -- schemes -----------------------------------------------------------------------------
    def _resolve_env(self, ref: SecretRef) -> str:
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(ref.location)
        if value is None:
            raise SecretResolutionError(f"{ref} is not set", ref=str(ref))
        return value

    def _resolve_file(self, ref: SecretRef) -> str:
        try:
            return self._read_file(ref.location)
        except _FileFailure as exc:
            reason = str(exc)
        raise SecretResolutionError(f"{ref}: {reason}", ref=str(ref))

    def _read_file(self, path: str) -> str:
        """Read a small regular file at use time; raise _FileFailure with a safe reason."""
        limit = self._max_file_bytes
        too_big = f"larger than {limit // 1024} KiB" if limit >= 1024 else f"over {limit} bytes"
        try:
            # O_NONBLOCK so a FIFO cannot hang the open; the type check below refuses it anyway.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise _FileFailure(_os_reason(exc)) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _FileFailure("not a regular file")
            if st.st_size > limit:
                raise _FileFailure(too_big)
            chunks: list[bytes] = []
            size = 0
            # Read up to one byte past the limit: a file that grew since fstat is still refused.
            while size <= limit:
                chunk = os.read(fd, limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise _FileFailure(_os_reason(exc)) from None
        finally:
            os.close(fd)
        if size > limit:
            raise _FileFailure(too_big)
        try:
            text = b"".join(chunks).decode("utf-8")
        except UnicodeDecodeError:
            raise _FileFailure("not UTF-8 text") from None
        return text.rstrip("\r\n")

    async def _resolve_vault(self, ref: SecretRef) -> str:
        if self._vault is None:
            raise SecretResolutionError(f"{ref}: vault is not configured", ref=str(ref))
        if not (ref.mount and ref.path and ref.key):
            raise SecretResolutionError(f"{ref}: malformed vault reference", ref=str(ref))
        try:
            data = await asyncio.to_thread(self._vault.read, ref.mount, ref.path)
        except _VaultFailure as exc:
            reason = str(exc)
        else:
            reason = ""
            value = data.get(ref.key)
            if value is None:
                reason = "not found"
            elif not isinstance(value, str):
                reason = "value is not a string"
            else:
                return value
        # Raised outside the except block: no implicit chaining to hvac's exception.
        raise SecretResolutionError(f"{ref}: {reason}", ref=str(ref))


def _parse(ref: str | SecretRef) -> SecretRef:
    if isinstance(ref, SecretRef):
        return ref
    try:
        return parse_ref(ref)
    except InvalidSecretReference as exc:
        message = str(exc)
    # The input may be a raw secret pasted by mistake: the message never repeats it.
    raise SecretResolutionError(f"not a valid secret reference; {message}")


def _os_reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "not found"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EISDIR:
        return "not a regular file"
    name = errno.errorcode.get(exc.errno or 0, "error")
    return f"cannot be read ({name})"
