"""Password hashing with argon2id; unknown users cost the same time as wrong passwords."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
_DUMMY = _hasher.hash("datamesh-dummy-password-for-timing")


def use_hasher(hasher: PasswordHasher) -> None:
    """Swap the cost parameters (the test suite uses cheap ones; production never calls this)."""
    global _hasher, _DUMMY
    _hasher = hasher
    _DUMMY = hasher.hash("datamesh-dummy-password-for-timing")


MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash (unknown user) still spend the time of one check."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
