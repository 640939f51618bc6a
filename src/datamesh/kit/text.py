"""Small text helpers."""

from __future__ import annotations

import re
import unicodedata
from typing import Any


def slugify(value: str, max_length: int = 100) -> str:
    norm = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", norm.lower()).strip("-")
    return slug[:max_length].strip("-") or "org"


def escape_like(value: str) -> str:
    """Escape LIKE wildcards (use with ``escape="\\\\"``) so user text matches literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def nul_path(value: Any, path: list[str | int] | None = None) -> list[str | int] | None:
    """Where a JSON document holds a NUL character (in a key or a string), if anywhere:
    PostgreSQL text and jsonb cannot hold one."""
    path = path or []
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_path(item, [*path, i])
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return [*path, key]
            found = nul_path(item, [*path, key])
            if found is not None:
                return found
    return None
