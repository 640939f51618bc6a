"""Sign-in rules: password and SSO sign-in, token rotation with reuse detection, API keys."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth import repository as repo
from datamesh.auth import tokens
from datamesh.auth.oidc import OIDCError, OIDCProvider
from datamesh.auth.passwords import hash_password, needs_rehash, verify_password
from datamesh.auth.principal import ROLES, Principal
from datamesh.auth.schemas import ApiKeyCreate
from datamesh.config import Settings
from datamesh.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from datamesh.events import service as events
from datamesh.kit.context import Actor, current_request
from datamesh.kit.refs import Ref
from datamesh.models.identity import ApiKey, User
from datamesh.orgs import service as orgs
from datamesh.users import service as users
from datamesh.users.schemas import UserCreate

BAD_CREDENTIALS = "The email or password is wrong."
_ANON = Actor(kind="anonymous", name="anonymous")


@dataclass(slots=True)
class Issued:
    access_token: str
    expires_in: int
    refresh_token: str
    user: User
    session_id: uuid.UUID


def _user_ref(user: User) -> Ref:
    return Ref("user", str(user.id), user.email)


def _actor(user: User) -> Actor:
    return Actor(kind="user", id=user.id, name=user.email, org_id=user.org_id)


async def _issue(
    session: AsyncSession, settings: Settings, key: str, user: User, method: str
) -> Issued:
    auth_session = await repo.create_session(
        session, user.id, settings.refresh_token_ttl_seconds, method, current_request().client
    )
    refresh = tokens.new_refresh_token()
    await repo.add_refresh_token(session, auth_session.id, tokens.sha256(refresh))
    access, ttl = tokens.issue_access_token(
        key, user.id, auth_session.id, settings.access_token_ttl_seconds
    )
    await users.record_login(session, user)
    return Issued(access, ttl, refresh, user, auth_session.id)


def backoff_seconds(settings: Settings, failures: int) -> float:
    """How long an account waits after its n-th failure in a row: nothing for the first
    ``login_max_failures - 1``, then the base, doubled per further failure, capped."""
    over = failures - settings.login_max_failures
    if over < 0:
        return 0.0
    return float(
        min(settings.login_backoff_max_seconds, settings.login_backoff_seconds * 2 ** min(over, 30))
    )


def _throttled(retry_after: float, detail: str) -> TooManyRequests:
    return TooManyRequests(detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


async def login(
    session: AsyncSession, settings: Settings, key: str, email: str, password: str
) -> Issued:
    """Password sign-in. Unknown user and wrong password answer alike, in the same time.

    Throttled per account (any address; backoff after a few failures) and, much more loosely,
    per client address (password spraying): one person's typos never lock out the others behind
    the same address. The account key is the e-mail as typed, known or not, so a throttled
    answer does not tell whether the account exists."""
    address_key = f"ip:{current_request().client or 'unknown'}"
    account_key = f"email:{email.strip().lower()}"
    count, window_left = await repo.address_failures(
        session, address_key, settings.login_address_window_seconds
    )
    if count >= settings.login_address_max_failures:
        raise _throttled(
            window_left, "Too many failed sign-ins from your address; wait before trying again."
        )
    failures, since_last = await repo.lock_account(session, account_key)
    if since_last > settings.login_failure_window_seconds:
        failures = 0
    wait = backoff_seconds(settings, failures) - since_last
    if wait > 0:
        raise _throttled(
            wait, "Too many failed sign-ins for this account; wait before trying again."
        )
    user = await users.by_email(session, email.strip())
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        await repo.account_failed(session, account_key, settings.login_failure_window_seconds)
        await repo.address_failed(session, address_key, settings.login_address_window_seconds)
        await repo.prune_throttle(
            session,
            max(settings.login_failure_window_seconds, settings.login_address_window_seconds),
        )
        target = _user_ref(user) if user else Ref("user", "unknown", email.strip().lower()[:320])
        reason = "disabled" if (ok and user and user.disabled) else "bad_credentials"
        await audit.record(
            session,
            _ANON,
            "auth.login_failed",
            target,
            details={"reason": reason},
            org_id=user.org_id if user else None,
        )
        raise Unauthorized(BAD_CREDENTIALS, keep_changes=True)
    await repo.forget_account(session, account_key)
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    issued = await _issue(session, settings, key, user, "password")
    await audit.record(
        session, _actor(user), "auth.login", _user_ref(user), details={"method": "password"}
    )
    return issued


async def refresh(
    session: AsyncSession, settings: Settings, key: str, refresh_token: str
) -> Issued:
    """Rotate a refresh token. A token used twice means theft: its whole family is revoked."""
    found = await repo.refresh_token_for_update(session, tokens.sha256(refresh_token))
    if found is None:
        raise Unauthorized("The refresh token is not valid.")
    token, auth_session, user = found
    if token.used_at is not None:
        await repo.revoke_session(session, auth_session.id, "refresh_token_reuse")
        await audit.record(
            session,
            _actor(user),
            "auth.refresh_reuse",
            _user_ref(user),
            details={"session_id": str(auth_session.id)},
        )
        raise Unauthorized(
            "This refresh token was already used; the session has been ended. Sign in again.",
            keep_changes=True,
        )
    now = datetime.now(UTC)
    if (
        auth_session.revoked_at is not None
        or auth_session.expires_at <= now
        or user.disabled
        or (user.sessions_valid_after and auth_session.created_at < user.sessions_valid_after)
    ):
        raise Unauthorized("The session has ended; sign in again.")
    await repo.mark_used(session, token)
    await audit.record(session, _actor(user), "auth.refresh", _user_ref(user))
    new_refresh = tokens.new_refresh_token()
    await repo.add_refresh_token(session, auth_session.id, tokens.sha256(new_refresh))
    access, ttl = tokens.issue_access_token(
        key, user.id, auth_session.id, settings.access_token_ttl_seconds
    )
    return Issued(access, ttl, new_refresh, user, auth_session.id)


async def logout(
    session: AsyncSession, principal: Principal | None, refresh_token: str | None
) -> tuple[bool, str | None]:
    """End the caller's session (or the refresh token's). Returns (done, sso method)."""
    session_id, user_actor, method = None, None, None
    if principal is not None and principal.session_id is not None:
        session_id, user_actor = principal.session_id, principal.actor()
        target = Ref("user", str(principal.id), principal.email)
    elif refresh_token:
        found = await repo.refresh_token_for_update(session, tokens.sha256(refresh_token))
        if found is not None:
            session_id, user_actor = found[1].id, _actor(found[2])
            target = _user_ref(found[2])
            method = found[1].method
    if session_id is None or user_actor is None:
        return False, None
    if method is None:
        from datamesh.models.identity import AuthSession

        row = await session.get(AuthSession, session_id)
        method = row.method if row else None
    await repo.revoke_session(session, session_id, "logout")
    await audit.record(session, user_actor, "auth.logout", target)
    return True, method


async def still_valid(session: AsyncSession, principal: Principal) -> bool:
    """For long-lived streams: is the caller's user, session or key still good?"""
    if principal.kind == "api_key":
        key = await repo.get_api_key(session, principal.id)
        return key is not None and key.revoked_at is None
    if principal.session_id is None:
        return False
    found = await repo.user_with_session(session, principal.id, principal.session_id)
    if found is None:
        return False
    user, auth_session = found
    return not (
        user.disabled
        or auth_session.revoked_at is not None
        or auth_session.expires_at <= datetime.now(UTC)
        or (
            user.sessions_valid_after is not None
            and auth_session.created_at < user.sessions_valid_after
        )
    )


async def me(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    org = await orgs.get_org(session, principal, principal.org_id)
    return {
        "id": principal.id,
        "kind": principal.kind,
        "email": principal.email,
        "name": principal.name,
        "role": principal.role,
        "is_platform_admin": principal.is_platform_admin,
        "org": org,
    }


# -- single sign-on -----------------------------------------------------------------------------
def _role_from_groups(provider: OIDCProvider, claims: dict[str, Any]) -> str | None:
    groups = claims.get(provider.settings.groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    mapped = {
        provider.settings.group_roles[g] for g in groups if g in provider.settings.group_roles
    }
    for role in ROLES:  # most powerful first
        if role in mapped:
            return role
    return None


def _org_for(provider: OIDCProvider, email: str | None) -> str | None:
    domain = (email or "").rpartition("@")[2].lower()
    return provider.settings.email_domains.get(domain) or provider.settings.default_org


async def sso_login(
    session: AsyncSession,
    settings: Settings,
    key: str,
    provider: OIDCProvider,
    claims: dict[str, Any],
) -> Issued:
    """Find or provision the user of a verified ID token, apply the role mapping, sign in."""
    issuer, subject = provider.settings.issuer, str(claims["sub"])
    email = claims.get("email")
    verified = claims.get("email_verified") is True
    role = _role_from_groups(provider, claims)
    user = await users.by_oidc(session, issuer, subject)
    if user is None and email and verified:
        user = await users.by_email(session, email)
        if user is not None:
            user.oidc_issuer, user.oidc_subject = issuer, subject
    if user is None:
        org_name = _org_for(provider, email)
        if not provider.settings.allow_provisioning or org_name is None or not email:
            raise OIDCError("Your account is not set up for this DataMesh; ask an administrator.")
        user = await users.create_user(
            session,
            None,
            UserCreate(
                email=email,
                name=str(claims.get("name") or ""),
                role=role or provider.settings.default_role,
            ),
            org_name=org_name,
            oidc=(issuer, subject),
        )
    elif role is not None and role != user.role:
        before = user.role
        user.role = role
        await audit.record(
            session,
            Actor.system(f"sso:{provider.name}"),
            "user.role_change",
            _user_ref(user),
            {"role": {"before": before, "after": role}},
            org_id=user.org_id,
        )
    if user.disabled:
        raise OIDCError("This account is disabled.")
    issued = await _issue(session, settings, key, user, f"oidc:{provider.name}")
    await audit.record(
        session,
        _actor(user),
        "auth.login",
        _user_ref(user),
        details={"method": f"oidc:{provider.name}"},
    )
    return issued


async def sso_failed(session: AsyncSession, provider: str, reason: str) -> None:
    await audit.record(
        session,
        _ANON,
        "auth.login_failed",
        Ref("provider", provider, provider),
        details={"reason": reason},
    )


# -- API keys -----------------------------------------------------------------------------------
def _key_ref(key: ApiKey) -> Ref:
    return Ref("api_key", str(key.id), key.name)


async def create_api_key(
    session: AsyncSession, principal: Principal, data: ApiKeyCreate
) -> tuple[ApiKey, str]:
    if principal.kind != "user":
        raise Forbidden("API keys cannot create API keys.")
    if not principal.can_grant(data.role):
        raise Forbidden(f"An API key may have at most your own role ({principal.role}).")
    raw, prefix = tokens.new_api_key()
    key = await repo.add_api_key(
        session,
        ApiKey(
            org_id=principal.org_id,
            created_by=principal.id,
            name=data.name,
            role=data.role,
            prefix=prefix,
            key_hash=tokens.sha256(raw),
        ),
    )
    await audit.record(
        session,
        principal.actor(),
        "api_key.create",
        _key_ref(key),
        {"name": {"before": None, "after": key.name}, "role": {"before": None, "after": key.role}},
    )
    await events.emit(
        session, "api_key.created", principal.actor(), _key_ref(key), {"role": key.role}
    )
    return key, raw


async def list_api_keys(session: AsyncSession, principal: Principal) -> list[ApiKey]:
    keys = await repo.list_api_keys(session, principal.org_id)
    if principal.is_org_admin:
        return keys
    return [k for k in keys if k.created_by == principal.user_id]


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    key = await repo.get_api_key(session, key_id)
    if key is None or key.org_id != principal.org_id or key.revoked_at is not None:
        raise NotFound("No such API key.")
    if not (principal.is_org_admin or key.created_by == principal.user_id):
        raise NotFound("No such API key.")
    key.revoked_at = datetime.now(UTC)
    await session.flush()
    await audit.record(session, principal.actor(), "api_key.revoke", _key_ref(key))
    await events.emit(session, "api_key.revoked", principal.actor(), _key_ref(key))
