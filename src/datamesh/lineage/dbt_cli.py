"""``datamesh dbt import``: a self-contained Typer sub-app (cli.py adds it as ``dbt``)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer

dbt_app = typer.Typer(help="dbt projects.", no_args_is_help=True)

ARTIFACTS = ("manifest", "catalog", "run_results")


@dbt_app.command("import")
def dbt_import(
    target_dir: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, help="The dbt target directory (with manifest.json)."
        ),
    ],
    org: Annotated[str, typer.Option(help="Organization that owns new datasets and processes.")],
    namespace: Annotated[
        str, typer.Option(help="Where the tables live, e.g. postgres://db.internal:5432.")
    ],
    job_namespace: Annotated[str, typer.Option(help="Namespace of the model processes.")] = "dbt",
) -> None:
    """Import a dbt project's artifacts (idempotent): models, seeds, snapshots and sources
    become datasets; models become processes with lineage; run_results.json gives runs."""
    from tqdm import tqdm

    from datamesh import migrate
    from datamesh.auth.principal import Principal
    from datamesh.config import get_settings
    from datamesh.db import make_engine, make_sessionmaker, resolve_database_url, session_scope
    from datamesh.errors import AppError
    from datamesh.kit.context import Actor
    from datamesh.lineage import dbt
    from datamesh.orgs import service as orgs

    files = {a: target_dir / f"{a}.json" for a in ARTIFACTS}
    if not files["manifest"].is_file():
        typer.echo(f"{files['manifest']} does not exist: run dbt (compile, run or build) first.")
        raise typer.Exit(2)
    try:
        parsed = {
            a: dbt.load(a, path.read_bytes() if path.is_file() else None)
            for a, path in files.items()
        }
        manifest = parsed["manifest"]
        assert manifest is not None
        dbt.manifest_version(manifest)
    except AppError as exc:
        typer.echo(exc.detail)
        raise typer.Exit(2) from None
    settings = get_settings()
    url, _ = resolve_database_url(settings)
    migrate.upgrade(url)

    async def _run() -> dbt.ImportOutcome:
        engine = make_engine(url, settings)
        try:
            maker = make_sessionmaker(engine)
            async with session_scope(maker) as session:
                org_id = (await orgs.get_or_create_by_name(session, org)).id
            who = Principal(
                kind="api_key", id=uuid.UUID(int=0), name="cli", org_id=org_id, role="producer"
            )
            with tqdm(unit="node", desc="dbt import", disable=None) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.n = done
                    bar.refresh()

                async with session_scope(maker) as session:
                    return await dbt.import_artifacts(
                        session,
                        who,
                        manifest=manifest,
                        catalog_json=parsed["catalog"],
                        run_results=parsed["run_results"],
                        namespace=namespace,
                        job_namespace=job_namespace,
                        actor=Actor.system("cli:dbt-import"),
                        progress=progress,
                    )
        finally:
            await engine.dispose()

    try:
        out = asyncio.run(_run())
    except AppError as exc:
        typer.echo(exc.detail)
        raise typer.Exit(2) from None
    for warning in out.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"{out.datasets} datasets ({out.created} new, {out.updated} updated, "
        f"{out.unchanged} unchanged), {out.processes} processes, {out.edges_added} new edges, "
        f"{out.runs} new runs ({out.failed_runs} failed)"
    )
