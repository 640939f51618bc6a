"""Encoders that make catalog values safe to place in generated code.

Connect output is code a user will run, and every name in it comes from the catalog, which
anyone with producer rights (or an OpenLineage emitter) can fill. So no value is ever
interpolated raw: identifiers are quoted for their SQL dialect, and strings become Python,
YAML, dbt or URL literals that decode back to exactly the original text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from urllib.parse import quote as _url_quote

__all__ = [
    "DIALECTS",
    "InvalidIdentifier",
    "dbt_str",
    "py_literal",
    "py_str",
    "qualify",
    "quote_ident",
    "url_component",
    "yaml_str",
]


class InvalidIdentifier(ValueError):
    """An identifier that no dialect can express (empty, NUL, lone surrogate)."""


def _check(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidIdentifier("identifier must be a non-empty string")
    if "\x00" in name:
        raise InvalidIdentifier("identifier must not contain NUL")
    if any("\ud800" <= ch <= "\udfff" for ch in name):
        raise InvalidIdentifier("identifier must be valid Unicode text")
    return name


def _ansi(name: str) -> str:
    # SQL standard delimited identifier: the only special character is '"', doubled.
    return '"' + name.replace('"', '""') + '"'


def _spark(name: str) -> str:
    # Spark SQL / Databricks: backquoted identifier, a backtick is escaped by doubling it;
    # backslash has no meaning inside backticks.
    return "`" + name.replace("`", "``") + "`"


_BQ_NAMED = {"\\": "\\\\", "`": "\\`", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


_BQ_DOMAIN_PROJECT = re.compile(r"[a-z0-9][a-z0-9.-]*:[a-z0-9][a-z0-9-]*\Z")


def _bigquery(name: str) -> str:
    # GoogleSQL quoted identifiers take the same escape sequences as string literals, so
    # backslash and backtick are backslash-escaped and control characters use \u escapes.
    # A dot inside backticks is a path separator (`project.dataset.table`), even escaped,
    # so BigQuery names cannot hold one; only a domain-scoped project (example.com:p) can.
    if "." in name and not _BQ_DOMAIN_PROJECT.match(name):
        raise InvalidIdentifier("BigQuery names cannot contain '.'")
    out: list[str] = []
    for ch in name:
        if ch in _BQ_NAMED:
            out.append(_BQ_NAMED[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "`" + "".join(out) + "`"


DIALECTS: dict[str, Callable[[str], str]] = {
    "ansi": _ansi,
    "snowflake": _ansi,
    "postgres": _ansi,
    "postgresql": _ansi,
    "redshift": _ansi,
    "spark": _spark,
    "databricks": _spark,
    "bigquery": _bigquery,
}


def quote_ident(name: str, dialect: str) -> str:
    """Quote one identifier so the dialect reads it back verbatim (case included)."""
    try:
        quoter = DIALECTS[dialect]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {dialect!r}") from None
    return quoter(_check(name))


def qualify(parts: Sequence[str], dialect: str) -> str:
    """Quote each part and join with dots: quoting parts separately keeps dots in names."""
    if not parts:
        raise InvalidIdentifier("a qualified name needs at least one part")
    return ".".join(quote_ident(part, dialect) for part in parts)


# --- Python -----------------------------------------------------------------------------

_PY_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_codepoint(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def py_str(value: str) -> str:
    """A Python string literal that evaluates to ``value``.

    Like ``repr`` (non-printables escaped, so no raw newline or bidi control reaches the
    source), but prefers double quotes so generated code reads like hand-written code.
    """
    if not isinstance(value, str):
        raise TypeError("py_str expects a str")
    quote = "'" if '"' in value and "'" not in value else '"'
    out = [quote]
    for ch in value:
        if ch in _PY_NAMED:
            out.append(_PY_NAMED[ch])
        elif ch == quote:
            out.append("\\" + quote)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(_escape_codepoint(ch))
    out.append(quote)
    return "".join(out)


def py_literal(value: object) -> str:
    """A Python literal for a plain scalar; anything else is refused rather than repr'd."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite floats have no Python literal")
        return repr(float(value))
    if isinstance(value, str):
        return py_str(value)
    raise TypeError(f"no safe Python literal for {type(value).__name__}")


# --- YAML / dbt -----------------------------------------------------------------------------

_YAML_NAMED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _yaml_plain(ch: str) -> bool:
    # YAML 1.1 printable set minus its extra line breaks (NEL, LS, PS) and the BOM, which
    # would otherwise be folded or stripped inside a double-quoted scalar.
    code = ord(ch)
    return (
        0x20 <= code <= 0x7E
        or (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or code >= 0x10000
    )


def yaml_str(value: str) -> str:
    """A double-quoted YAML scalar that loads back as exactly ``value``."""
    if not isinstance(value, str):
        raise TypeError("yaml_str expects a str")
    out = ['"']
    for ch in value:
        if ch in _YAML_NAMED:
            out.append(_YAML_NAMED[ch])
        elif _yaml_plain(ch):
            out.append(ch)
        else:
            out.append(_escape_codepoint(ch))
    out.append('"')
    return "".join(out)


# dbt renders every YAML string as a Jinja template (dbt-common get_rendered, native=True).
_DBT_RENDER_CHARS = re.compile(r"[{][{%#]|[#}%][}]")
_JINJA_SAFE = re.compile(r"[A-Za-z0-9 _.,:;!?@$^*()\[\]<>=+\-/|~]")


def dbt_str(value: str) -> str:
    """A YAML scalar that survives dbt, which renders YAML strings through Jinja.

    Plain text passes through unchanged, except that Jinja would evaluate ``{{ }}``-style
    markup, rewrite carriage returns and drop a trailing newline. Such values are wrapped in
    a Jinja string literal whose unusual characters are all hex escapes (which Jinja
    decodes), so dbt renders back exactly the original text and evaluates nothing.
    """
    if not (_DBT_RENDER_CHARS.search(value) or "\r" in value or value.endswith("\n")):
        return yaml_str(value)
    inner = "".join(ch if _JINJA_SAFE.fullmatch(ch) else _escape_codepoint(ch) for ch in value)
    return yaml_str('{{ "' + inner + '" }}')


# --- URLs -----------------------------------------------------------------------------------


def url_component(value: str) -> str:
    """Percent-encode a value for a URL path segment or query parameter (nothing is safe)."""
    return _url_quote(value, safe="")
