"""/api/dbt/import: a dbt project's artifacts (manifest, optional catalog and run results)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from datamesh.auth.deps import CurrentUser
from datamesh.deps import SessionDep
from datamesh.lineage import dbt
from datamesh.lineage.schemas import DbtImportResult

router = APIRouter(prefix="/api/dbt", tags=["lineage"])

NAMESPACE_PATTERN = r"^[a-z][a-z0-9+.-]*://\S+$"


async def _read(upload: UploadFile | None) -> bytes | None:
    return None if upload is None else await upload.read()


@router.post(
    "/import",
    response_model=DbtImportResult,
    responses={422: {"description": "An artifact is not valid JSON or not a v10+ manifest."}},
)
async def import_dbt(
    principal: CurrentUser,
    session: SessionDep,
    manifest: Annotated[UploadFile, File(description="target/manifest.json (v10+).")],
    namespace: Annotated[
        str,
        Form(
            max_length=500,
            pattern=NAMESPACE_PATTERN,
            description="Where the tables live, e.g. postgres://db.internal:5432.",
        ),
    ],
    catalog: Annotated[
        UploadFile | None, File(description="target/catalog.json: column types.")
    ] = None,
    run_results: Annotated[
        UploadFile | None, File(description="target/run_results.json: runs.")
    ] = None,
    job_namespace: Annotated[
        str, Form(max_length=500, description="Namespace of the model processes.")
    ] = "dbt",
) -> DbtImportResult:
    """Import dbt artifacts: datasets, model processes, lineage and runs (producers and up)."""
    parsed_manifest = dbt.load("manifest", await _read(manifest))
    assert parsed_manifest is not None
    out = await dbt.import_artifacts(
        session,
        principal,
        manifest=parsed_manifest,
        catalog_json=dbt.load("catalog", await _read(catalog)),
        run_results=dbt.load("run_results", await _read(run_results)),
        namespace=namespace,
        job_namespace=job_namespace,
    )
    return DbtImportResult.model_validate(out, from_attributes=True)
