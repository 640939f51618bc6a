"""Health (process alive), readiness (database reachable, migrations at head), metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from starlette.responses import Response

from datamesh.errors import ServiceUnavailable
from datamesh.migrate import head_revision

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    migration: str | None


@router.get("/api/health", response_model=Health)
async def health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get(
    "/api/ready",
    response_model=Ready,
    responses={503: {"description": "Database unreachable or migrations not at head"}},
)
async def ready(request: Request) -> Ready:
    """Readiness: the database is reachable and its schema is at the current migration."""
    engine = request.app.state.engine
    try:
        async with asyncio.timeout(3), engine.connect() as conn:
            rev = None
            if await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL")):
                rev = await conn.scalar(text("SELECT version_num FROM alembic_version LIMIT 1"))
    except Exception:
        raise ServiceUnavailable(
            "The database is unreachable.", headers={"Retry-After": "5"}
        ) from None
    head = head_revision()
    if rev != head:
        raise ServiceUnavailable(f"The database schema is at {rev}, not at {head}.")
    return Ready(status="ok", database="ok", migration=rev)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
