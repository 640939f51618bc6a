"""Scrubbing of resolved secret values out of text before it leaves the process.

Drivers and servers sometimes echo what they were given (a header value, a DSN, a password in a
parse error). Every tester message and exception text goes through :func:`scrub` with the values
resolved for that call, so a secret cannot reach a response, a log line or an audit entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would mask ordinary words and digits all over a message and protect nothing.
MIN_SECRET_LENGTH = 4


def _variants(value: str) -> set[str]:
    """The forms in which a value commonly shows up in text: raw, URL-encoded, escaped."""
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
        repr(value.encode("utf-8"))[2:-1],  # as quoted inside b'...' by byte-level libraries
    }
    # Percent-encoding is case-insensitive in its hex digits; some libraries emit lower case.
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in list(forms)}
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (and its encoded forms) with ``***``."""
    forms: set[str] = set()
    for value in secrets:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            forms |= _variants(value)
    if not forms or not text:
        return text
    # Longest first, so a value that contains another is masked whole.
    pattern = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.sub(pattern, MASK, text)


def scrub_exception(exc: BaseException, secrets: Iterable[str]) -> str:
    """A one-line, scrubbed description of an exception: ``TypeName: text``."""
    text = str(exc).strip()
    name = type(exc).__name__
    return scrub(f"{name}: {text}" if text else name, secrets)
