"""Catalog rules: publish, edit with optimistic concurrency, deprecate, search, import."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.catalog import policies
from datamesh.catalog import repository as repo
from datamesh.catalog.schemas import Dataset as DatasetSchema
from datamesh.catalog.schemas import DatasetCreate, DatasetUpdate, FieldSpec, Source
from datamesh.errors import (
    BadGateway,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unprocessable,
    field_error,
)
from datamesh.events import service as events
from datamesh.kit.context import Actor
from datamesh.kit.pagination import decode_cursor, encode_cursor
from datamesh.kit.refs import Ref
from datamesh.models.catalog import Dataset
from datamesh.models.identity import User

_AUDITED = (
    "display_name",
    "description",
    "platform",
    "domain",
    "tags",
    "owners",
    "visibility",
    "status",
    "source",
    "fields",
)


@dataclass(slots=True)
class DatasetView:
    """A dataset with what its profile shows besides its own columns."""

    dataset: Dataset
    owners: list[User]
    org_name: str
    follower_count: int
    following: bool


def ref(ds: Dataset) -> Ref:
    return Ref("dataset", str(ds.id), ds.display_name or ds.name)


def etag(ds: Dataset) -> str:
    return f'W/"{ds.id}:{ds.version}"'


def readable_clause(p: Principal | None, dataset: Any = Dataset) -> ColumnElement[bool]:
    return repo.readable(p, dataset)


def readable_ids(p: Principal | None) -> Select[tuple[uuid.UUID]]:
    return repo.readable_ids(p)


async def visibility_info(
    session: AsyncSession, dataset_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, uuid.UUID, set[uuid.UUID]]]:
    return await repo.visibility_info(session, dataset_ids)


def can_read(
    p: Principal | None, visibility: str, org_id: uuid.UUID, owner_ids: set[uuid.UUID]
) -> bool:
    return policies.can_read(p, visibility, org_id, owner_ids)


async def owners_of(
    session: AsyncSession, dataset_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[User]]:
    return await repo.owners(session, dataset_ids)


async def followers_of(
    session: AsyncSession, dataset_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[User]]:
    return await repo.followers(session, dataset_ids)


def _snapshot(ds: Dataset, owner_ids: list[uuid.UUID]) -> dict[str, Any]:
    return {
        "display_name": ds.display_name,
        "description": ds.description,
        "platform": ds.platform,
        "domain": ds.domain,
        "tags": list(ds.tags or []),
        "owners": sorted(str(o) for o in owner_ids),
        "visibility": ds.visibility,
        "status": ds.status,
        "source": _source_dict(ds),
        "fields": list(ds.fields or []),
    }


def _source_dict(ds: Dataset) -> dict[str, Any]:
    return {
        "node_id": str(ds.node_id) if ds.node_id else None,
        "database": ds.source_database,
        "schema": ds.source_schema,
        "table": ds.source_table,
        "path": ds.source_path,
    }


def _apply_source(ds: Dataset, source: Source) -> None:
    ds.node_id = source.node_id
    ds.source_database = source.database
    ds.source_schema = source.schema_
    ds.source_table = source.table
    ds.source_path = source.path


def _fields(fields: list[FieldSpec]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for f in fields:
        if f.name in seen:
            raise Unprocessable(
                f"The field {f.name!r} is listed twice.",
                errors=[field_error(["fields"], "duplicate names")],
            )
        seen.add(f.name)
        out.append(f.model_dump())
    return out


async def _check_owners(session: AsyncSession, owner_ids: list[uuid.UUID]) -> None:
    known = await repo.existing_users(session, owner_ids)
    missing = [i for i, o in enumerate(owner_ids) if o not in known]
    if missing:
        raise Unprocessable(
            "Some owners are not active users.",
            errors=[field_error(["owners", i], "no such active user") for i in missing],
        )


async def get_view(
    session: AsyncSession, p: Principal | None, dataset_id: uuid.UUID
) -> DatasetView:
    """A readable dataset with its profile extras, in two queries (the hot read path)."""
    found = await repo.get_with_extras(session, dataset_id, p)
    if found is None:
        raise NotFound("No such dataset.")
    ds, org_name, follower_count, following = found
    owners = (await repo.owners(session, [ds.id])).get(ds.id, [])
    return DatasetView(ds, owners, org_name, follower_count, following)


async def view(session: AsyncSession, ds: Dataset, p: Principal | None) -> DatasetView:
    owners = (await repo.owners(session, [ds.id])).get(ds.id, [])
    orgs = await repo.org_names(session, [ds.org_id])
    return DatasetView(
        dataset=ds,
        owners=owners,
        org_name=orgs.get(ds.org_id, ""),
        follower_count=await repo.follower_count(session, ds.id),
        following=await repo.is_following(session, ds.id, p.user_id if p else None),
    )


# -- writes -------------------------------------------------------------------------------------
async def publish(session: AsyncSession, p: Principal, data: DatasetCreate) -> Dataset:
    if not policies.can_publish(p):
        raise Forbidden("Only producers and admins may publish datasets.")
    owner_ids = data.owners if data.owners is not None else ([p.user_id] if p.user_id else [])
    await _check_owners(session, owner_ids)
    if await repo.by_key(session, data.namespace, data.name):
        raise Conflict(
            f"A dataset {data.namespace} / {data.name} already exists.",
            errors=[field_error(["name"], "namespace and name must be unique together")],
        )
    ds = Dataset(
        org_id=p.org_id,
        namespace=data.namespace,
        name=data.name,
        display_name=data.display_name,
        description=data.description,
        platform=data.platform,
        domain=data.domain,
        tags=data.tags,
        visibility=data.visibility,
        fields=_fields(data.fields),
        created_by=p.user_id,
        updated_by=p.user_id,
        origin="manual",
    )
    _apply_source(ds, data.source)
    try:
        async with session.begin_nested():
            await repo.add(session, ds)
    except IntegrityError:
        raise Conflict(f"A dataset {data.namespace} / {data.name} already exists.") from None
    await repo.set_owners(session, ds.id, owner_ids)
    await repo.refresh(session, ds)
    await audit.record(
        session,
        p.actor(),
        "dataset.publish",
        ref(ds),
        audit.diff({}, _snapshot(ds, owner_ids)),
        org_id=ds.org_id,
    )
    await events.emit(
        session,
        "dataset.published",
        p.actor(),
        ref(ds),
        {
            "platform": ds.platform,
            "visibility": ds.visibility,
            "namespace": ds.namespace,
            "name": ds.name,
        },
        org_id=ds.org_id,
    )
    return ds


async def get(session: AsyncSession, p: Principal | None, dataset_id: uuid.UUID) -> Dataset:
    ds = await repo.get(session, dataset_id, p)
    if ds is None:
        raise NotFound("No such dataset.")
    return ds


async def update(
    session: AsyncSession,
    p: Principal,
    dataset_id: uuid.UUID,
    data: DatasetUpdate,
    if_match: str | None,
) -> Dataset:
    ds = await repo.get_for_update(session, dataset_id, p)
    if ds is None:
        raise NotFound("No such dataset.")
    if if_match is not None and if_match.strip() not in (etag(ds), "*"):
        raise PreconditionFailed(
            "The dataset changed since you read it; reload it and apply your change again.",
            headers={"ETag": etag(ds)},
        )
    owner_ids = [u.id for u in (await repo.owners(session, [ds.id])).get(ds.id, [])]
    owner_set = set(owner_ids)
    if not policies.can_edit(p, ds.org_id, owner_set):
        raise Forbidden("You may not edit this dataset.")
    given = data.model_dump(exclude_unset=True)
    governed = {k for k in ("visibility", "status", "owners") if k in given}
    if governed and not policies.can_govern(p, ds.org_id, owner_set):
        raise Forbidden(
            f"Only owners, admins and stewards may change {', '.join(sorted(governed))}."
        )
    for key in ("platform", "visibility", "status", "tags"):
        if key in given and given[key] is None:
            raise Unprocessable(
                f"{key} cannot be null.", errors=[field_error([key], "may not be null")]
            )

    before = _snapshot(ds, owner_ids)
    for key in (
        "display_name",
        "description",
        "platform",
        "domain",
        "tags",
        "visibility",
        "status",
    ):
        if key in given:
            setattr(
                ds, key, getattr(data, key) if key != "display_name" else (data.display_name or "")
            )
    if data.description is None and "description" in given:
        ds.description = ""
    if "source" in given:
        _apply_source(ds, data.source or Source())
    if "fields" in given:
        ds.fields = _fields(data.fields or [])
    if "owners" in given:
        owner_ids = list(dict.fromkeys(data.owners or []))
        await _check_owners(session, owner_ids)
        await repo.set_owners(session, ds.id, owner_ids)
    after = _snapshot(ds, owner_ids)
    changes = audit.diff(before, after)
    if not changes:
        return ds
    ds.version += 1
    ds.updated_at = datetime.now(UTC)
    ds.updated_by = p.user_id
    await session.flush()
    changed = sorted(changes)
    if "status" in changes and ds.status == "deprecated":
        action = "dataset.deprecate"
    elif "visibility" in changes:
        action = "dataset.visibility_change"
    else:
        action = "dataset.update"
    await audit.record(session, p.actor(), action, ref(ds), changes, org_id=ds.org_id)
    await events.emit(
        session, "dataset.updated", p.actor(), ref(ds), {"fields": changed}, org_id=ds.org_id
    )
    if "visibility" in changes:
        await events.emit(
            session,
            "dataset.visibility_changed",
            p.actor(),
            ref(ds),
            {"before": changes["visibility"]["before"], "after": ds.visibility},
            org_id=ds.org_id,
        )
    if "status" in changes and ds.status == "deprecated":
        await events.emit(session, "dataset.deprecated", p.actor(), ref(ds), {}, org_id=ds.org_id)
    return ds


async def deprecate(
    session: AsyncSession, p: Principal, dataset_id: uuid.UUID, if_match: str | None
) -> Dataset:
    return await update(session, p, dataset_id, DatasetUpdate(status="deprecated"), if_match)


# -- search -------------------------------------------------------------------------------------
@dataclass(slots=True)
class SearchOutcome:
    items: list[tuple[Dataset, float | None]]
    org_names: dict[uuid.UUID, str]
    next_cursor: str | None
    total: int
    total_is_lower_bound: bool
    facets: dict[str, list[tuple[str, int, str | None]]]


async def search(
    session: AsyncSession, p: Principal, q: repo.SearchQuery, cursor: str | None
) -> SearchOutcome:
    if "deprecated" in q.status and not policies.can_list_deprecated(p):
        raise Forbidden("Only admins and stewards may list deprecated datasets.")
    if q.sort == "relevance" and not q.text:
        q.sort = "updated"
    q.after = decode_cursor(cursor, 2)
    rows, total, capped, facets = await repo.search(session, p, q)
    next_cursor = None
    if len(rows) > q.limit:
        rows = rows[: q.limit]
        last, score = rows[-1]
        if q.sort == "relevance":
            key: list[Any] = [score, str(last.id)]
        elif q.sort == "name":
            key = [last.name.lower(), str(last.id)]
        else:
            key = [last.updated_at.isoformat(), str(last.id)]
        next_cursor = encode_cursor(key)
    org_ids = [uuid.UUID(v) for v, _ in facets.get("org", [])] + [r[0].org_id for r in rows]
    names = await repo.org_names(session, org_ids)
    labelled = {
        k: [(v, c, names.get(uuid.UUID(v)) if k == "org" else None) for v, c in vals]
        for k, vals in facets.items()
    }
    return SearchOutcome(rows, names, next_cursor, total, capped, labelled)


# -- bulk import and lineage --------------------------------------------------------------------
async def upsert(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    data: DatasetCreate,
    *,
    origin: str = "import",
    audit_each: bool = True,
) -> tuple[Dataset, bool]:
    """Create or update by (namespace, name); returns (dataset, created)."""
    existing = await repo.by_key(session, data.namespace, data.name)
    if existing is None:
        ds = Dataset(
            org_id=org_id,
            namespace=data.namespace,
            name=data.name,
            display_name=data.display_name,
            description=data.description,
            platform=data.platform,
            domain=data.domain,
            tags=data.tags,
            visibility=data.visibility,
            fields=_fields(data.fields),
            origin=origin,
            created_by=actor.id if actor.kind == "user" else None,
            updated_by=actor.id if actor.kind == "user" else None,
        )
        _apply_source(ds, data.source)
        await repo.add(session, ds)
        if data.owners:
            await _check_owners(session, data.owners)
            await repo.set_owners(session, ds.id, data.owners)
        if audit_each:
            await audit.record(
                session,
                actor,
                "dataset.publish",
                ref(ds),
                audit.diff({}, _snapshot(ds, data.owners or [])),
                org_id=org_id,
            )
        await events.emit(
            session,
            "dataset.published",
            actor,
            ref(ds),
            {"platform": ds.platform, "origin": origin},
            org_id=org_id,
        )
        return ds, True
    if existing.org_id != org_id:
        raise Conflict(f"{data.namespace} / {data.name} belongs to another organization.")
    before = _snapshot(existing, [])
    for key in ("display_name", "description", "platform", "domain", "tags", "visibility"):
        setattr(existing, key, getattr(data, key))
    if data.fields:
        existing.fields = _fields(data.fields)
    _apply_source(existing, data.source)
    changes = audit.diff(before, _snapshot(existing, []))
    changes.pop("owners", None)
    if changes:
        existing.version += 1
        existing.updated_at = datetime.now(UTC)
        await session.flush()
        if audit_each:
            await audit.record(
                session, actor, "dataset.update", ref(existing), changes, org_id=org_id
            )
        await events.emit(
            session,
            "dataset.updated",
            actor,
            ref(existing),
            {"fields": sorted(changes)},
            org_id=org_id,
        )
    return existing, False


def to_schema(v: DatasetView) -> DatasetSchema:
    ds = v.dataset
    return DatasetSchema.model_validate(
        {
            **{
                c: getattr(ds, c)
                for c in (
                    "id",
                    "namespace",
                    "name",
                    "display_name",
                    "description",
                    "platform",
                    "domain",
                    "tags",
                    "visibility",
                    "status",
                    "origin",
                    "created_at",
                    "updated_at",
                    "created_by",
                    "updated_by",
                    "version",
                )
            },
            "owners": [{"id": u.id, "name": u.name, "email": u.email} for u in v.owners],
            "org": {"id": ds.org_id, "name": v.org_name},
            "source": {
                "node_id": ds.node_id,
                "database": ds.source_database,
                "schema_": ds.source_schema,
                "table": ds.source_table,
                "path": ds.source_path,
            },
            "fields": ds.fields or [],
            "follower_count": v.follower_count,
            "following": v.following,
        }
    )


async def refresh_schema(
    session: AsyncSession, p: Principal, dataset_id: uuid.UUID, runtime: Any
) -> Dataset:
    """Read the table's columns from the PostgreSQL node the dataset is bound to and update the
    profile's fields (descriptions and tags written in DataMesh are kept for known columns)."""
    from datamesh.connectors import service as connectors

    ds = await get(session, p, dataset_id)
    owner_ids = {u.id for u in (await repo.owners(session, [ds.id])).get(ds.id, [])}
    if not policies.can_edit(p, ds.org_id, owner_ids):
        raise Forbidden("You may not edit this dataset.")
    if ds.node_id is None:
        raise Conflict("Bind the dataset to a PostgreSQL node first (source.node_id).")
    parts = ds.name.split(".")
    schema = ds.source_schema or (parts[-2] if len(parts) >= 2 else "public")
    table = ds.source_table or parts[-1]
    try:
        columns = await connectors.read_columns(session, runtime, p, ds.node_id, schema, table)
    except connectors.SchemaReadError as exc:
        raise BadGateway(f"Could not read the columns of {schema}.{table}: {exc}") from None
    if not columns:
        raise Conflict(f"{schema}.{table} has no columns on that server (does the table exist?).")
    ds = await repo.get_for_update(session, dataset_id, p) or ds
    known = {f["name"]: f for f in ds.fields or []}
    fields = [
        {
            "name": c["name"],
            "type": c["type"],
            "description": known.get(c["name"], {}).get("description") or c["description"],
            "tags": known.get(c["name"], {}).get("tags", []),
        }
        for c in columns
    ]
    changes = audit.diff({"fields": ds.fields or []}, {"fields": fields})
    if changes:
        ds.fields = fields
        ds.version += 1
        ds.updated_at = datetime.now(UTC)
        ds.updated_by = p.user_id
        await session.flush()
    await audit.record(
        session,
        p.actor(),
        "dataset.refresh",
        ref(ds),
        changes,
        org_id=ds.org_id,
        details={"node_id": str(ds.node_id), "table": f"{schema}.{table}", "columns": len(fields)},
    )
    await events.emit(
        session,
        "dataset.refreshed",
        p.actor(),
        ref(ds),
        {"columns": len(fields), "changed": bool(changes)},
        org_id=ds.org_id,
    )
    before = {name: f.get("type") for name, f in known.items()}
    after = {f["name"]: f["type"] for f in fields}
    if before != after:  # columns added, removed or retyped (not descriptions): alertable
        await events.emit(
            session,
            "dataset.schema_changed",
            p.actor(),
            ref(ds),
            {
                "added": sorted(after.keys() - before.keys()),
                "removed": sorted(before.keys() - after.keys()),
                "retyped": sorted(n for n in after.keys() & before.keys() if after[n] != before[n]),
            },
            org_id=ds.org_id,
        )
    return ds
