"""Helpers for alert tests: polling for a condition, rules and datasets through the API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI

from datamesh.alerts.worker import AlertWorker, build_context, close_context
from datamesh.config import Settings
from datamesh.db import make_engine, make_sessionmaker
from tests.factories import Account

GUARD_SECONDS = 180.0  # a hang guard, not a timing goal


async def until(check: Callable[[], Any], what: str, guard: float = GUARD_SECONDS) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    steps = int(guard / 0.1)
    for _ in range(steps):
        got = check()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def rule(
    c: httpx.AsyncClient, who: Account, channel: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    body = {"name": kw.pop("name", "my rule"), "events": kw.pop("events", ["dataset.updated"])}
    body |= {"channel": channel, **kw}
    r = await c.post("/api/alerts", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def dataset(c: httpx.AsyncClient, who: Account, name: str, **kw: Any) -> dict[str, Any]:
    body = {"namespace": "postgres://db:5432", "name": name, "platform": "postgresql", **kw}
    r = await c.post("/api/datasets", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def touch(c: httpx.AsyncClient, who: Account, ds_id: str, text: str) -> None:
    """Change a dataset's description: one dataset.updated event."""
    r = await c.patch(f"/api/datasets/{ds_id}", json={"description": text}, headers=who.headers)
    assert r.status_code == 200, r.text


async def deliveries(c: httpx.AsyncClient, who: Account, rule_id: str) -> list[dict[str, Any]]:
    r = await c.get(f"/api/alerts/{rule_id}/deliveries", headers=who.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


@contextlib.asynccontextmanager
async def own_workers(
    app: FastAPI, settings: Settings, n: int, concurrency: int
) -> AsyncIterator[list[AlertWorker]]:
    """``n`` alert workers, each on its own connection pool (as separate processes would be),
    not started; stopped and their pools closed at the end."""
    ctx = build_context(app)
    engines = [make_engine(app.state.database_url, settings) for _ in range(n)]
    workers = [
        AlertWorker(make_sessionmaker(e), ctx, poll_seconds=0.05, concurrency=concurrency)
        for e in engines
    ]
    try:
        yield workers
    finally:
        for w in workers:
            await w.stop()
        for engine in engines:
            await engine.dispose()
        await close_context(ctx)
