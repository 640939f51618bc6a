"""Logging (JSON lines with request and trace ids), tracing (OpenTelemetry) and metrics."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datamesh.config import Settings
from datamesh.kit.context import current_request, current_trace_id

_configured = False


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request().request_id
        record.trace_id = current_trace_id()
        return True


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_datamesh", False):
            root.removeHandler(h)
    handler = _StderrHandler()
    handler._datamesh = True  # type: ignore[attr-defined]
    if log_as_json(settings):
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:  # a person reads these: short lines, the time of day and the logger's last name
        handler.setFormatter(_ShortFormatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    handler.addFilter(_ContextFilter())
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # One line per request would bury what matters: the access log and httpx's line per
    # outbound request (the demo loader sends hundreds) only say something when it goes wrong.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_as_json(settings: Settings) -> bool:
    """JSON lines unless a person reads stderr (a terminal) or DATAMESH_LOG_FORMAT says text."""
    if settings.log_json is not None:
        return settings.log_json
    if settings.log_format != "auto":
        return settings.log_format == "json"
    return not sys.stderr.isatty()


class _StderrHandler(logging.StreamHandler[Any]):
    """Writes to whatever ``sys.stderr`` is at the time (as logging's last-resort handler), so
    a stream replaced and closed since configuration (a test runner's) breaks nothing."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _ShortFormatter(logging.Formatter):
    """``12:04:31 WARNING [datamesh.lineage] message``: the logger for warnings and errors only."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        where = f"[{record.name}] " if record.levelno >= logging.WARNING else ""
        return f"{record.asctime} {record.levelname:<7} {where}{record.message}"


def configure_tracing(settings: Settings) -> None:
    """A tracer provider always (so requests have trace ids); OTLP export only if configured."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint))
        )
    trace.set_tracer_provider(provider)
    # Process-wide, once: outbound HTTP calls become child spans; database queries too, but
    # only when spans are exported: a span per query costs the hot read paths several per cent
    # of their CPU (BENCHMARKS.md, "Hot paths") for spans nobody would see.
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    if settings.otlp_endpoint:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    HTTPXClientInstrumentor().instrument()
    _configured = True


class Metrics:
    """Prometheus metrics of one app instance (own registry, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "datamesh_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.in_flight = Gauge(
            "datamesh_http_requests_in_flight", "Requests being served", registry=self.registry
        )
        self.pool = Gauge(
            "datamesh_db_pool_connections",
            "Database pool connections",
            ["state"],
            registry=self.registry,
        )

    def bind_auth_cache(self, counts: dict[str, int]) -> None:
        """The auth cache's hits, misses and invalidations (auth/cache.py), read when scraped."""
        gauge = Gauge(
            "datamesh_auth_cache",
            "Authentication cache lookups and invalidations since start",
            ["outcome"],
            registry=self.registry,
        )

        def reader(outcome: str) -> Callable[[], float]:
            return lambda: float(counts[outcome])

        for outcome in counts:
            gauge.labels(outcome).set_function(reader(outcome))

    def bind_pool(self, stats: Callable[[], dict[str, int]]) -> None:
        def reader(state: str) -> Callable[[], float]:
            return lambda: float(stats().get(state, 0))

        for state in ("size", "checked_out", "overflow", "checked_in"):
            self.pool.labels(state).set_function(reader(state))


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, _send)
        finally:
            self.metrics.in_flight.dec()
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or (
                "/api/*" if scope["path"].startswith("/api") else "/*"
            )
            self.metrics.latency.labels(scope["method"], path, str(status["code"])).observe(
                time.perf_counter() - start
            )
