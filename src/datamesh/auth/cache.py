"""The principals of recently seen sessions and API keys, per process: most requests then
verify their JWT (or hash their API key) in process and skip the database round trip.

How an entry stops being used:

- every change to what a principal is built from (a user's role, org, disabled flag or
  ``sessions_valid_after``; a session's revocation or expiry; an API key's revocation or
  role) fires a trigger that sends ``NOTIFY datamesh_auth`` at commit (migration 0011d); the
  stream hub's LISTEN connection receives it and the whole cache is emptied, on every worker;
- while that LISTEN connection is down (or not yet up) nothing is cached or served from the
  cache (a notification may be lost), and it is emptied again when the connection is back;
- an entry is used for at most ``max_age`` seconds (``DATAMESH_AUTH_CACHE_SECONDS``, 1 s by
  default), so even an undetected dead listener cannot keep a revoked session alive longer;
- a session's own expiry is checked on every use, and so is the access token's: an access
  token whose exact bytes had their signature verified by this process is served by them
  (``token_key``) without verifying the signature again, but only until its ``exp`` and
  under the same rules as any entry (the same dictionary, emptied by the same NOTIFY).

A lookup that began before an invalidation is not stored (generation check), so a read that
raced a revocation cannot put the old state back. And a commit in this process that changed a
user, session or API key through the ORM empties the caches of this process at once (before
its response is sent), so the same client's next request cannot outrun the NOTIFY.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from datamesh.auth.principal import Principal
from datamesh.models.identity import ApiKey, AuthSession, User

_MAX_ENTRIES = 10_000
AUTH_CHANNEL = "datamesh_auth"  # sent by the triggers of migration 0011d


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    stored_at: float
    expires_at: datetime | None  # the session's end (API keys: none)


class AuthCache:
    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._entries: dict[Hashable, _Entry] = {}
        self._generation = 0
        self._live = False  # the invalidation channel is listened to
        # Exposed on /metrics (datamesh_auth_cache): tests read a worker's own figures there.
        # token_reuse: hits by an access token's bytes (its signature not verified again).
        self.counts = {"hit": 0, "miss": 0, "invalidation": 0, "token_reuse": 0}
        _CACHES.add(self)

    @property
    def generation(self) -> int:
        """Read before a database lookup; pass to ``put`` after it."""
        return self._generation

    def get(self, key: Hashable) -> Principal | None:
        entry = self._lookup(key)
        return None if entry is None else entry.principal

    def _lookup(self, key: Hashable) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            self.counts["miss"] += 1
            return None
        if (
            not self._live
            or time.monotonic() - entry.stored_at > self.max_age
            or (entry.expires_at is not None and entry.expires_at <= datetime.now(UTC))
        ):
            self._entries.pop(key, None)
            self.counts["miss"] += 1
            return None
        self.counts["hit"] += 1
        return entry

    def get_token(self, token: str) -> Principal | None:
        """The principal of an access token this process verified less than ``max_age`` ago
        (and not past its ``exp`` nor its session's end): no signature check needed."""
        found = self.get(token_key(token))
        if found is not None:
            self.counts["token_reuse"] += 1
        return found

    def put(
        self,
        key: Hashable,
        principal: Principal,
        generation: int,
        expires_at: datetime | None = None,
    ) -> None:
        self._store(key, _Entry(principal, time.monotonic(), expires_at), generation)

    def get_as(self, key: Hashable, alias: Hashable, expires_at: datetime) -> Principal | None:
        """``get(key)``, also stored under ``alias`` (until ``expires_at`` at the latest) with
        the entry's own age: an alias never outlives what was read from the database."""
        generation = self._generation
        entry = self._lookup(key)
        if entry is None:
            return None
        if entry.expires_at is not None:
            expires_at = min(expires_at, entry.expires_at)
        self._store(alias, _Entry(entry.principal, entry.stored_at, expires_at), generation)
        return entry.principal

    def _store(self, key: Hashable, entry: _Entry, generation: int) -> None:
        if not self._live or generation != self._generation or self.max_age <= 0:
            return
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = entry

    def invalidate(self, _payload: str = "") -> None:
        """Something auth reads changed (a NOTIFY on ``datamesh_auth``): forget everything."""
        self._generation += 1
        self._entries.clear()
        self.counts["invalidation"] += 1

    def set_live(self, live: bool) -> None:
        """The LISTEN connection came up or went down: what was cached may have missed a
        notification either way."""
        self.invalidate()
        self._live = live

    def __len__(self) -> int:
        return len(self._entries)


def token_key(token: str) -> bytes:
    """An access token's cache key: its SHA-256 (the cache holds no bearer token itself; the
    digest costs ~1 us against ~40 us for a JWT's verification)."""
    return hashlib.sha256(token.encode()).digest()


# -- this process's own commits ------------------------------------------------------------------
_CACHES: weakref.WeakSet[AuthCache] = weakref.WeakSet()
_WATCHED: tuple[type[Any], ...] = (User, AuthSession, ApiKey)
_FLAG = "datamesh_auth_changed"


@event.listens_for(Session, "after_flush")
def _changed_objects(session: Session, _flush: UOWTransaction) -> None:
    if any(isinstance(o, _WATCHED) for o in chain(session.dirty, session.deleted)):
        session.info[_FLAG] = True


@event.listens_for(Session, "do_orm_execute")
def _changed_rows(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None:
        state.session.info[_FLAG] = state.session.info.get(_FLAG) or issubclass(
            mapper.class_, _WATCHED
        )


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        for cache in list(_CACHES):
            cache.invalidate()
