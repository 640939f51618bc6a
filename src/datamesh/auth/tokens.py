"""Access tokens (JWT, HS256 pinned, iss/aud/exp checked), refresh tokens and API keys.

Refresh tokens and API keys are random strings shown once; only their SHA-256 is stored
(they carry 256 bits of entropy, so a slow hash adds nothing).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from datamesh.config import Settings

ALGORITHM = "HS256"
ISSUER = "datamesh"
AUDIENCE = "datamesh-api"
API_KEY_PREFIX = "dm_"


class InvalidToken(Exception):
    pass


def ensure_secret_key(settings: Settings) -> str:
    """The configured signing key, or one generated once into the data directory (0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        key = secrets.token_urlsafe(48)
        f.write(key + "\n")
    return key


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


def issue_access_token(
    key: str, user_id: uuid.UUID, session_id: uuid.UUID, ttl_seconds: int
) -> tuple[str, int]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl_seconds),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM), ttl_seconds


def decode_access_token(key: str, token: str) -> AccessClaims:
    """Verify signature (HS256 only: no ``none``, no RS/HS confusion), iss, aud, exp, nbf."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "nbf", "sub", "sid", "iss", "aud"]},
            leeway=5,
        )
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            session_id=uuid.UUID(claims["sid"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise InvalidToken(str(exc)) from None


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """Returns (key, prefix): ``dm_<8 chars>_<secret>``; the prefix identifies it in lists."""
    prefix = secrets.token_hex(4)
    return f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def looks_like_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIX) and token.count("_") >= 2
