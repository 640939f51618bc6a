"""/api/feed, /api/feed/stream (Server-Sent Events), /api/follows"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
import orjson
from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from datamesh.auth import service as auth
from datamesh.auth.deps import CurrentUser
from datamesh.auth.principal import Principal
from datamesh.deps import SessionDep
from datamesh.errors import ServiceUnavailable, Unprocessable, field_error, is_database_unavailable
from datamesh.feed import repository as repo
from datamesh.feed import service
from datamesh.feed.schemas import FeedItem, FeedPage, Followed, FollowState, FollowToggle
from datamesh.feed.stream import ResumePoint, StreamHub, Subscriber
from datamesh.kit.pagination import CursorParam, Limit
from datamesh.models.events import Event

router = APIRouter(tags=["feed"])
_REVALIDATE_SECONDS = 30.0
# On shutdown a stream gets this long to say goodbye before the SSE library cancels it; well
# under uvicorn's graceful-shutdown timeout (see cli.serve), so the process exits promptly.
_SHUTDOWN_GRACE_SECONDS = 2.0
_RECONNECT_MS = 1000


@router.get("/api/feed", response_model=FeedPage)
async def feed(
    principal: CurrentUser,
    session: SessionDep,
    mode: Literal["recent", "for_you"] = "recent",
    type: Annotated[
        list[str], Query(max_length=20, description="Event types, e.g. dataset.published")
    ] = [],  # noqa: B006
    dataset_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> FeedPage:
    """Events you may see, newest first; `for_you` ranks followed datasets, then your org, first."""
    rows, next_cursor = await service.feed_page(
        session, principal, mode=mode, types=type, dataset_id=dataset_id, limit=limit, cursor=cursor
    )
    payloads = await service.payloads_for(session, principal, rows)
    return FeedPage(
        items=[FeedItem.model_validate(service.item(e, payloads.get(e.id))) for e in rows],
        next_cursor=next_cursor,
    )


async def _message(
    sessionmaker: Any,
    principal: Principal,
    event: Event,
    resume_id: str,
    hub: StreamHub | None = None,
) -> ServerSentEvent:
    if event.type != "lineage.changed":  # the same JSON for everyone who may see it: built once

        def build() -> str:
            return FeedItem.model_validate(service.item(event)).model_dump_json()

        data = hub.serialized(event, build) if hub is not None else build()
        return ServerSentEvent(data=data, id=resume_id, event=event.type)
    # lineage.changed: hidden node ids are replaced, per subscriber
    payload = service.fully_redacted(event)
    for _ in range(2):  # a pooled connection may be dead after a database restart: retry
        try:
            async with sessionmaker() as session:
                payload = (await service.payloads_for(session, principal, [event])).get(event.id)
            break
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
    data = FeedItem.model_validate(service.item(event, payload)).model_dump_json()
    return ServerSentEvent(data=data, id=resume_id, event=event.type)


async def _events(
    request: Request,
    hub: StreamHub,
    sub: Subscriber,
    principal: Principal,
    resume: ResumePoint | None,
    start: int,
    shutdown: anyio.Event,
) -> AsyncIterator[ServerSentEvent]:
    settings = request.app.state.settings
    sessionmaker = request.app.state.sessionmaker
    replayed: set[uuid.UUID] = set()  # sent by the replay; the live queue may hold them too
    point = resume or ResumePoint(start, start, set())
    last_id: str | None = point.encode() if resume else None

    def advance(event: Event) -> str:
        nonlocal last_id
        point.add(event.seq)
        last_id = point.encode()
        return last_id

    queue: asyncio.Queue[Event | None] = sub.queue  # type: ignore[assignment]

    def wake(_: object) -> None:
        """The shutdown wakes a reader waiting on its queue with a None (a full one has
        items to give: no need)."""
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)

    stopping = asyncio.ensure_future(shutdown.wait())
    stopping.add_done_callback(wake)
    try:
        yield ServerSentEvent(comment="connected")
        if resume is not None:
            limit = settings.sse_replay_limit
            async with sessionmaker() as session:
                window = await repo.replay(
                    session, principal, resume.floor, limit + len(resume.delivered) + 1
                )
            missed = [e for e in window if e.seq not in resume.delivered]
            if len(missed) > limit:
                yield ServerSentEvent(
                    event="resync", data=orjson.dumps({"reason": "too_far_behind"}).decode()
                )
                return
            for event in missed:
                if sub.following_only and not sub.wants(event, await _info(sessionmaker, event)):
                    continue
                replayed.add(event.id)
                yield await _message(sessionmaker, principal, event, advance(event), hub)
        while True:
            if sub.closed.is_set() and sub.queue.empty():
                if sub.overflowed:
                    yield ServerSentEvent(
                        event="resync",
                        data=orjson.dumps(
                            {"reason": "slow_consumer", "last_event_id": last_id}
                        ).decode(),
                    )
                return
            if stopping.done():
                # The server is shutting down: end the response properly (not a reset) and tell
                # the client to come back soon; it resumes from its Last-Event-ID elsewhere.
                yield ServerSentEvent(
                    event="reconnect",
                    data=orjson.dumps(
                        {"reason": "server_shutdown", "last_event_id": last_id}
                    ).decode(),
                    retry=_RECONNECT_MS,
                )
                return
            # One await on the queue under a timeout: no task and no wait set per event (with
            # 1,000 streams a write's wake-ups cost ~3x more that way; BENCHMARKS.md).
            try:
                async with asyncio.timeout(_REVALIDATE_SECONDS):
                    next_event = await queue.get()  # a cancelled get() leaves its item queued
            except TimeoutError:
                if stopping.done():
                    continue
                try:
                    async with sessionmaker() as session:
                        valid = await auth.still_valid(session, principal)
                except Exception as exc:
                    if not is_database_unavailable(exc):
                        raise
                    continue  # the database is away: keep the stream, check again next time
                if not valid:
                    yield ServerSentEvent(event="session_ended", data="{}")
                    return
                continue
            if next_event is None:  # woken by the shutdown
                continue
            event = next_event
            if event.id in replayed or (event.seq <= point.top and event.seq in point.delivered):
                continue
            yield await _message(sessionmaker, principal, event, advance(event), hub)
    finally:
        stopping.cancel()
        hub.unsubscribe(sub)


async def _info(sessionmaker, event: Event):  # type: ignore[no-untyped-def]
    from datamesh.catalog import service as catalog

    async with sessionmaker() as session:
        with contextlib.suppress(ValueError):
            return await catalog.visibility_info(session, [uuid.UUID(event.subject_id)])
    return {}


@router.get(
    "/api/feed/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def stream(
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    following: bool = False,
    last_event_id: Annotated[
        str | None, Header(max_length=400, description="Sent by EventSource on reconnect")
    ] = None,
    last_event_id_param: Annotated[str | None, Query(alias="last_event_id", max_length=400)] = None,
) -> EventSourceResponse:
    """Live events you may see, as Server-Sent Events.

    Each message has `id:` (a resume point, opaque to clients), `event:` (type) and `data:` (a
    feed item, whose `id` is the event's). Reconnect with the Last-Event-ID header (or
    `last_event_id`) to replay what you missed: events that committed late are replayed too,
    and nothing is sent twice.
    """
    hub: StreamHub = request.app.state.stream_hub
    settings = request.app.state.settings
    if hub.subscriber_count >= settings.sse_max_streams:
        raise ServiceUnavailable(
            "Too many live streams on this server; retry shortly.", headers={"Retry-After": "5"}
        )
    resume = await _resume_point(session, last_event_id or last_event_id_param)
    start = await repo.max_seq(session)  # a first connection resumes from here
    followed = await repo.followed_ids(session, principal.user_id) if principal.user_id else set()
    sub = hub.subscribe(principal, following, followed)
    shutdown = anyio.Event()  # set by sse-starlette when the server begins a graceful shutdown
    return EventSourceResponse(
        _events(request, hub, sub, principal, resume, start, shutdown),
        ping=settings.sse_heartbeat_seconds,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        shutdown_event=shutdown,
        shutdown_grace_period=_SHUTDOWN_GRACE_SECONDS,
    )


async def _resume_point(session: Any, value: str | None) -> ResumePoint | None:
    """The resume point of a Last-Event-ID; an event id (older clients) resumes after it."""
    if not value:
        return None
    point = ResumePoint.decode(value)
    if point is not None:
        return point
    with contextlib.suppress(ValueError):
        seq = await repo.seq_of(session, uuid.UUID(value))
        if seq is not None:
            return ResumePoint(seq, seq, set())
    raise Unprocessable(
        "Last-Event-ID is not a resume point of this stream; reconnect without it.",
        errors=[field_error(["header", "last-event-id"], "not a resume point")],
    )


@router.post("/api/follows", response_model=FollowState)
async def toggle_follow(
    data: FollowToggle, principal: CurrentUser, session: SessionDep
) -> FollowState:
    """Toggle: follow a dataset, or stop if you already do (a retry undoes it: prefer PUT)."""
    following, count = await service.set_follow(session, principal, data.dataset_id, None)
    return FollowState(dataset_id=data.dataset_id, following=following, follower_count=count)


@router.put("/api/follows/{dataset_id}", response_model=FollowState)
async def follow(dataset_id: uuid.UUID, principal: CurrentUser, session: SessionDep) -> FollowState:
    """Follow a dataset (idempotent: following it already changes nothing)."""
    following, count = await service.set_follow(session, principal, dataset_id, True)
    return FollowState(dataset_id=dataset_id, following=following, follower_count=count)


@router.delete("/api/follows/{dataset_id}", response_model=FollowState)
async def unfollow(
    dataset_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> FollowState:
    """Stop following a dataset (idempotent: not following it is fine)."""
    following, count = await service.set_follow(session, principal, dataset_id, False)
    return FollowState(dataset_id=dataset_id, following=following, follower_count=count)


@router.get("/api/follows", response_model=list[Followed])
async def list_follows(principal: CurrentUser, session: SessionDep) -> list[Followed]:
    """The datasets you follow (that you may still see)."""
    return [Followed.model_validate(f) for f in await service.followed(session, principal)]
