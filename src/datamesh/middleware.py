"""ASGI middleware: request context, body size limit and content type of writes."""

from __future__ import annotations

import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datamesh.errors import problem
from datamesh.kit.context import RequestContext, request_context

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class RequestContextMiddleware:
    """Request id (taken from ``X-Request-ID`` if sane), client address, echoed back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")
        if not rid or len(rid) > 64 or not rid.replace("-", "").isalnum():
            rid = uuid.uuid4().hex
        client = scope.get("client")
        ctx = RequestContext(
            request_id=rid,
            client=client[0] if client else None,
            user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:512] or None,
        )
        token = request_context.set(ctx)

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            request_context.reset(token)


class BodyLimitMiddleware:
    """Refuse oversized bodies (413) and non-JSON writes to the API (415) before parsing."""

    def __init__(self, app: ASGIApp, max_bytes: int, form_paths: tuple[str, ...] = ()) -> None:
        self.app, self.max_bytes, self.form_paths = app, max_bytes, form_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await problem(
                413,
                f"The body is larger than the limit of {self.max_bytes} bytes.",
                slug="payload-too-large",
            )(scope, receive, send)
            return
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        has_body = (length not in (None, b"0")) or b"transfer-encoding" in headers
        path: str = scope["path"]
        if (
            has_body
            and path.startswith("/api/")
            and not path.startswith(self.form_paths)
            and not (ctype == b"application/json" or ctype.endswith(b"+json"))
        ):
            await problem(415, "Send the body as application/json.", slug="unsupported-media-type")(
                scope, receive, send
            )
            return

        received = 0

        async def _receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing unchanged.
                    raise HTTPException(
                        413, f"The body is larger than the limit of {self.max_bytes} bytes."
                    )
            return message

        await self.app(scope, _receive, send)
