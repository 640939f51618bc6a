"""Engine and session factory, and the choice between an external and the embedded PostgreSQL.

The request's session commits once at the end (see :func:`session_scope`); services never
commit. Event ids written in a transaction are announced with ``pg_notify`` just before the
commit: PostgreSQL delivers a NOTIFY only when its transaction commits, so a rolled-back change
announces nothing.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Row, event, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres

log = logging.getLogger("datamesh.db")

NOTIFY_CHANNEL = "datamesh_events"
PENDING_EVENTS = "datamesh_pending_event_ids"
_NOTIFY_BATCH = 200  # ids per NOTIFY payload, well under PostgreSQL's 8000-byte limit


def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The configured URL, or the embedded server's (started if needed)."""
    if settings.database_url:
        return settings.database_url, None
    pg = EmbeddedPostgres(settings.data_dir)
    return pg.start(), pg


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The database URL for one command: an embedded server it needed is released at the end
    (and stopped, unless another live process holds it)."""
    url, embedded = resolve_database_url(settings)
    try:
        yield url
    finally:
        if embedded is not None:
            embedded.release()


def make_engine(url: str, settings: Settings, **kw: Any) -> AsyncEngine:
    engine = create_async_engine(
        url,
        # Every connection opened is kept (at most db_pool_size + db_max_overflow, as before):
        # a pool that closed those above db_pool_size when they came back opened a new one
        # for nearly every request past the tenth concurrent one (TCP, startup, SSL
        # negotiation, type introspection, statements prepared again): ~10 % of a dataset
        # read's CPU at 16 concurrent requests (BENCHMARKS.md, "Read paths").
        pool_size=settings.db_pool_size + settings.db_max_overflow,
        max_overflow=0,
        # No pre-ping round trip on every checkout: a connection broken by a database restart
        # fails once, SQLAlchemy then invalidates the whole pool and the next request reconnects.
        pool_pre_ping=False,
        pool_timeout=settings.db_connect_timeout,
        connect_args=_connect_args(settings, {"application_name": "datamesh"}),
        **kw,
    )
    _MADE[engine.sync_engine] = settings
    return engine


def _connect_args(settings: Settings, server_settings: Mapping[str, str]) -> dict[str, Any]:
    return {
        "timeout": settings.db_connect_timeout,
        "command_timeout": settings.db_statement_timeout_ms / 1000,
        "server_settings": {
            "statement_timeout": str(settings.db_statement_timeout_ms),
            **server_settings,
        },
    }


_MADE: weakref.WeakKeyDictionary[Engine, Settings] = weakref.WeakKeyDictionary()
_CONFIGURED: weakref.WeakKeyDictionary[Engine, dict[str, AsyncEngine]] = weakref.WeakKeyDictionary()


def configured_engine(engine: AsyncEngine, name: str, settings: Mapping[str, str]) -> AsyncEngine:
    """A pool next to ``engine`` (same database) whose connections carry ``settings`` from
    their start and run in AUTOCOMMIT: for a read that needs session settings the rest of the
    app must not get (search's custom plans and trigram threshold), without a transaction,
    BEGIN, ``set_config`` and COMMIT per use. Made on first use, at most ``db_pool_size``
    connections (all kept), closed when ``engine`` is disposed."""
    found = _CONFIGURED.setdefault(engine.sync_engine, {})
    if name not in found:
        app = _MADE.get(engine.sync_engine) or Settings()
        made = create_async_engine(
            engine.url,
            pool_size=app.db_pool_size,
            max_overflow=0,
            pool_pre_ping=False,
            pool_timeout=app.db_connect_timeout,
            isolation_level="AUTOCOMMIT",
            connect_args=_connect_args(app, {"application_name": f"datamesh-{name}", **settings}),
        )

        # Engine.dispose runs in the async engine's greenlet, so this one closes its
        # connections the same way.
        @event.listens_for(engine.sync_engine, "engine_disposed")
        def _dispose(_engine: Engine) -> None:
            made.sync_engine.dispose()

        found[name] = made
    return found[name]


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def remember_event(session: AsyncSession, event_id: str) -> None:
    """Queue an event id to be announced when this session's transaction commits."""
    session.sync_session.info.setdefault(PENDING_EVENTS, []).append(event_id)


async def read_connection(session: AsyncSession) -> AsyncConnection:
    """The connection for a request's read that writes nothing and needs no transaction.

    If the session has not begun a transaction, its connection is opened in AUTOCOMMIT: each
    statement sees what was committed when it started, as in a READ COMMITTED transaction, but
    without the BEGIN and COMMIT round trips (two of a one-statement read's three). The rest of
    the request then runs without a transaction too, so use it only where nothing after it
    writes or relies on transaction-local settings (``set_config(..., true)``); a session that
    already began one (authentication read the database, a write) keeps it and sees its own
    changes."""
    if session.in_transaction():
        return await session.connection()
    return await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@event.listens_for(Session, "before_commit")
def _notify_before_commit(session: Session) -> None:
    ids: list[str] = session.info.pop(PENDING_EVENTS, [])
    for i in range(0, len(ids), _NOTIFY_BATCH):
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": ",".join(ids[i : i + _NOTIFY_BATCH])},
        )


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(PENDING_EVENTS, None)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit at the end if all went well, else roll back."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            if getattr(exc, "keep_changes", False):
                await session.commit()
            else:
                await session.rollback()
            raise


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement compiled once: its SQL and, per position, a parameter's name or value.

    For the hottest statements: sent as it is (``exec_driver_sql``), with no statement built,
    cache key computed or ORM row loaded per call. Compile one per shape (the parts of a
    statement that vary with the caller, never their values): see :func:`compiled`."""

    sql: str
    params: tuple[tuple[str, Any], ...]

    def args(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(values.get(n, v) for n, v in self.params)

    async def first(self, conn: AsyncConnection, values: dict[str, Any]) -> Row[Any] | None:
        """The first row of this statement run with ``values`` by parameter name."""
        return (await conn.exec_driver_sql(self.sql, self.args(values))).first()


def compiled(
    cache: dict[Any, Compiled],
    shape: Hashable,
    build: Callable[[], ClauseElement],
    conn: AsyncConnection,
) -> Compiled:
    """``cache[shape]``, compiled from ``build()`` for ``conn``'s dialect the first time."""
    found = cache.get(shape)
    if found is None:
        c = cast(SQLCompiler, build().compile(dialect=conn.dialect))
        found = Compiled(str(c), tuple((n, c.params[n]) for n in c.positiontup or ()))
        cache[shape] = found
    return found
