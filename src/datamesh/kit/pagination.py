"""Opaque cursors for keyset pagination and bounded page sizes."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import literal, tuple_

from datamesh.errors import BadRequest

T = TypeVar("T")

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-200).")]
CursorParam = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` from the previous page.")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """Decode a cursor made by :func:`encode_cursor`; a bad one is a 400, not a 500."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError):
        raise BadRequest("The cursor is not valid; start again without it.") from None
    if not isinstance(values, list) or len(values) != arity:
        raise BadRequest("The cursor is not valid; start again without it.")
    return values


def _coerce(column: Any, value: Any) -> Any:
    try:
        kind = column.type.python_type
    except (NotImplementedError, AttributeError):
        return value
    if value is None or isinstance(value, kind):
        return value
    if kind is uuid.UUID:
        return uuid.UUID(str(value))
    if kind is datetime:
        return datetime.fromisoformat(str(value))
    if kind in (int, float, str):
        return kind(value)
    return value


def after(columns: Sequence[Any], values: Sequence[Any], descending: bool = False) -> Any:
    """Keyset condition: rows strictly after ``values`` in the order of ``columns``.

    Values come from a client-held cursor: each is converted to its column's type, and a
    value that does not convert is a 400, never a database error.
    """
    try:
        typed = [literal(_coerce(c, v), type_=c.type) for c, v in zip(columns, values, strict=True)]
    except (ValueError, TypeError):
        raise BadRequest("The cursor is not valid; start again without it.") from None
    left, right = tuple_(*columns), tuple_(*typed)
    return left < right if descending else left > right


def split_page(
    rows: list[T], limit: int, key: Callable[[T], list[Any]]
) -> tuple[list[T], str | None]:
    """Rows were fetched with ``limit + 1``: return the page and the cursor of the next one."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(key(page[-1]))
