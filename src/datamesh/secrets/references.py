"""Parsing of secret references.

A secret is never stored or returned; only a reference to where it lives:
``env:NAME``, ``file:/absolute/path`` or ``vault:mount/path#key`` (KV v2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SecretScheme = Literal["env", "file", "vault"]

_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_VAULT_RE = re.compile(
    r"^(?P<mount>[A-Za-z0-9_.-]+)/(?P<path>[A-Za-z0-9_./-]+)#(?P<key>[A-Za-z0-9_.-]+)$"
)

REFERENCE_HINT = "a secret reference: env:NAME, file:/absolute/path or vault:mount/path#key"


class InvalidSecretReference(ValueError):
    """Raised for a value that is not a well-formed reference (it may be a raw secret)."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    scheme: SecretScheme
    # env: variable name; file: absolute path; vault: "mount/path"
    location: str
    # vault only: the key inside the KV v2 secret
    key: str | None = None
    mount: str | None = None
    path: str | None = None

    def __str__(self) -> str:
        if self.scheme == "vault":
            return f"vault:{self.mount}/{self.path}#{self.key}"
        return f"{self.scheme}:{self.location}"


def parse_ref(value: str) -> SecretRef:
    """Parse a reference; the error never repeats the value, which may be a raw secret."""
    if not isinstance(value, str) or ":" not in value:
        raise InvalidSecretReference(f"must be {REFERENCE_HINT}")
    scheme, _, rest = value.partition(":")
    if scheme == "env" and _ENV_RE.match(rest):
        return SecretRef("env", rest)
    if (
        scheme == "file"
        and rest.startswith("/")
        and "\x00" not in rest
        and ".." not in rest.split("/")
    ):
        return SecretRef("file", rest)
    if scheme == "vault":
        m = _VAULT_RE.match(rest)
        if m and ".." not in m["path"].split("/"):
            return SecretRef(
                "vault", f"{m['mount']}/{m['path']}", key=m["key"], mount=m["mount"], path=m["path"]
            )
    raise InvalidSecretReference(f"must be {REFERENCE_HINT}")


def is_ref(value: object) -> bool:
    try:
        parse_ref(value)  # type: ignore[arg-type]
    except InvalidSecretReference:
        return False
    return True
