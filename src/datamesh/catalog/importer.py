"""Bulk import of dataset profiles from JSON Lines or CSV, upserting by namespace + name.

Each line is applied in its own savepoint, so a bad line is reported and skipped while the
good ones land; work is committed in batches so a large file does not hold one huge transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from datamesh.catalog import service
from datamesh.catalog.schemas import DatasetCreate
from datamesh.errors import AppError
from datamesh.kit.context import Actor
from datamesh.orgs import service as orgs

BATCH = 500


@dataclass(slots=True)
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _csv_row(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "") and k is not None}
    if "tags" in out:
        out["tags"] = [t.strip() for t in out["tags"].replace(";", ",").split(",") if t.strip()]
    if "fields" in out:
        out["fields"] = json.loads(out["fields"])
    source = {k: out.pop(k) for k in ("node_id", "database", "schema", "table", "path") if k in out}
    if source:
        out["source"] = source
    return out


def read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record or error message) for each non-empty line of the file."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            try:
                yield number, _csv_row(row)
            except (ValueError, TypeError) as exc:
                yield number, f"bad value: {exc}"
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"not JSON: {exc.msg} at column {exc.colno}"
            continue
        yield number, record if isinstance(record, dict) else "not a JSON object"


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors()[:5]
    )


async def import_file(
    sessionmaker: async_sessionmaker[AsyncSession],
    path: Path,
    org_name: str,
    *,
    progress: Callable[[int], object] = lambda _: None,
) -> ImportReport:
    report = ImportReport()
    actor = Actor.system("import")
    lines = list(read_lines(path))
    async with sessionmaker() as session:
        org = await orgs.get_or_create_by_name(session, org_name)
        await session.commit()
        pending = 0
        for number, record in lines:
            progress(1)
            if isinstance(record, str):
                report.errors.append((number, record))
                continue
            try:
                data = DatasetCreate.model_validate(record)
            except ValidationError as exc:
                report.errors.append((number, _describe(exc)))
                continue
            try:
                async with session.begin_nested():
                    _, created = await service.upsert(session, actor, org.id, data, origin="import")
            except AppError as exc:
                report.errors.append((number, exc.detail))
                continue
            if created:
                report.created += 1
            else:
                report.updated += 1
            pending += 1
            if pending >= BATCH:
                await session.commit()
                pending = 0
        await session.commit()
    return report
