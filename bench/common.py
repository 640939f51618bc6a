"""Shared helpers: a private PostgreSQL, an app on it, percentiles, result files."""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from datamesh.app import create_app
from datamesh.config import Settings
from datamesh.embedded_pg import EmbeddedPostgres

RESULTS = Path(__file__).parent / "results"


@asynccontextmanager
async def bench_app(name: str, **settings: Any) -> AsyncIterator[tuple[FastAPI, EmbeddedPostgres]]:
    """A fresh embedded PostgreSQL and the app on it (torn down afterwards)."""
    base = Path(tempfile.mkdtemp(prefix=f"datamesh-bench-{name}-"))
    pg = EmbeddedPostgres(base)
    pg.start()
    try:
        app = create_app(
            Settings(
                database_url=pg.url(),
                data_dir=base,
                log_level="WARNING",
                db_pool_size=20,
                **settings,
            )
        )
        async with app.router.lifespan_context(app):
            yield app, pg
    finally:
        pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)  # a 100k-dataset cluster is gigabytes


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": round(pct(samples_ms, 50), 3),
        "p95_ms": round(pct(samples_ms, 95), 3),
        "p99_ms": round(pct(samples_ms, 99), 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3) if samples_ms else float("nan"),
    }


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return (time.perf_counter() - start) * 1000


def save(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({name: result}, indent=2, default=str))
