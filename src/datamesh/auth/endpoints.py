"""/api/auth: sign-in, tokens, SSO, API keys."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from datamesh.auth import service
from datamesh.auth.deps import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    CurrentUser,
    OptionalUser,
    signing_key,
)
from datamesh.auth.oidc import OIDCError, OIDCRegistry
from datamesh.auth.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    LoginRequest,
    LogoutRequest,
    LogoutResult,
    Me,
    Provider,
    RefreshRequest,
    TokenPair,
)
from datamesh.config import Settings
from datamesh.deps import SessionDep, SettingsDep
from datamesh.errors import NotFound, Unauthorized

router = APIRouter(prefix="/api/auth", tags=["auth"])
OIDC_COOKIE = "dm_oidc"
_OIDC_MAX_AGE = 600


def _set_session_cookies(response: Response, settings: Settings, issued: service.Issued) -> None:
    secure = settings.cookie_secure
    response.set_cookie(
        ACCESS_COOKIE,
        issued.access_token,
        max_age=issued.expires_in,
        path="/api",
        httponly=True,
        secure=secure,
        samesite="lax",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=settings.refresh_token_ttl_seconds,
        path="/api/auth",
        httponly=True,
        secure=secure,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(24),
        max_age=settings.refresh_token_ttl_seconds,
        path="/",
        httponly=False,
        secure=secure,
        samesite="lax",
    )


def _clear_session_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/api")
    response.delete_cookie(REFRESH_COOKIE, path="/api/auth")
    response.delete_cookie(CSRF_COOKIE, path="/")


def _pair(issued: service.Issued) -> TokenPair:
    return TokenPair(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
    )


@router.post(
    "/login",
    response_model=TokenPair,
    responses={
        429: {
            "description": "Too many failed sign-ins for this account (backoff) or, far more, "
            "from this address; Retry-After says when to try again."
        }
    },
)
async def login(
    data: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPair:
    """Sign in with email and password; also sets the browser's session cookies."""
    issued = await service.login(session, settings, signing_key(request), data.email, data.password)
    _set_session_cookies(response, settings, issued)
    return _pair(issued)


@router.post("/refresh", response_model=TokenPair)
async def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    data: Annotated[RefreshRequest | None, Body()] = None,
) -> TokenPair:
    """Exchange a refresh token (body, or the browser's cookie) for new tokens; it rotates."""
    token = (data.refresh_token if data else None) or request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise Unauthorized("Send a refresh_token.")
    issued = await service.refresh(session, settings, signing_key(request), token)
    _set_session_cookies(response, settings, issued)
    return _pair(issued)


@router.post(
    "/logout",
    response_model=LogoutResult,
    # Signing out without a session is fine (it clears the cookies): credentials are optional.
    openapi_extra={"security": [{}, {"HTTPBearer": []}]},
)
async def logout(
    request: Request,
    response: Response,
    principal: OptionalUser,
    session: SessionDep,
    settings: SettingsDep,
    data: Annotated[LogoutRequest | None, Body()] = None,
) -> LogoutResult:
    """End this session (its refresh tokens stop working); clears the browser's cookies."""
    token = (data.refresh_token if data else None) or request.cookies.get(REFRESH_COOKIE)
    _, method = await service.logout(session, principal, token)
    _clear_session_cookies(response)
    logout_url = None
    if method and method.startswith("oidc:"):
        provider = _registry(request).get(method.removeprefix("oidc:"))
        if provider is not None:
            logout_url = await provider.end_session_url(settings.base_url + "/login")
    return LogoutResult(logout_url=logout_url)


@router.get("/me", response_model=Me)
async def me(principal: CurrentUser, session: SessionDep) -> Me:
    """Who you are: user (or API key), organization and role."""
    return Me.model_validate(await service.me(session, principal))


# -- single sign-on -----------------------------------------------------------------------------
def _registry(request: Request) -> OIDCRegistry:
    registry: OIDCRegistry = request.app.state.oidc
    return registry


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_key(request), salt="datamesh.oidc")


def _callback_url(settings: Settings, provider: str) -> str:
    return f"{settings.base_url}/api/auth/oidc/{provider}/callback"


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/providers", response_model=list[Provider])
async def providers(request: Request) -> list[Provider]:
    """The configured single sign-on providers."""
    return [
        Provider(
            name=p.name,
            title=p.settings.title or p.name,
            login_url=f"/api/auth/oidc/{p.name}/login",
        )
        for p in _registry(request).providers.values()
    ]


@router.get("/oidc/{provider}/login", status_code=302, response_class=RedirectResponse)
async def oidc_login(
    provider: str,
    request: Request,
    settings: SettingsDep,
    next: str | None = Query(None, max_length=2000, description="Where to go after sign-in."),
) -> RedirectResponse:
    """Start single sign-on: redirects to the provider (authorization code flow with PKCE)."""
    p = _registry(request).get(provider)
    if p is None:
        raise NotFound("No such sign-in provider.")
    try:
        req = await p.authorization_request(_callback_url(settings, provider))
    except OIDCError as exc:
        return RedirectResponse(f"/login?error=sso&message={quote(str(exc))}", status_code=302)
    cookie = _serializer(request).dumps(
        {
            "p": provider,
            "s": req.state,
            "n": req.nonce,
            "v": req.code_verifier,
            "next": _safe_next(next),
        }
    )
    response = RedirectResponse(req.url, status_code=302)
    response.set_cookie(
        OIDC_COOKIE,
        cookie,
        max_age=_OIDC_MAX_AGE,
        path="/api/auth/oidc",
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )
    return response


@router.get("/oidc/{provider}/callback", status_code=302, response_class=RedirectResponse)
async def oidc_callback(
    provider: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    code: str | None = Query(None, max_length=4000),
    state: str | None = Query(None, max_length=500),
    iss: str | None = Query(None, max_length=2000),
    error: str | None = Query(None, max_length=200),
) -> RedirectResponse:
    """Finish single sign-on: validates the answer and the ID token, then signs you in."""
    p = _registry(request).get(provider)
    if p is None:
        raise NotFound("No such sign-in provider.")

    def fail(message: str) -> RedirectResponse:
        response = RedirectResponse(f"/login?error=sso&message={quote(message)}", status_code=302)
        response.delete_cookie(OIDC_COOKIE, path="/api/auth/oidc")
        return response

    try:
        stored = _serializer(request).loads(
            request.cookies.get(OIDC_COOKIE, ""), max_age=_OIDC_MAX_AGE
        )
    except BadSignature:
        await service.sso_failed(session, provider, "missing_or_expired_state")
        return fail("The sign-in took too long or was started elsewhere; try again.")
    if error:
        await service.sso_failed(session, provider, f"provider_error:{error}")
        return fail("The identity provider did not sign you in.")
    if stored.get("p") != provider or not state or not secrets.compare_digest(stored["s"], state):
        await service.sso_failed(session, provider, "state_mismatch")
        return fail("The sign-in answer does not match this browser's request; try again.")
    if iss is not None and iss != p.settings.issuer:
        await service.sso_failed(session, provider, "issuer_mismatch")
        return fail("The sign-in answer came from another issuer.")
    if not code:
        await service.sso_failed(session, provider, "no_code")
        return fail("The identity provider sent no sign-in code.")
    try:
        token = await p.exchange_code(code, _callback_url(settings, provider), stored["v"])
        claims = await p.verify_id_token(token["id_token"], stored["n"])
        issued = await service.sso_login(session, settings, signing_key(request), p, claims)
    except OIDCError as exc:
        await service.sso_failed(session, provider, str(exc))
        return fail(str(exc))
    response = RedirectResponse(stored.get("next") or "/", status_code=302)
    response.delete_cookie(OIDC_COOKIE, path="/api/auth/oidc")
    _set_session_cookies(response, settings, issued)
    return response


# -- API keys -----------------------------------------------------------------------------------
@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_api_key(
    data: ApiKeyCreate, principal: CurrentUser, session: SessionDep
) -> ApiKeyCreated:
    """Create an API key for machines (at most your own role); the key is shown only now."""
    key, raw = await service.create_api_key(session, principal, data)
    return ApiKeyCreated.model_validate({**ApiKey.model_validate(key).model_dump(), "key": raw})


@router.get("/api-keys", response_model=list[ApiKey])
async def list_api_keys(principal: CurrentUser, session: SessionDep) -> list[ApiKey]:
    """Active API keys of your organization (admins) or your own."""
    return [ApiKey.model_validate(k) for k in await service.list_api_keys(session, principal)]


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> None:
    """Revoke an API key: it stops working at once."""
    await service.revoke_api_key(session, principal, key_id)
