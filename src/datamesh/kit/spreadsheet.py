"""CSV cells that a spreadsheet opens as text, never as a formula (OWASP "CSV injection").

Names in exports come from users and pipelines: a dataset called ``=HYPERLINK(...)`` must reach
Excel or Sheets as that text. A string cell starting with ``= + - @``, a tab or a carriage
return is prefixed with ``'``; numbers and other values pass unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def row(values: Iterable[object]) -> list[object]:
    return [cell(v) for v in values]
