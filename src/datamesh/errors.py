"""Application errors and their RFC 9457 ``application/problem+json`` rendering.

Services raise :class:`AppError` subclasses; the handlers here turn every error, including
framework ones (404 route, 405, 422 validation, 500, 503 database down), into a problem
document without a stack trace or a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://datamesh.dev/problems/"

log = logging.getLogger("datamesh.errors")


class AppError(Exception):
    """Base error: a status, a stable type slug and a message safe to show."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        keep_changes: bool = False,
    ) -> None:
        super().__init__(detail or self.title)
        # True: the request's transaction still commits (e.g. the audit entry of a failed
        # sign-in, or revoking a token family after reuse), then the error is answered.
        self.keep_changes = keep_changes
        self.detail = detail or self.title
        self.errors = list(errors) if errors else None
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(AppError):
    status, slug, title = 428, "precondition-required", "Precondition required"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class Unprocessable(AppError):
    status, slug, title = 422, "validation-error", "Invalid input"


class TooManyRequests(AppError):
    status, slug, title = 429, "too-many-requests", "Too many requests"


class BadGateway(AppError):
    status, slug, title = 502, "upstream-failed", "The connected system failed"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


class FieldProblem(BaseModel):
    loc: list[str | int]
    field: str
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details: every error response has this shape."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


def field_error(path: Sequence[str | int], message: str, kind: str = "invalid") -> dict[str, Any]:
    return {
        "loc": list(path),
        "field": ".".join(str(p) for p in path),
        "msg": message,
        "type": kind,
    }


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": TYPE_BASE + (slug or phrase.lower().replace(" ", "-")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _clean_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        raw = list(err.get("loc", ()))
        msg, kind = str(err.get("msg", "invalid")), str(err.get("type", "invalid"))
        if kind == "union_tag_not_found":  # pydantic's "Unable to extract tag using ..."
            tag = str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'")
            raw, msg = [*raw, tag], f"Field required: `{tag}` says which variant this is"
        loc = [p for p in raw if p != "body"] or raw
        # "input" may echo a secret the user typed: never send it back.
        out.append(field_error(loc, msg, kind))
    return out


async def _invalid_json(request: Request, err: Mapping[str, Any]) -> Response:
    """A body that is not JSON, said where: FastAPI reports only the character offset."""
    where = ""
    loc = list(err.get("loc", ()))
    if len(loc) == 2 and isinstance(loc[1], int):
        text = (await request.body()).decode("utf-8", "replace")
        offset = min(max(loc[1], 0), len(text))
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        where = f" (line {line}, column {column})"
    reason = str((err.get("ctx") or {}).get("error") or "").strip()
    message = f"is not valid JSON{where}" + (f": {reason[0].lower()}{reason[1:]}" if reason else "")
    return problem(
        422,
        f"The body {message}.",
        slug="validation-error",
        title="Invalid input",
        errors=[field_error(["body"], message, "json_invalid")],
    )


def is_database_unavailable(exc: BaseException) -> bool:
    """True for errors that mean PostgreSQL cannot be reached (not a bad query)."""
    import asyncpg
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout  # no connection free in time

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(
            cur,
            OSError
            | ConnectionError
            | TimeoutError
            | asyncpg.exceptions.CannotConnectNowError
            | asyncpg.exceptions.ConnectionDoesNotExistError
            | asyncpg.exceptions.InterfaceError
            | asyncpg.exceptions.AdminShutdownError
            | asyncpg.exceptions.CrashShutdownError
            | asyncpg.exceptions.TooManyConnectionsError
            | OperationalError
            | InterfaceError
            | PoolTimeout,
        ):
            return True
        if isinstance(cur, DBAPIError) and cur.connection_invalidated:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


# What a server without the built web UI answers for its pages (the API works): how to build it.
_NO_UI_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DataMesh: the web UI is not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}
code{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>The DataMesh web UI is not built</h1>
<p>This server answers the API (<a href="/api/docs">/api/docs</a>), but its package has no
built web UI. In a checkout of the repository, run <code>make web</code> (needs Node.js 20.19+
with npm) and reload this page; or install DataMesh from a wheel, which carries the UI:
<code>make wheel</code>, then <code>pipx install dist/datamesh-*.whl</code>.</p>
</body></html>
"""


def _spa_fallback(request: Request, status: int) -> Response | None:
    """Unknown non-API GET paths belong to the web UI's router: answer with index.html."""
    index = getattr(request.app.state, "spa_index", None)
    path = request.url.path
    if (
        status == 404
        and request.method in ("GET", "HEAD")
        and not (path == "/api" or path.startswith(("/api/", "/metrics")))
        and index is not None
    ):
        if not index.exists():
            return HTMLResponse(_NO_UI_PAGE, 503, headers={"Cache-Control": "no-cache"})
        from starlette.responses import FileResponse

        static = index.parent
        candidate = (static / path.lstrip("/")).resolve()
        if candidate.is_file() and static.resolve() in candidate.parents:
            return FileResponse(candidate)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
    return None


def _allowed_methods(request: Request, default: str | None) -> str | None:
    """Every documented method of the resource: Starlette names only its first route's."""
    import re

    found: dict[int, set[str]] = {}  # by number of path parameters: the most literal wins
    for template, ops in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            found.setdefault(template.count("{"), set()).update(m.upper() for m in ops)
    if not found:
        return default
    methods = found[min(found)]
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> Response:
        return problem(
            exc.status,
            exc.detail,
            slug=exc.slug,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
            extra=exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        invalid = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if invalid is not None:
            return await _invalid_json(request, invalid)
        errors = _clean_validation_errors(exc)
        detail = "; ".join(f"{e['field'] or 'body'}: {e['msg']}" for e in errors[:5])
        return problem(422, detail, slug="validation-error", title="Invalid input", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        spa = _spa_fallback(request, exc.status_code)
        if spa is not None:
            return spa
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such resource or route."
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            allow = _allowed_methods(request, (headers or {}).get("Allow"))
            if allow:
                headers = {**(headers or {}), "Allow": allow}
        return problem(exc.status_code, detail, headers=headers)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        from sqlalchemy.exc import IntegrityError
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        if isinstance(exc, PoolTimeout):
            log.warning("no database connection came free in time")
            return problem(
                503,
                "The server is busy: no database connection came free in time; try again shortly.",
                slug="busy",
                headers={"Retry-After": "2"},
            )
        if is_database_unavailable(exc):
            log.warning("database unavailable: %s", type(exc).__name__)
            return problem(
                503,
                "The database is unreachable; try again shortly.",
                slug="database-unavailable",
                headers={"Retry-After": "5"},
            )

        if isinstance(exc, IntegrityError):
            # A race the service's own checks could not see (e.g. two creates at once).
            return problem(
                409, "This conflicts with existing data; reload and try again.", slug="conflict"
            )
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "An internal error occurred; it has been logged.", slug="internal")


def problem_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """Document errors as they are sent: every 4xx/5xx is problem+json (also 422, not FastAPI's
    default), and every operation lists the errors any request may get (bad input, a body
    too large or not JSON, a write racing another one, a stale If-Match, the database down)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schemas["Problem"].pop("$defs", {}).items():
        schemas[name] = sub
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    ref = {"$ref": "#/components/schemas/Problem"}
    for path in spec.get("paths", {}).values():
        for method, op in path.items():
            responses = op.setdefault("responses", {})
            for code in _error_codes(method, op):
                responses.setdefault(code, {"description": HTTPStatus(int(code)).phrase})
            for code, entry in responses.items():
                if code.isdigit() and int(code) >= 400:
                    entry["content"] = {PROBLEM_JSON: {"schema": ref}}
            for param in op.get("parameters", []):
                _drop_null(param.get("schema", {}))
    return spec


def _error_codes(method: str, op: dict[str, Any]) -> list[str]:
    codes = ["400", "401", "403", "404", "422", "503"]
    if method in ("post", "put", "patch"):
        codes += ["413", "415"]  # BodyLimitMiddleware, before any route
    if method in ("post", "put", "patch", "delete"):
        codes.append("409")  # a concurrent write (unique key) is a conflict, never a 500
    headers = {p["name"].lower() for p in op.get("parameters", []) if p.get("in") == "header"}
    if "if-match" in headers:
        codes.append("412")
    return codes


def _drop_null(schema: dict[str, Any]) -> None:
    """A query, path or header parameter is absent or a string, never JSON null."""
    options = schema.get("anyOf")
    if not options:
        return
    kept = [o for o in options if o.get("type") != "null"]
    if len(kept) < len(options) and "default" in schema and schema["default"] is None:
        del schema["default"]
    if len(kept) == 1:
        del schema["anyOf"]
        schema.update(kept[0])
    elif kept:
        schema["anyOf"] = kept
