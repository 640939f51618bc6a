"""Generic references to resources (``dataset:<uuid>``) used by audit and events.

They let the downstream domains (audit, events, feed) record what happened to anything
without importing the domain that owns it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ref:
    kind: str
    id: str
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, value: str) -> Ref:
        kind, sep, ident = value.partition(":")
        if not sep or not kind or not ident:
            raise ValueError(f"not a reference: {value!r}")
        return cls(kind, ident)
