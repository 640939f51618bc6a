"""Authentication dependencies: bearer JWT, API key, or the browser's session cookie (+CSRF).

The user and the session (or the API key) are read from the database, or from the process's
``AuthCache`` when a request of the same session read them less than a second ago and nothing
auth reads has changed since (a trigger's NOTIFY empties the cache on every worker at commit):
disabling a user or signing out takes effect within milliseconds, not when the access token
expires. Within that same second the same access token's bytes are not verified again (its
``exp`` is): verifying the JWT was most of authentication's cost on a cached session.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from datamesh.auth import repository as repo
from datamesh.auth import tokens
from datamesh.auth.cache import AuthCache, token_key
from datamesh.auth.principal import Principal, for_user
from datamesh.deps import SessionDep
from datamesh.errors import Forbidden, Unauthorized

ACCESS_COOKIE = "dm_access"
REFRESH_COOKIE = "dm_refresh"
CSRF_COOKIE = "dm_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE = {"GET", "HEAD", "OPTIONS"}

bearer = HTTPBearer(auto_error=False, description="Access token or API key (`dm_...`)")


def signing_key(request: Request) -> str:
    key: str = request.app.state.signing_key
    return key


def auth_cache(request: Request) -> AuthCache:
    cache: AuthCache = request.app.state.auth_cache
    return cache


async def _from_api_key(session: Any, cache: AuthCache, key: str) -> Principal:
    key_hash = tokens.sha256(key)
    cached = cache.get(("key", key_hash))
    if cached is not None:
        return cached
    generation = cache.generation
    found = await repo.api_key_by_hash(session, key_hash)
    if found is None or found[0].revoked_at is not None:
        raise Unauthorized("The API key is not valid or was revoked.")
    api_key, org = found
    await repo.touch_api_key(session, api_key)  # at most once a minute; cache entries live 1 s
    principal = Principal(
        kind="api_key",
        id=api_key.id,
        name=f"api-key:{api_key.name}",
        org_id=org.id,
        role=api_key.role,  # type: ignore[arg-type]
        user_id=api_key.created_by,
    )
    cache.put(("key", key_hash), principal, generation)
    return principal


async def _from_access_token(session: Any, cache: AuthCache, key: str, token: str) -> Principal:
    # These exact bytes were verified here less than the cache's age limit ago, and nothing
    # auth reads has changed since: the signature would verify the same (the key does not
    # change while the process runs); the token's expiry is still checked (cache.get_token).
    reused = cache.get_token(token)
    if reused is not None:
        return reused
    try:
        claims = tokens.decode_access_token(key, token)  # signature, iss, aud, exp, nbf
    except tokens.InvalidToken:
        raise Unauthorized("The access token is not valid or has expired.") from None
    # Another token of this session was read from the database less than the age limit ago
    # (a token after a refresh): from now on this one's bytes are known too.
    cached = cache.get_as(
        ("session", claims.user_id, claims.session_id), token_key(token), claims.expires_at
    )
    if cached is not None:
        return cached
    generation = cache.generation
    found = await repo.user_with_session(session, claims.user_id, claims.session_id)
    if found is None:
        raise Unauthorized("The session has ended; sign in again.")
    user, auth_session = found
    if user.disabled:
        raise Unauthorized("This account is disabled.")
    if (
        auth_session.revoked_at is not None
        or auth_session.expires_at <= datetime.now(UTC)
        or (user.sessions_valid_after and auth_session.created_at < user.sessions_valid_after)
    ):
        raise Unauthorized("The session has ended; sign in again.")
    principal = for_user(user, session_id=auth_session.id)
    cache.put(
        ("session", claims.user_id, claims.session_id),
        principal,
        generation,
        auth_session.expires_at,
    )
    # By the token's bytes until the token or the session ends, whichever is first (the
    # decode's 5 s leeway is not extended: past ``exp`` the token is verified again).
    cache.put(
        token_key(token),
        principal,
        generation,
        min(claims.expires_at, auth_session.expires_at),
    )
    return principal


async def optional_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    key = signing_key(request)
    cache = auth_cache(request)
    if credentials is not None:
        token = credentials.credentials
        if tokens.looks_like_api_key(token):
            return await _from_api_key(session, cache, token)
        return await _from_access_token(session, cache, key, token)
    cookie = request.cookies.get(ACCESS_COOKIE)
    if cookie is None:
        return None
    if request.method not in _SAFE:
        expected = request.cookies.get(CSRF_COOKIE, "")
        sent = request.headers.get(CSRF_HEADER, "")
        if not expected or not hmac.compare_digest(expected, sent):
            raise Forbidden(
                "Missing or wrong CSRF token (send the dm_csrf cookie's value in X-CSRF-Token)."
            )
    return await _from_access_token(session, cache, key, cookie)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("Sign in, or send an access token or API key as a bearer token.")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]


def require_role(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency allowing only the given org roles (platform admins always pass)."""

    async def _check(principal: CurrentUser) -> Principal:
        if principal.is_platform_admin or principal.role in roles:
            return principal
        raise Forbidden(f"This needs one of the roles: {', '.join(roles)}.")

    return _check


async def _platform_admin(principal: CurrentUser) -> Principal:
    if not principal.is_platform_admin:
        raise Forbidden("Only platform administrators may do this.")
    return principal


PlatformAdmin = Annotated[Principal, Depends(_platform_admin)]


def RequireRole(*roles: str) -> Any:
    return Annotated[Principal, Depends(require_role(*roles))]
