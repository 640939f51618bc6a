"""The ``datamesh`` command line (Typer)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Annotated

import typer

from datamesh import migrate
from datamesh.config import Settings, get_settings
from datamesh.db import resolve_database_url

app = typer.Typer(help="DataMesh: a self-hosted data catalog.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")


def _database_url(settings: Settings) -> str:
    url, _ = resolve_database_url(settings)
    return url


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Start the API and web UI (on the embedded PostgreSQL unless DATABASE_URL is set)."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    url, embedded = resolve_database_url(settings)
    started_here = embedded is not None
    migrate.upgrade(url)
    # Workers read the resolved URL, so they share the one embedded server.
    os.environ["DATAMESH_DATABASE_URL"] = url
    os.environ["DATAMESH_PUBLIC_URL"] = settings.public_url or f"http://{host}:{port}"
    typer.echo(
        f"DataMesh is running at http://{host}:{port}  (API docs: http://{host}:{port}/api/docs)"
    )
    try:
        uvicorn.run(
            "datamesh.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers if not reload else None,
            reload=reload,
            loop="uvloop",
            http="httptools",
            proxy_headers=True,
            timeout_graceful_shutdown=10,
            log_config=None,
        )
    finally:
        if started_here and embedded is not None:
            embedded.stop()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    url = _database_url(get_settings())
    migrate.upgrade(url, revision)
    typer.echo(f"database at {migrate.current_revision_sync(url)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision and the code's head."""
    url = _database_url(get_settings())
    current = migrate.current_revision_sync(url)
    head = migrate.head_revision()
    typer.echo(f"current: {current}\nhead:    {head}")
    if current != head:
        raise typer.Exit(1)


@app.command()
def openapi() -> None:
    """Print the OpenAPI document (JSON)."""
    from datamesh.app import create_app

    spec = create_app(get_settings()).openapi()
    sys.stdout.write(json.dumps(spec, indent=2) + "\n")


@audit_app.command("verify")
def audit_verify(
    since: Annotated[int | None, typer.Option(help="Start after this entry number.")] = None,
) -> None:
    """Recompute the audit hash chain; exit 1 naming the first altered, removed or moved entry."""
    from datamesh.audit.service import verify
    from datamesh.db import make_engine, make_sessionmaker

    settings = get_settings()
    url = _database_url(settings)

    async def _run() -> int:
        engine = make_engine(url, settings)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await verify(session, since)
        finally:
            await engine.dispose()
        if result.ok:
            typer.echo(f"audit log intact: {result.checked} entries verified")
            return 0
        typer.echo(
            f"audit log TAMPERED at entry #{result.first_bad_seq} (id {result.first_bad_id}): "
            f"{result.reason}",
            err=True,
        )
        return 1

    raise typer.Exit(asyncio.run(_run()))


if __name__ == "__main__":  # pragma: no cover
    app()
