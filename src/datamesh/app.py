"""``create_app()``: routers, error handlers, middleware, lifespan and the SPA mount."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from datamesh import migrate
from datamesh.alerts import worker as alert_worker
from datamesh.alerts.endpoints import router as alerts_router
from datamesh.audit.endpoints import router as audit_router
from datamesh.auth.cache import AUTH_CHANNEL, AuthCache
from datamesh.auth.endpoints import router as auth_router
from datamesh.auth.oidc import OIDCRegistry
from datamesh.auth.tokens import ensure_secret_key
from datamesh.catalog.endpoints import router as catalog_router
from datamesh.config import Settings, get_settings
from datamesh.connect import renderer as connect_renderer
from datamesh.connect.endpoints import router as connect_router
from datamesh.connectors import health as connectors_health
from datamesh.connectors.endpoints import router as connectors_router
from datamesh.dashboards.endpoints import router as dashboards_router
from datamesh.db import make_engine, make_sessionmaker, resolve_database_url
from datamesh.errors import install_error_handlers, problem_openapi
from datamesh.feed.endpoints import router as feed_router
from datamesh.feed.stream import StreamHub
from datamesh.lineage.bolt import BoltGraph
from datamesh.lineage.dbt_endpoints import router as dbt_router
from datamesh.lineage.endpoints import router as lineage_router
from datamesh.lineage.index import IndexEngine
from datamesh.lineage.projection import BoltEngine, Projector
from datamesh.middleware import BodyLimitMiddleware, RequestContextMiddleware
from datamesh.monitoring import evaluator as sla_evaluator
from datamesh.monitoring.endpoints import router as monitoring_router
from datamesh.observability import Metrics, MetricsMiddleware, configure_logging, configure_tracing
from datamesh.orgs.endpoints import router as orgs_router
from datamesh.system.endpoints import router as system_router
from datamesh.users.endpoints import router as users_router

log = logging.getLogger("datamesh")
STATIC_DIR = Path(__file__).parent / "static"

API_DESCRIPTION = """
DataMesh: a self-hosted data catalog with search, Connect snippets, an activity feed and lineage.

Errors are `application/problem+json` documents (`type`, `title`, `status`, `detail`, and
`errors` with field paths for invalid input). Lists use cursor pagination: pass `next_cursor`
back as `cursor`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    url, embedded = await asyncio.to_thread(resolve_database_url, settings)
    if app.state.migrate_on_start:
        await asyncio.to_thread(migrate.upgrade, url)
    engine = make_engine(url, settings)
    app.state.engine = engine
    app.state.database_url = url
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.metrics.bind_pool(lambda: _pool_stats(engine))
    app.state.signing_key = await asyncio.to_thread(ensure_secret_key, settings)
    await asyncio.to_thread(connect_renderer.preload)  # no request compiles a template
    app.state.http = httpx.AsyncClient(timeout=settings.outbound_timeout_seconds)
    app.state.oidc = OIDCRegistry(settings.oidc_providers, app.state.http)
    app.state.stream_hub = StreamHub(engine, app.state.sessionmaker, settings.sse_queue_size)
    cache: AuthCache = app.state.auth_cache
    app.state.stream_hub.listen(AUTH_CHANNEL, cache.invalidate, cache.set_live)
    await app.state.stream_hub.start()
    projector = _graph_engine(app, settings)
    index = await _lineage_index(app, settings)
    try:
        async with (
            connectors_health.lifespan(app),
            sla_evaluator.lifespan(app),
            alert_worker.lifespan(app),
        ):
            yield
    finally:
        if index is not None:
            await index.stop()
        if projector is not None:
            await projector.stop()
            if app.state.graph_owned:
                await app.state.graph_engine.graph.close()
        await app.state.stream_hub.stop()
        await app.state.http.aclose()
        await engine.dispose()
        if embedded is not None and app.state.stop_embedded_on_exit:
            await asyncio.to_thread(embedded.release)


def _graph_engine(app: FastAPI, settings: Settings) -> Projector | None:
    """The Bolt engine and its projector, when a graph server is configured (or given)."""
    graph: BoltGraph | None = app.state.graph_override
    app.state.graph_owned = graph is None
    if graph is None and settings.graph_url:
        auth = (settings.graph_user, settings.graph_password) if settings.graph_password else None
        graph = BoltGraph.connect(settings.graph_url, auth, dialect=settings.graph_dialect)
    if graph is None:
        app.state.graph_engine = None
        return None
    app.state.graph_engine = BoltEngine(graph)
    projector = Projector(app.state.sessionmaker, graph, settings.graph_projection_interval_seconds)
    projector.start()
    return projector


async def _lineage_index(app: FastAPI, settings: Settings) -> IndexEngine | None:
    """The in-memory lineage index, the graph engine when there is no graph server: built in
    the background; start-up waits for it a bounded time (PostgreSQL answers until it is)."""
    if app.state.graph_engine is not None or not settings.lineage_index:
        return None
    index = IndexEngine(app.state.sessionmaker, settings.lineage_index_max_lag)
    app.state.graph_engine = index
    app.state.stream_hub.on_notify(index.wake)  # catch-up pushed by the LISTEN connection
    built = index.start_build()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(built), settings.lineage_index_startup_wait_seconds)
    return index


def _pool_stats(engine: Any) -> dict[str, int]:
    pool = engine.sync_engine.pool
    return {
        "size": pool.size(),
        "checked_out": pool.checkedout(),
        "overflow": pool.overflow(),
        "checked_in": pool.checkedin(),
    }


def create_app(
    settings: Settings | None = None,
    *,
    migrate_on_start: bool | None = None,
    stop_embedded_on_exit: bool = False,
    graph: BoltGraph | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    configure_tracing(settings)
    app = FastAPI(
        title="DataMesh",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url=None,  # served by _mount_docs, with Swagger UI from this server
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.migrate_on_start = (
        settings.migrate_on_start if migrate_on_start is None else migrate_on_start
    )
    app.state.stop_embedded_on_exit = stop_embedded_on_exit
    app.state.graph_override = graph
    app.state.metrics = Metrics()
    app.state.auth_cache = AuthCache(settings.auth_cache_seconds)
    app.state.metrics.bind_auth_cache(app.state.auth_cache.counts)
    app.state.clock = sla_evaluator.system_clock  # tests replace it to move time

    install_error_handlers(app)
    for router in (system_router, auth_router, users_router, orgs_router, catalog_router):
        app.include_router(router)
    app.include_router(connectors_router)
    app.include_router(connect_router)
    app.include_router(feed_router)
    app.include_router(lineage_router)
    app.include_router(dbt_router)
    app.include_router(monitoring_router)
    app.include_router(audit_router)
    app.include_router(dashboards_router)
    app.include_router(alerts_router)

    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        form_paths=("/api/dbt/import",),  # multipart artifacts; checked by the dbt importer
        nul_checked_by_route=("/api/v1/lineage/batch",),  # one bad event must not sink a batch
    )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestContextMiddleware)
    if settings.trusted_proxies:
        # Outermost: the client address every later layer sees (throttling, audit, logs) is the
        # one the trusted proxy reports; from any other peer X-Forwarded-* are ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # One span per request; not two more per request for ASGI receive and send (tracing was
    # a tenth of a small read's CPU: BENCHMARKS.md, "Hot paths").
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="/metrics,/api/health", exclude_spans=["receive", "send"]
    )
    _mount_docs(app)
    _mount_spa(app)
    _document_problems(app)
    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs. Its script and stylesheet come from the web build
    (web/vite.config.ts copies the pinned npm package), not from a CDN: the page works on a
    machine without internet access, and the browser loads nothing from elsewhere."""
    if (STATIC_DIR / "swagger").is_dir():
        app.mount("/swagger", StaticFiles(directory=STATIC_DIR / "swagger"), name="swagger")

    @app.get("/api/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/api/openapi.json",
            title="DataMesh API",
            swagger_js_url="/swagger/swagger-ui-bundle.js",
            swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/favicon.svg",
        )


def _document_problems(app: FastAPI) -> None:
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_openapi(plain())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_spa(app: FastAPI) -> None:
    """Serve the built web UI: its assets, and index.html for any other non-API GET path."""
    if (STATIC_DIR / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=STATIC_DIR / "assets"), name="assets")
    app.state.spa_index = STATIC_DIR / "index.html"
