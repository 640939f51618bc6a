"""Settings, read once from the environment (prefix ``DATAMESH_``) and an optional ``.env``."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

RoleName = Literal["admin", "steward", "producer", "viewer"]


class OIDCProviderSettings(BaseSettings):
    """One OpenID Connect provider found by discovery."""

    model_config = SettingsConfigDict(extra="forbid")

    name: str
    title: str = ""
    issuer: str
    client_id: str
    client_secret: str = ""
    scopes: list[str] = ["openid", "email", "profile"]
    # Mapping from the provider's users to an org and a role.
    default_org: str | None = None
    email_domains: dict[str, str] = {}  # "acme.com" -> org name
    groups_claim: str = "groups"
    group_roles: dict[str, RoleName] = {}  # group -> role
    default_role: RoleName = "viewer"
    allow_provisioning: bool = True
    jwks_min_refresh_seconds: float = 10.0
    clock_skew_seconds: int = 30


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DATAMESH_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    # Database: no URL -> the embedded PostgreSQL in data_dir.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATAMESH_DATABASE_URL", "DATABASE_URL")
    )
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("datamesh")))
    db_pool_size: int = 10
    db_max_overflow: int = 20
    db_connect_timeout: float = 5.0
    db_statement_timeout_ms: int = 30_000
    migrate_on_start: bool = True  # `datamesh serve` migrates once, then tells workers not to

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""  # e.g. https://datamesh.example.com; default http://host:port
    # `serve --workers N`: a worker that does not answer the supervisor's ping for this long is
    # killed and replaced (a dead one at once). uvicorn's 5 s replaces busy workers on a
    # saturated machine, cutting every stream they hold.
    worker_healthcheck_seconds: int = Field(default=30, ge=1, le=3600)
    max_body_bytes: int = 5 * 1024 * 1024
    cors_origins: list[str] = []

    # Security
    secret_key: str = ""  # signing key for access tokens; generated into data_dir if empty
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    cookie_secure: bool = False
    # Sign-in throttling (OWASP): per account, free failures then an exponential backoff
    # (base, doubled per further failure, capped); an account's failures are forgotten after a
    # quiet window. Per client address, a much higher limit against password spraying.
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=3600, ge=1)
    login_backoff_seconds: int = Field(default=15, ge=1)
    login_backoff_max_seconds: int = Field(default=900, ge=1)
    login_address_max_failures: int = Field(default=100, ge=1)
    login_address_window_seconds: int = Field(default=900, ge=1)
    # Reverse proxies (addresses or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are
    # believed; from anyone else those headers are ignored. JSON list or comma-separated.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    oidc_providers: list[OIDCProviderSettings] = []

    # Observability
    log_level: str = "INFO"
    # "auto": short human-readable lines on a terminal, JSON lines otherwise; "json" or "text"
    # to choose. log_json (older setting) wins when given.
    log_format: Literal["auto", "json", "text"] = "auto"
    log_json: bool | None = None
    otlp_endpoint: str | None = None
    service_name: str = "datamesh"

    # Secrets (Vault/OpenBao KV v2)
    vault_url: str | None = None
    vault_token: str | None = None
    vault_role_id: str | None = None
    vault_secret_id: str | None = None
    secret_cache_seconds: float = 30.0

    # Outbound calls made for users (test connection)
    outbound_timeout_seconds: float = 5.0
    outbound_denied_networks: list[str] = []
    outbound_allowed_networks: list[str] = []

    # Periodic health checks of nodes that have check_interval_seconds (background task)
    health_checks_enabled: bool = True
    health_check_poll_seconds: float = Field(default=5.0, gt=0)
    health_check_concurrency: int = Field(default=4, ge=1, le=64)
    # Crawls of nodes (queued by people or by crawl_interval_minutes; background workers)
    crawls_enabled: bool = True
    crawl_poll_seconds: float = Field(default=5.0, gt=0)
    crawl_concurrency: int = Field(default=2, ge=1, le=16)
    crawl_lease_seconds: int = Field(default=60, ge=2, le=3600)
    crawl_timeout_seconds: float = Field(default=120.0, gt=0)  # connect, and each statement

    # Lineage
    graph_url: str | None = None  # bolt://... -> graph engine
    graph_user: str = "neo4j"
    graph_password: str = ""
    graph_dialect: Literal["neo4j", "falkordb"] = "neo4j"
    graph_projection_interval_seconds: float = 1.0
    lineage_max_depth: int = 20
    lineage_max_nodes: int = 5000
    # The in-memory lineage index (lineage/index.py): the graph engine when no graph server is
    # set. Walks fall back to PostgreSQL while it builds or when it is more than max_lag events
    # behind the outbox; start-up waits for the first build up to the given seconds.
    # On by default: its catch-up keeps gaps like the outbox consumers (ADR 0011).
    lineage_index: bool = True
    lineage_index_max_lag: int = Field(default=10_000, ge=0)
    lineage_index_startup_wait_seconds: float = Field(default=10.0, ge=0)

    # Pipeline health: how often freshness SLAs are evaluated (background task; 0 = off)
    sla_check_interval_seconds: float = Field(default=30.0, ge=0)

    # Alerts: the outbox consumer and delivery workers (background tasks; off = neither runs)
    alerts_enabled: bool = True
    alert_poll_seconds: float = Field(default=1.0, gt=0)
    alert_concurrency: int = Field(default=64, ge=1, le=1024)  # deliveries a process sends at once
    # A sender leases up to factor x concurrency deliveries in one claim (at most max), and
    # claims again once fewer than ahead x concurrency of them are left to send (ADR 0010).
    alert_claim_factor: int = Field(default=4, ge=1, le=64)
    alert_claim_max: int = Field(default=64, ge=1, le=10_000)
    alert_claim_ahead: int = Field(default=1, ge=1, le=64)
    # First retry within this many seconds (with jitter), then doubling, for up to a day.
    alert_retry_base_seconds: float = Field(default=10.0, gt=0)
    alert_retry_max_age_seconds: float = Field(default=24 * 3600, gt=0)
    # Events within this long of one sent at once go out together at its end, as a digest.
    alert_digest_seconds: float = Field(default=60.0, ge=0)
    alert_impact_depth: int = Field(default=20, ge=1, le=100)
    # E-mail alerts: an SMTP server; the password is a secret reference (env:/file:/vault:)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str = "datamesh@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_ca_file: str | None = None  # CA bundle to verify the server's certificate (else system)

    # How long a process may reuse a session's or API key's principal without asking the
    # database (auth/cache.py; 0 turns the cache off). Changes reach every worker by NOTIFY
    # within milliseconds; this bounds the staleness should that channel fail unnoticed.
    auth_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    # SSE
    sse_max_streams: int = 2000
    sse_queue_size: int = 1000
    sse_heartbeat_seconds: float = 15.0
    sse_replay_limit: int = 1000

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = orjson.loads(v) if v.strip().startswith("[") else v.split(",")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, v: list[str]) -> list[str]:
        out = [item.strip() for item in v if item.strip()]
        for item in out:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return out

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, v: str | None) -> str | None:
        return normalise_database_url(v) if v else None

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use the asyncpg driver."""
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_for_tests(**overrides: Any) -> Settings:
    return Settings(**overrides)
