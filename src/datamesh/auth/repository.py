"""SQL for sessions, refresh tokens, API keys and sign-in throttling."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.models.identity import (
    ApiKey,
    AuthSession,
    LoginThrottle,
    Organization,
    RefreshToken,
    User,
)


async def user_with_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[User, AuthSession] | None:
    row = (
        await session.execute(
            select(User, AuthSession)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(User.id == user_id, AuthSession.id == session_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def create_session(
    session: AsyncSession, user_id: uuid.UUID, ttl_seconds: int, method: str, client: str | None
) -> AuthSession:
    auth_session = AuthSession(
        user_id=user_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
        method=method,
        client=client,
    )
    session.add(auth_session)
    await session.flush()
    return auth_session


async def add_refresh_token(session: AsyncSession, session_id: uuid.UUID, token_hash: str) -> None:
    session.add(RefreshToken(session_id=session_id, token_hash=token_hash))
    await session.flush()


async def refresh_token_for_update(
    session: AsyncSession, token_hash: str
) -> tuple[RefreshToken, AuthSession, User] | None:
    """Lock the token row so two concurrent refreshes cannot both succeed."""
    row = (
        await session.execute(
            select(RefreshToken, AuthSession, User)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .join(User, User.id == AuthSession.user_id)
            .where(RefreshToken.token_hash == token_hash)
            .with_for_update(of=RefreshToken)
        )
    ).first()
    return (row[0], row[1], row[2]) if row else None


async def mark_used(session: AsyncSession, token: RefreshToken) -> None:
    token.used_at = datetime.now(UTC)
    await session.flush()


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=reason)
    )


async def revoke_user_sessions(session: AsyncSession, user_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=reason)
    )


# -- API keys ---------------------------------------------------------------------------------
async def api_key_by_hash(
    session: AsyncSession, key_hash: str
) -> tuple[ApiKey, Organization] | None:
    row = (
        await session.execute(
            select(ApiKey, Organization)
            .join(Organization, Organization.id == ApiKey.org_id)
            .where(ApiKey.key_hash == key_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def touch_api_key(session: AsyncSession, key: ApiKey) -> None:
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now
        await session.flush()


async def add_api_key(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def list_api_keys(session: AsyncSession, org_id: uuid.UUID) -> list[ApiKey]:
    rows = await session.scalars(
        select(ApiKey)
        .where(ApiKey.org_id == org_id, ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc())
    )
    return list(rows)


async def get_api_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


# -- throttling -------------------------------------------------------------------------------
# One row per key, shared by every worker process through PostgreSQL. An account key
# ("email:...") keeps its failure count and, in window_start, the time of its last failure; an
# address key ("ip:...") counts failures in a fixed window that starts at its first failure.


async def lock_account(session: AsyncSession, key: str) -> tuple[int, float]:
    """Lock the account's row (made if missing) for this sign-in attempt, so concurrent
    attempts on one account, in any worker, are judged one after the other. Returns its
    failures and the seconds since the last one."""
    ins = insert(LoginThrottle).values(key=key, failures=0)
    stmt = ins.on_conflict_do_update(
        index_elements=[LoginThrottle.key], set_={"key": ins.excluded.key}
    ).returning(
        LoginThrottle.failures,
        func.extract("epoch", func.now() - LoginThrottle.window_start),
    )
    row = (await session.execute(stmt)).one()
    return int(row[0]), float(row[1])


async def account_failed(session: AsyncSession, key: str, window_seconds: int) -> None:
    """One more failure (the count restarts after a quiet window); its time is now."""
    stale = LoginThrottle.window_start <= func.now() - timedelta(seconds=window_seconds)
    await session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(
            failures=case((stale, 1), else_=LoginThrottle.failures + 1),
            window_start=func.now(),
        )
    )


async def address_failures(
    session: AsyncSession, key: str, window_seconds: int
) -> tuple[int, float]:
    """Failures from an address inside its window, and seconds until that window ends."""
    row = (
        await session.execute(
            select(
                LoginThrottle.failures,
                func.extract(
                    "epoch",
                    LoginThrottle.window_start + timedelta(seconds=window_seconds) - func.now(),
                ),
            ).where(
                LoginThrottle.key == key,
                LoginThrottle.window_start > func.now() - timedelta(seconds=window_seconds),
            )
        )
    ).first()
    return (int(row[0]), float(row[1])) if row else (0, 0.0)


async def address_failed(session: AsyncSession, key: str, window_seconds: int) -> None:
    stale = LoginThrottle.window_start <= func.now() - timedelta(seconds=window_seconds)
    stmt = insert(LoginThrottle).values(key=key, failures=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.key],
        set_={
            "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
            "window_start": case((stale, func.now()), else_=LoginThrottle.window_start),
        },
    )
    await session.execute(stmt)


async def forget_account(session: AsyncSession, key: str) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


async def prune_throttle(session: AsyncSession, older_than_seconds: int, batch: int = 100) -> None:
    """Drop a few rows nobody failed on for a long time (guessed e-mails pile up otherwise)."""
    stale = (
        select(LoginThrottle.key)
        .where(LoginThrottle.window_start < func.now() - timedelta(seconds=older_than_seconds))
        .limit(batch)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(stale)))
