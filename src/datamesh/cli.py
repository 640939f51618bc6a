"""The ``datamesh`` command line (Typer)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh import migrate
from datamesh.config import Settings, get_settings
from datamesh.db import database_url, resolve_database_url
from datamesh.embedded_pg import EmbeddedUnavailable

T = TypeVar("T")

app = typer.Typer(help="DataMesh: a self-hosted data catalog.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit log.", no_args_is_help=True)
users_app = typer.Typer(help="Users.", no_args_is_help=True)
catalog_app = typer.Typer(help="Dataset catalog.", no_args_is_help=True)
lineage_app = typer.Typer(help="Lineage.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(catalog_app, name="catalog")
app.add_typer(lineage_app, name="lineage")


def _add_dbt() -> None:
    from datamesh.lineage.dbt_cli import dbt_app

    app.add_typer(dbt_app, name="dbt")


_add_dbt()


def run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of work against the database (migrated first), committing at the end."""
    from datamesh.db import make_engine, make_sessionmaker, session_scope

    with _database(settings) as url:
        migrate.upgrade(url)

        async def _run() -> T:
            engine = make_engine(url, settings)
            try:
                async with session_scope(make_sessionmaker(engine)) as session:
                    return await work(session)
            finally:
                await engine.dispose()

        return asyncio.run(_run())


@contextmanager
def _one_sentence_errors() -> Iterator[None]:
    """What the user must act on (no embedded database here, a data directory of another
    PostgreSQL version): one sentence on stderr and exit 2, not a traceback."""
    try:
        yield
    except EmbeddedUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """The database for one command; an embedded server is released when the command ends,
    so a command stops the server it started (unless another live process holds it)."""
    with _one_sentence_errors(), database_url(settings) as url:
        yield url


def _port_in_use(host: str, port: int) -> bool:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False  # uvicorn names the bad address itself
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(address)
        except OSError:
            return True
    return False


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
    if _port_in_use(host, port):
        typer.echo(
            f"error: port {port} on {host} is already in use: stop what uses it, or pick "
            "another port with --port (or DATAMESH_PORT).",
            err=True,
        )
        raise typer.Exit(1)
    with _one_sentence_errors():
        url, embedded = resolve_database_url(settings)
    # The server holds the embedded PostgreSQL while it runs, whoever started it, and releases
    # it at exit: stopped then unless another live process (a running command) holds it too.
    migrate.upgrade(url)
    # Workers read the resolved URL, so they share the one embedded server.
    os.environ["DATAMESH_DATABASE_URL"] = url
    os.environ["DATAMESH_MIGRATE_ON_START"] = "false"
    os.environ["DATAMESH_PUBLIC_URL"] = settings.public_url or f"http://{host}:{port}"
    get_settings.cache_clear()  # the app in this process reads them too (not only workers)
    typer.echo(
        f"DataMesh is running at http://{host}:{port}  (API docs: http://{host}:{port}/api/docs)"
    )
    # uvicorn drains connections on SIGTERM (live streams get a last `reconnect` event), then
    # re-raises the signal: end with a normal exit instead, so the `finally` below still stops
    # the embedded PostgreSQL and supervisors see status 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.run(
            "datamesh.cli:serve_app",
            factory=True,
            host=host,
            port=port,
            workers=workers if not reload else None,
            reload=reload,
            loop="uvloop",
            http="httptools",
            # The app believes X-Forwarded-* only from DATAMESH_TRUSTED_PROXIES (uvicorn's
            # own default would trust 127.0.0.1).
            proxy_headers=False,
            timeout_graceful_shutdown=10,
            timeout_worker_healthcheck=settings.worker_healthcheck_seconds,
            log_config=None,
        )
    finally:
        if embedded is not None:
            embedded.release()


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve_app() -> Any:
    """The app as ``serve`` runs it in each worker: ``create_app()``, frozen for the garbage
    collector once started.

    What start-up built (modules, the app, settings, pools, the lineage index) lives as long as
    the process, yet every full collection walked it (~250,000 objects with an empty catalog:
    ~145 ms per pass on the shared bench machine, BENCHMARKS.md), landing on whichever
    requests were running.
    ``gc.freeze`` sets those objects aside for good (their reference counts still free them);
    only ``serve`` does it, not tests or other commands. A crawl's own freeze composes with it
    (``connectors.crawls._older_objects_frozen`` puts this one back)."""
    from datamesh.app import create_app

    app = create_app()
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(started: Any) -> AsyncIterator[Any]:
        async with inner(started) as state:
            _freeze()
            later = asyncio.create_task(_freeze_when_indexed(started))
            try:
                yield state
            finally:
                later.cancel()

    app.router.lifespan_context = lifespan
    return app


def _freeze() -> None:
    gc.collect()  # garbage of start-up is freed, not frozen
    gc.freeze()
    logging.getLogger("datamesh.serve").info(
        "%d objects of start-up set aside from garbage collection", gc.get_freeze_count()
    )


async def _freeze_when_indexed(app: Any, poll_seconds: float = 1.0, polls: int = 600) -> None:
    """The lineage index is built in the background; start-up waits for it a bounded time.
    If it was not ready then, freeze again once it is (bounded: a failed build stays None)."""
    engine = getattr(app.state, "graph_engine", None)
    if getattr(engine, "index", True) is not None:
        return
    for _ in range(polls):
        await asyncio.sleep(poll_seconds)
        if engine.index is not None:  # type: ignore[union-attr]
            _freeze()
            return


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    with _database(get_settings()) as url:
        migrate.upgrade(url, revision)
        typer.echo(f"database at {migrate.current_revision_sync(url)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's current revision and the code's head."""
    with _database(get_settings()) as url:
        current = migrate.current_revision_sync(url)
    head = migrate.head_revision()
    typer.echo(f"current: {current}\nhead:    {head}")
    if current != head:
        typer.echo(
            "The database is not at the head revision: run `datamesh db upgrade` "
            "(`datamesh serve` also upgrades it when it starts).",
            err=True,
        )
        raise typer.Exit(1)


@app.command()
def openapi() -> None:
    """Print the OpenAPI document (JSON)."""
    from datamesh.app import create_app

    spec = create_app(get_settings()).openapi()
    sys.stdout.write(json.dumps(spec, indent=2) + "\n")


@app.command()
def demo() -> None:
    """Load the demo workspace (two orgs, a login per role, datasets, lineage); idempotent."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from datamesh import demo as demo_data
    from datamesh.app import create_app

    settings = get_settings()

    async def _run() -> None:
        app = create_app(settings, stop_embedded_on_exit=True)
        async with app.router.lifespan_context(app):
            # A progress bar on a terminal only (disable=None); messages go above it.
            steps = demo_data.steps()
            with (
                logging_redirect_tqdm(),
                tqdm(total=steps, desc="demo", unit="step", disable=None, leave=False) as bar,
            ):
                await demo_data.load(app, echo=bar.write, progress=bar.update)

    with _one_sentence_errors():
        asyncio.run(_run())
    print_logins()


def print_logins() -> None:
    from datamesh import demo as demo_data

    typer.echo(f"Demo logins (password for all: {demo_data.PASSWORD}):")
    for login in demo_data.LOGINS:
        extra = ", platform admin" if login.platform_admin else ""
        typer.echo(f"  {login.email:<22} {login.role} of {login.org}{extra}")


@audit_app.command("verify")
def audit_verify(
    since: Annotated[int | None, typer.Option(help="Start after this entry number.")] = None,
) -> None:
    """Recompute the audit hash chain; exit 1 naming the first altered, removed or moved entry."""
    from datamesh.audit.service import verify
    from datamesh.db import make_engine, make_sessionmaker

    settings = get_settings()

    async def _run(url: str) -> int:
        if await migrate.current_revision(url) is None:
            typer.echo("nothing to verify: this database has no audit log yet")
            return 0
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

    with _database(settings) as url:
        code = asyncio.run(_run(url))
    raise typer.Exit(code)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The user's email (their login).")],
    org: Annotated[str, typer.Option(help="Organization name; created if missing.")],
    password: Annotated[
        str | None,
        typer.Option(help="Password (omit for SSO-only users).", envvar="DATAMESH_USER_PASSWORD"),
    ] = None,
    role: Annotated[str, typer.Option(help="admin, steward, producer or viewer.")] = "viewer",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    platform_admin: Annotated[
        bool, typer.Option("--platform-admin", help="Manages all orgs.")
    ] = False,
) -> None:
    """Create a user (and their organization if it does not exist)."""
    from pydantic import ValidationError

    from datamesh.errors import AppError
    from datamesh.users import service as users
    from datamesh.users.schemas import UserCreate

    try:
        data = UserCreate(
            email=email,
            password=password,
            role=role,
            name=name,
            is_platform_admin=platform_admin,
        )
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", err=True)
        raise typer.Exit(2) from None

    async def work(session: AsyncSession) -> str:
        user = await users.create_user(session, None, data, org_name=org)
        return f"created {user.email} ({user.role}) in {org}"

    try:
        typer.echo(run_in_session(get_settings(), work))
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None


@catalog_app.command("import")
def catalog_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A .jsonl or .csv file.")
    ],
    org: Annotated[
        str, typer.Option(help="Organization that owns the datasets; created if missing.")
    ],
) -> None:
    """Upsert dataset profiles by namespace + name; bad lines are reported, good ones land."""
    from tqdm import tqdm

    from datamesh.catalog.importer import import_file, read_lines
    from datamesh.db import make_engine, make_sessionmaker

    settings = get_settings()
    total = sum(1 for _ in read_lines(file))

    async def _run(url: str) -> int:
        engine = make_engine(url, settings)
        try:
            with tqdm(total=total, unit="line", desc="import", disable=None) as bar:
                report = await import_file(
                    make_sessionmaker(engine), file, org, progress=bar.update
                )
        finally:
            await engine.dispose()
        for number, message in report.errors:
            typer.echo(f"line {number}: {message}", err=True)
        typer.echo(
            f"{report.created} created, {report.updated} updated, {len(report.errors)} failed"
        )
        return 1 if report.errors else 0

    with _database(settings) as url:
        migrate.upgrade(url)
        code = asyncio.run(_run(url))
    raise typer.Exit(code)


@lineage_app.command("import")
def lineage_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="OpenLineage events, one per line.")
    ],
    org: Annotated[str, typer.Option(help="Organization that owns new datasets and jobs.")],
    batch: Annotated[int, typer.Option(min=1, max=5000, help="Events per transaction.")] = 500,
) -> None:
    """Replay OpenLineage events from a file (idempotent); bad lines are reported."""
    import json
    import uuid

    from tqdm import tqdm

    from datamesh.auth.principal import Principal
    from datamesh.db import make_engine, make_sessionmaker
    from datamesh.kit.context import Actor
    from datamesh.lineage import ingest
    from datamesh.orgs import service as orgs

    settings = get_settings()
    lines = [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]

    async def _run(url: str) -> int:
        engine = make_engine(url, settings)
        failed = accepted = duplicates = 0
        try:
            maker = make_sessionmaker(engine)
            async with maker() as session:
                org_id = (await orgs.get_or_create_by_name(session, org)).id
                await session.commit()
            who = Principal(
                kind="api_key", id=uuid.UUID(int=0), name="cli", org_id=org_id, role="producer"
            )
            with tqdm(total=len(lines), unit="event", desc="lineage import", disable=None) as bar:
                for start in range(0, len(lines), batch):
                    chunk: list[object] = []
                    for n, line in enumerate(lines[start : start + batch], start=start + 1):
                        try:
                            chunk.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            typer.echo(f"line {n}: not JSON ({exc.msg})", err=True)
                            failed += 1
                    async with maker() as session:
                        out = await ingest.ingest(
                            session, who, chunk, actor=Actor.system("cli:lineage-import")
                        )
                        await session.commit()
                    for err in out.errors:
                        typer.echo(f"event {start + err['index'] + 1}: {err['detail']}", err=True)
                    failed += len(out.errors)
                    accepted += out.accepted
                    duplicates += out.duplicates
                    bar.update(len(lines[start : start + batch]))
        finally:
            await engine.dispose()
        typer.echo(f"{accepted} applied, {duplicates} already known, {failed} failed")
        return 1 if failed else 0

    with _database(settings) as url:
        migrate.upgrade(url)
        code = asyncio.run(_run(url))
    raise typer.Exit(code)


@lineage_app.command("reindex")
def lineage_reindex() -> None:
    """Rebuild the Bolt graph projection (DATAMESH_GRAPH_URL) from the database."""
    from tqdm import tqdm

    from datamesh.db import make_engine, make_sessionmaker
    from datamesh.lineage.bolt import BoltGraph
    from datamesh.lineage.projection import reindex

    settings = get_settings()
    if not settings.graph_url:
        typer.echo("error: set DATAMESH_GRAPH_URL (bolt://...) first", err=True)
        raise typer.Exit(2)

    async def _run(url: str) -> None:
        engine = make_engine(url, settings)
        auth = (settings.graph_user, settings.graph_password) if settings.graph_password else None
        graph = BoltGraph.connect(settings.graph_url or "", auth, dialect=settings.graph_dialect)
        try:
            with tqdm(unit="row", desc="reindex", disable=None) as bar:
                nodes, edges = await reindex(make_sessionmaker(engine), graph, bar.update)
        finally:
            await graph.close()
            await engine.dispose()
        typer.echo(f"projected {nodes} nodes and {edges} edges")

    with _database(settings) as url:
        asyncio.run(_run(url))


if __name__ == "__main__":  # pragma: no cover
    app()
