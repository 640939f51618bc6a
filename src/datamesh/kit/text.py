"""Small text helpers."""

from __future__ import annotations

import re
import unicodedata


def slugify(value: str, max_length: int = 100) -> str:
    norm = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", norm.lower()).strip("-")
    return slug[:max_length].strip("-") or "org"


def escape_like(value: str) -> str:
    """Escape LIKE wildcards (use with ``escape="\\\\"``) so user text matches literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
