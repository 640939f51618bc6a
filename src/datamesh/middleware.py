"""ASGI middleware: request context, body size limit and content type of writes."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datamesh.errors import field_error, problem
from datamesh.kit.context import RequestContext, request_context
from datamesh.kit.text import nul_path

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


_NUL_MESSAGE = "must not contain NUL characters (PostgreSQL text cannot hold them)"


def _nul_problem(where: list[str | int]) -> Any:
    error = field_error(where, _NUL_MESSAGE, "nul_character")
    return problem(
        422,
        f"{error['field'] or 'body'}: {_NUL_MESSAGE}.",
        slug="validation-error",
        title="Invalid input",
        errors=[error],
    )


class BodyLimitMiddleware:
    """Refuse oversized bodies (413), non-JSON writes to the API (415) and NUL characters in
    the path, the query or a JSON body (422 with the field path), before any parsing: a NUL
    reaching PostgreSQL would be a 500."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        form_paths: tuple[str, ...] = (),
        nul_checked_by_route: tuple[str, ...] = (),
    ) -> None:
        self.app, self.max_bytes, self.form_paths = app, max_bytes, form_paths
        self.nul_checked_by_route = nul_checked_by_route  # routes that refuse NULs per item

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await _nul_problem(["path"])(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            name = next((k for k, v in pairs if "\x00" in k + v), None)
            if name is not None:
                await _nul_problem(["query", name.replace("\x00", "")])(scope, receive, send)
                return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_large = problem(
            413,
            f"The body is larger than the limit of {self.max_bytes} bytes.",
            slug="payload-too-large",
        )
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await too_large(scope, receive, send)
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

        # Read the body here (the app would read all of it anyway), counting as it arrives.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)  # disconnected
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\\u0000" in body and path not in self.nul_checked_by_route:
            try:
                where = nul_path(orjson.loads(body))
            except orjson.JSONDecodeError:
                where = None  # not JSON: the route answers that
            if where is not None:
                await _nul_problem(where)(scope, receive, send)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive callable giving back what was read, then the real one (disconnects)."""
    pending = list(messages)

    async def _receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return _receive
