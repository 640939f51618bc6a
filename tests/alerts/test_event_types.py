"""The list of event types alert rules are validated against is the real one: every type the
source writes with ``events.emit`` is in it, and every alertable type is written somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from datamesh.events import types

SRC = Path(__file__).resolve().parents[2] / "src" / "datamesh"
# events.emit(session, "x.y", ...) and the dashboards' / monitoring's computed names
LITERAL = re.compile(r"emit\(\s*session,\s*\"([a-z_]+\.[a-z_]+)\"", re.S)
ANY_TYPE = re.compile(r"\"([a-z_]+\.[a-z_]+)\"")


def test_every_type_written_is_known() -> None:
    written = set()
    for path in SRC.rglob("*.py"):
        written |= set(LITERAL.findall(path.read_text()))
    assert written, "found no emit calls: the pattern is stale"
    unknown = written - types.ALL
    assert not unknown, f"add these to datamesh.events.types: {sorted(unknown)}"


def test_every_alertable_type_is_written_somewhere() -> None:
    text = "\n".join(
        p.read_text() for p in SRC.rglob("*.py") if p.name != "types.py" and "alerts" not in p.parts
    )
    named = set(ANY_TYPE.findall(text))
    computed = {"dataset.sla_breached", "dataset.sla_recovered"}  # f"dataset.sla_{kind}"
    missing = set(types.ALERTABLE) - named - computed
    assert not missing, f"alertable but never written: {sorted(missing)}"
