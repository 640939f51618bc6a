"""OpenID Connect relying party: discovery, authorization code + PKCE, ID token validation.

The ID token is verified with the provider's JWKS (fetched again when an unknown key id
appears, so key rotation needs no restart), with the algorithm pinned to the asymmetric ones
the provider announces, and iss, aud, exp, iat and nonce checked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from authlib.integrations.httpx_client import AsyncOAuth2Client

from datamesh.config import OIDCProviderSettings

_ASYMMETRIC = {
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
}


class OIDCError(Exception):
    """Sign-in through the provider failed; the message is safe to show."""


@dataclass(slots=True)
class LoginRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OIDCProvider:
    def __init__(self, settings: OIDCProviderSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] = {}
        self._jwks_fetched = 0.0
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.settings.name

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                resp = await self.http.get(url, timeout=10)
                resp.raise_for_status()
                meta = resp.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise OIDCError(f"The identity provider {self.name!r} is unreachable.") from exc
            if meta.get("issuer") != self.settings.issuer:
                raise OIDCError("The identity provider's discovery document names another issuer.")
            self._metadata = meta
        return self._metadata

    async def authorization_request(
        self, redirect_uri: str, prompt: str | None = None
    ) -> LoginRequest:
        meta = await self.metadata()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(64)
        params = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        return LoginRequest(
            f"{meta['authorization_endpoint']}?{urlencode(params)}", state, nonce, verifier
        )

    async def exchange_code(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        meta = await self.metadata()
        client = AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            token_endpoint_auth_method="client_secret_basic",
            timeout=10,
        )
        try:
            async with client:
                token: dict[str, Any] = await client.fetch_token(
                    meta["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    redirect_uri=redirect_uri,
                    code_verifier=verifier,
                )
        except Exception as exc:  # authlib raises several types; none may leak details
            raise OIDCError("The identity provider refused the sign-in code.") from exc
        if "id_token" not in token:
            raise OIDCError("The identity provider returned no ID token.")
        return token

    async def _jwk(self, kid: str | None) -> jwt.PyJWK:
        """The signing key by id; an unknown id refetches the JWKS (rate-limited)."""
        async with self._lock:
            key = self._find(kid)
            elapsed = time.monotonic() - self._jwks_fetched
            if key is None and (
                not self._jwks or elapsed >= self.settings.jwks_min_refresh_seconds
            ):
                await self._fetch_jwks()
                key = self._find(kid)
        if key is None:
            raise OIDCError("The ID token is signed with an unknown key.")
        return key

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        keys = [k for k in self._jwks.get("keys", []) if k.get("use", "sig") == "sig"]
        for k in keys:
            if kid is None or k.get("kid") == kid:
                try:
                    return jwt.PyJWK(k)
                except jwt.PyJWTError:
                    continue
        return None

    async def _fetch_jwks(self) -> None:
        meta = await self.metadata()
        try:
            resp = await self.http.get(meta["jwks_uri"], timeout=10)
            resp.raise_for_status()
            self._jwks = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OIDCError("The identity provider's keys could not be fetched.") from exc
        self._jwks_fetched = time.monotonic()

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        meta = await self.metadata()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise OIDCError("The ID token is malformed.") from exc
        allowed = _ASYMMETRIC & set(meta.get("id_token_signing_alg_values_supported", ["RS256"]))
        if header.get("alg") not in allowed:
            raise OIDCError("The ID token uses an algorithm that is not accepted.")
        key = await self._jwk(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=sorted(allowed),
                audience=self.settings.client_id,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=self.settings.clock_skew_seconds,
            )
        except jwt.ExpiredSignatureError as exc:
            raise OIDCError("The ID token has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise OIDCError("The ID token was issued for another application.") from exc
        except jwt.PyJWTError as exc:
            raise OIDCError("The ID token is not valid.") from exc
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OIDCError("The ID token's nonce does not match this sign-in.")
        return claims

    async def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        try:
            meta = await self.metadata()
        except OIDCError:
            return None
        endpoint = meta.get("end_session_endpoint")
        if not endpoint:
            return None
        params = {
            "client_id": self.settings.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        }
        return f"{endpoint}?{urlencode(params)}"


class OIDCRegistry:
    """The configured providers, built once per app."""

    def __init__(self, providers: list[OIDCProviderSettings], http: httpx.AsyncClient) -> None:
        self.providers = {p.name: OIDCProvider(p, http) for p in providers}

    def get(self, name: str) -> OIDCProvider | None:
        return self.providers.get(name)
