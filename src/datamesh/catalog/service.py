"""Catalog rules: publish, edit with optimistic concurrency, deprecate, search, import."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, Row, Select
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
from datamesh.kit.ids import uuid7
from datamesh.kit.pagination import decode_cursor, encode_cursor
from datamesh.kit.refs import Ref
from datamesh.models.catalog import Dataset
from datamesh.models.identity import User
from datamesh.orgs import service as orgs

_AUDITED = (
    "display_name",
    "description",
    "platform",
    "domain",
    "tags",
    "owners",
    "named_owners",
    "visibility",
    "status",
    "source",
    "fields",
)


@dataclass(slots=True)
class DatasetView:
    """A dataset with what its profile shows besides its own columns (the dataset is an ORM
    instance after a write, a row of ``repo.PROFILE_COLUMNS`` on the read path)."""

    dataset: Dataset | Row[Any]
    owners: Sequence[User | repo.OwnerRef]
    org_name: str
    follower_count: int
    following: bool


class DatasetRow(Protocol):
    """What :func:`ref` and the audit snapshot read: a :class:`Dataset`, or a row the bulk
    path got back from the database (``RETURNING``)."""

    id: uuid.UUID
    name: str
    display_name: str
    description: str
    platform: str
    domain: str | None
    tags: list[str]
    named_owners: list[str]
    visibility: str
    status: str
    node_id: uuid.UUID | None
    source_database: str | None
    source_schema: str | None
    source_table: str | None
    source_path: str | None
    fields: list[dict[str, Any]]
    kind: str | None
    properties: dict[str, Any]


def ref(ds: DatasetRow) -> Ref:
    return Ref("dataset", str(ds.id), ds.display_name or ds.name)


def etag(ds: Dataset | Row[Any]) -> str:
    return f'W/"{ds.id}:{ds.version}"'


def readable_clause(p: Principal | None, dataset: Any = Dataset) -> ColumnElement[bool]:
    return repo.readable(p, dataset)


def readable_viewer(p: Principal) -> tuple[uuid.UUID | None, bool]:
    """(the user whose ownership shows private datasets, admin/steward): with the org, what
    :func:`readable_clause` depends on, for :func:`readable_bound`."""
    return repo._owner_of(p), repo._elevated(p)


def readable_bound(dataset: Any, org: Any, user: Any, elevated: bool) -> ColumnElement[bool]:
    """:func:`readable_clause` with the org and the user as bound parameters (``user`` None when
    :func:`readable_viewer` gives none): a statement compiled once per viewer shape."""
    return repo._readable(dataset, org, user, elevated)


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


async def named_owners_of(
    session: AsyncSession, dataset_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Owners who are not users (named by OpenLineage ownership facets), per dataset."""
    return await repo.named_owners(session, dataset_ids)


def _snapshot(ds: DatasetRow, owner_ids: list[uuid.UUID]) -> dict[str, Any]:
    return {
        "display_name": ds.display_name,
        "description": ds.description,
        "platform": ds.platform,
        "domain": ds.domain,
        "tags": list(ds.tags or []),
        "owners": sorted(str(o) for o in owner_ids),
        "named_owners": list(ds.named_owners or []),
        "visibility": ds.visibility,
        "status": ds.status,
        "source": _source_dict(ds),
        "fields": list(ds.fields or []),
    }


def _source_dict(ds: DatasetRow) -> dict[str, Any]:
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
    """A readable dataset with its profile extras, in one query (the hot read path)."""
    found = await repo.get_with_extras(session, dataset_id, p)
    if found is None:
        raise NotFound("No such dataset.")
    ds, org_name, follower_count, following, owners = found
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
    if await repo.by_key(session, p.org_id, data.namespace, data.name):
        raise Conflict(
            f"A dataset {data.namespace} / {data.name} already exists.",
            errors=[field_error(["name"], "namespace and name must be unique in an organization")],
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
        description_source="person" if data.description else "",
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
    governed = {k for k in ("visibility", "status", "owners", "named_owners") if k in given}
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
    if "description" in given and ds.description != before["description"]:
        # A person's description wins over a documentation facet; clearing it hands it back.
        ds.description_source = "person" if ds.description else ""
    if "named_owners" in given:
        ds.named_owners = list(dict.fromkeys(data.named_owners or []))
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
    # One change, one event (one feed item): its type is the change's most telling part.
    payload: dict[str, Any] = {"fields": changed}
    if "visibility" in changes:
        payload |= {"before": changes["visibility"]["before"], "after": ds.visibility}
    await events.emit(
        session,
        _CHANGE_EVENTS[action],
        p.actor(),
        ref(ds),
        payload,
        org_id=ds.org_id,
    )
    return ds


_CHANGE_EVENTS = {
    "dataset.update": "dataset.updated",
    "dataset.visibility_change": "dataset.visibility_changed",
    "dataset.deprecate": "dataset.deprecated",
}


async def deprecate(
    session: AsyncSession, p: Principal, dataset_id: uuid.UUID, if_match: str | None
) -> Dataset:
    return await update(session, p, dataset_id, DatasetUpdate(status="deprecated"), if_match)


# -- search -------------------------------------------------------------------------------------
@dataclass(slots=True)
class SearchOutcome:
    items: list[tuple[Row[Any], float | None]]
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
    found = await repo.search(session, p, q)
    rows, names = found.rows, found.org_names
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
    labelled = {
        k: [(v, c, names.get(uuid.UUID(v)) if k == "org" else None) for v, c in vals]
        for k, vals in found.facets.items()
    }
    return SearchOutcome(
        rows, names, next_cursor, found.total, found.total_is_lower_bound, labelled
    )


# -- names: which dataset a (namespace, name) means ------------------------------------------------
Name = tuple[str, str]

_PLATFORMS = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "kafka": "kafka",
    "databricks": "databricks",
    "hive": "hive",
    "mysql": "mysql",
    "file": "file",
    "abfss": "azure",
    "wasbs": "azure",
    "dbfs": "databricks",
    "trino": "trino",
    "mssql": "sqlserver",
    "sqlserver": "sqlserver",
}


def platform_of(namespace: str) -> str:
    """The platform an OpenLineage namespace (``snowflake://acct``, ``postgres://host:5432``)
    names, for datasets created from a name alone."""
    scheme = (
        namespace.split("://", 1)[0].lower()
        if "://" in namespace
        else namespace.split(":", 1)[0].lower()
    )
    found = _PLATFORMS.get(scheme)
    if found:
        return found
    return scheme if re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", scheme) else "other"


@dataclass(slots=True)
class Resolution:
    """What a set of dataset names means for one sender."""

    ids: dict[Name, uuid.UUID] = field(default_factory=dict)
    """Every resolved name's dataset (all of them unless ``create=False``)."""
    foreign: set[uuid.UUID] = field(default_factory=set)
    """Those that are another org's (readable) datasets: lineage may read from them, but never
    describes them (no schema, description, owners or column lineage into them)."""
    created: dict[Name, uuid.UUID] = field(default_factory=dict)
    """Those created by this call, in the sender's org."""


async def resolve_names(
    session: AsyncSession,
    sender: Principal,
    names: Iterable[Name],
    *,
    written: Collection[Name] | bool = (),
    create: bool = True,
    origin: str = "lineage",
    fields: Mapping[Name, list[dict[str, Any]]] | None = None,
    content: Mapping[Name, Mapping[str, Any]] | None = None,
) -> Resolution:
    """THE rule for what a dataset name means in a write by ``sender`` (ADR 0005); a writer
    without a user (file import, crawler) passes :func:`system_sender`:

    1. the sender's org's own dataset of that name;
    2. else, for a name the sender only reads (not in ``written``), a dataset of another org
       the sender may read (``readable``: public, or shared with it), the oldest if several;
    3. else a new dataset in the sender's org (with the org's default visibility), unless
       ``create`` is False (the name is then left out of ``ids``).

    A dataset the sender may not read is never found, linked, written or revealed: the answer
    for a hidden name is the answer for an unknown one. ``written`` (names the write describes
    or produces: outputs, DatasetEvents, imported profiles, an edge's target; ``True`` for all)
    never resolve to another org's dataset. Set-based: one query for the whole batch, plus one
    insert (and the org's settings) when something is created. The caller audits the write.
    Every way lineage or datasets are written by name goes through here: OpenLineage ingestion,
    the lineage CRUD API, file import, crawlers, dbt import.

    ``content`` (a source's first word on a name, :func:`first_content`) is written into a row
    this call creates, so a new dataset is written once (what :func:`apply_observations` then
    reads back for its audit entry, see ``Observed.filled``); a name that exists is untouched.
    """
    if content and any(c.keys() - _CONTENT_COLUMNS for c in content.values()):
        raise ValueError("content names columns a first sight does not write")
    wanted = list(dict.fromkeys(names))
    out = Resolution()
    if not wanted:
        return out
    writes = set(wanted) if written is True else set(written or ())
    org_id = sender.org_id
    others: dict[Name, uuid.UUID] = {}
    for ns, name, ds_id, owner in await repo.named(session, sender, wanted):
        if owner == org_id:
            out.ids[(ns, name)] = ds_id
        else:
            others.setdefault((ns, name), ds_id)  # oldest first (UUIDv7 ids)
    for key in wanted:
        if key not in out.ids and key not in writes and key in others:
            out.ids[key] = others[key]
            out.foreign.add(others[key])
    missing = [k for k in wanted if k not in out.ids]
    if not missing or not create:
        return out
    visibility = (await orgs.org_settings(session, org_id)).default_visibility
    rows = [
        {
            "id": uuid7(),
            "org_id": org_id,
            "namespace": ns[:500],
            "name": name[:1000],
            "platform": platform_of(ns),
            "visibility": visibility,
            "origin": origin,
            "fields": (fields or {}).get((ns, name), []),
            "display_name": "",
            "description": "",
            "tags": [],
            "status": "active",
            "version": 1,
            **(_UNSET_CONTENT if content else {}),
            **(content or {}).get((ns, name), {}),
        }
        for ns, name in sorted(missing)  # one lock order for concurrent batches: no deadlocks
    ]
    # Keyed by the names asked for (a stored name is cut to the column's length).
    asked = {(ns[:500], name[:1000]): (ns, name) for ns, name in missing}
    created = await repo.insert_named(session, rows)
    out.created = {asked.get(k, k): ds_id for k, ds_id in created.items()}
    out.ids |= out.created
    raced = [k for k in missing if k not in out.ids]
    if raced:  # created by a concurrent writer of the same org in the meantime
        again = await repo.own_named(session, org_id, [(ns[:500], n[:1000]) for ns, n in raced])
        out.ids |= {asked.get(k, k): ds_id for k, ds_id in again.items()}
    return out


# The columns of a new row a source's first word (:func:`first_content`) writes, beyond those
# every new row names; a row without content names them too (one insert, the same columns).
_UNSET_CONTENT: dict[str, Any] = {
    "kind": None,
    "properties": {},
    "node_id": None,
    "source_database": None,
    "source_schema": None,
    "source_table": None,
    "created_by": None,
}
_CONTENT_COLUMNS = {"description", "platform", "origin", "fields", "tags", *_UNSET_CONTENT}


def system_sender(org_id: uuid.UUID, name: str = "system") -> Principal:
    """A writer without a user (file import, crawler, dbt import) as :func:`resolve_names`
    sees it: a producer of its org with no user, so of other orgs it may use public datasets."""
    return Principal(kind="api_key", id=uuid.UUID(int=0), name=name, org_id=org_id, role="producer")


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
    """Create or update the org's own dataset of this (namespace, name); returns (dataset,
    created). Writing a profile is writing the dataset, so the name resolves as a written name
    does (:func:`resolve_names`): to the org's own dataset, else a new one in the org — never to
    another org's, whether it may be read or not."""
    name = (data.namespace, data.name)
    resolved = await resolve_names(
        session, system_sender(org_id), [name], written=True, create=False
    )
    existing = await repo.by_id(session, resolved.ids[name]) if name in resolved.ids else None
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
            description_source="person" if data.description else "",
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
    before = _snapshot(existing, [])
    for key in ("display_name", "description", "platform", "domain", "tags", "visibility"):
        setattr(existing, key, getattr(data, key))
    if existing.description != before["description"]:
        existing.description_source = "person" if existing.description else ""
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
                    "kind",
                    "properties",
                    "created_at",
                    "updated_at",
                    "created_by",
                    "updated_by",
                    "version",
                )
            },
            "owners": [{"id": u.id, "name": u.name, "email": u.email} for u in v.owners],
            "named_owners": list(ds.named_owners or []),
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


# -- ingestion: what a crawl or a dbt import observed -------------------------------------------
@dataclass(slots=True)
class Observed:
    """A dataset as a source describes it. ``description`` and field ``comment`` are the
    source's own text: they become the description unless a person has written another one."""

    dataset_id: uuid.UUID
    created: bool
    platform: str
    kind: str | None
    description: str
    # {name, type, nullable?, default?, position?, comment}
    fields: list[dict[str, Any]]
    properties: dict[str, Any]
    node_id: uuid.UUID | None = None
    database: str | None = None
    schema: str | None = None
    table: str | None = None
    tags: list[str] = field(default_factory=list)
    owners: list[uuid.UUID] = field(default_factory=list)
    # Created (``created``) with its content already in it: ``resolve_names(content=...)`` wrote
    # :func:`first_content` of this observation (a first crawl writes each new row once).
    filled: bool = False


@dataclass(slots=True)
class ObserveOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    schema_changed: int = 0


# Changes of these alone (by less than this share) do not count as a change: live tables move.
_STATS = ("row_estimate", "size_bytes")
_STATS_TOLERANCE = 0.1
_INT_WIDTHS = {"smallint": 1, "integer": 2, "bigint": 3}
_SIZED = re.compile(
    r"^(character varying|varchar|character|char|numeric|decimal|bit varying)"
    r"(?:\((\d+)(?:,\s*(\d+))?\))?$"
)


def _widens(before: str, after: str) -> bool:
    """Whether a column type change keeps every value readable (not a narrowing)."""
    b, a = before.strip().lower(), after.strip().lower()
    if b == a or (a == "text" and (b.startswith(("character varying", "varchar", "character")))):
        return True
    if b in _INT_WIDTHS and a in _INT_WIDTHS:
        return _INT_WIDTHS[a] >= _INT_WIDTHS[b]
    if (b in _INT_WIDTHS and a.startswith("numeric")) or (b, a) == ("real", "double precision"):
        return True
    mb, ma = _SIZED.match(b), _SIZED.match(a)
    if mb and ma and mb.group(1) == ma.group(1):
        if ma.group(2) is None:
            return True  # unbounded
        if mb.group(2) is None:
            return False
        if int(ma.group(2)) < int(mb.group(2)):
            return False
        return int(ma.group(3) or 0) >= int(mb.group(3) or 0)
    return False


def schema_diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    """Added, dropped and type-changed columns; ``breaking`` if a column was dropped or
    narrowed. Empty when the columns are the same."""
    old = {f["name"]: f for f in before}
    new = {f["name"]: f for f in after}
    added = [n for n in new if n not in old]
    dropped = [n for n in old if n not in new]
    changed = [
        {"name": n, "before": old[n].get("type", ""), "after": new[n].get("type", "")}
        for n in new
        if n in old and (old[n].get("type") or "") != (new[n].get("type") or "")
    ]
    nullability = [
        {"name": n, "before": old[n].get("nullable"), "after": new[n].get("nullable")}
        for n in new
        if n in old
        and old[n].get("nullable") is not None
        and old[n].get("nullable") != new[n].get("nullable")
    ]
    if not (added or dropped or changed or nullability):
        return {}
    return {
        "added": added,
        "dropped": dropped,
        "type_changed": changed,
        "nullability_changed": nullability,
        "breaking": bool(dropped) or any(not _widens(c["before"], c["after"]) for c in changed),
    }


def _merged_fields(
    known: list[dict[str, Any]], observed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The source's columns, keeping what people wrote: a description that is not the source's
    previous comment, and tags."""
    prior = {f["name"]: f for f in known}
    out = []
    for f in observed:
        prev = prior.get(f["name"], {})
        comment = f.get("comment") or ""
        written = prev.get("description") or ""
        keep = written and written != (prev.get("comment") or "")
        merged = {
            "name": f["name"],
            "type": f.get("type") or "",
            "description": written if keep else comment,
            "tags": list(prev.get("tags") or []),
            "comment": comment,
        }
        for extra in ("nullable", "default", "position"):
            if f.get(extra) is not None:
                merged[extra] = f[extra]
        out.append(merged)
    return out


def _described_fields(
    known: list[dict[str, Any]], observed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Known columns with an empty description filled from this source's text."""
    text = {str(f["name"]).lower(): f.get("comment") or "" for f in observed}
    return [
        {**f, "description": text.get(str(f["name"]).lower(), "")}
        if not f.get("description") and text.get(str(f["name"]).lower())
        else f
        for f in known
    ]


def _stats_moved(before: dict[str, Any], after: dict[str, Any]) -> bool:
    for key in _STATS:
        b, a = before.get(key), after.get(key)
        if (b is None) != (a is None):
            return True
        if b is not None and a is not None and abs(a - b) > _STATS_TOLERANCE * max(abs(b), 1):
            return True
    return False


def _same_properties(before: dict[str, Any], after: dict[str, Any]) -> bool:
    strip = {k: v for k, v in before.items() if k not in _STATS}
    return strip == {k: v for k, v in after.items() if k not in _STATS} and not _stats_moved(
        before, after
    )


async def _maybe_audit(enabled: bool, *args: Any, **kw: Any) -> None:
    if enabled:
        await audit.record(*args, **kw)


async def apply_observations(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    observed: list[Observed],
    *,
    origin: str,
    source_id: uuid.UUID | None,
    downstream: Callable[[uuid.UUID], Awaitable[int]],
    audit_each: bool = True,
) -> ObserveOutcome:
    """Write what a source says about datasets of ``org_id`` (ids already resolved).

    A dataset whose description, columns, kind, keys, tags or status would not change is not
    written at all (no audit entry, no event). A changed column list makes a schema version and
    a ``dataset.schema_changed`` event (breaking or not, with the downstream count); a dataset
    seen again after being removed is restored.
    """
    out = ObserveOutcome()
    by_id = {o.dataset_id: o for o in observed if not o.created}
    fresh = list({o.dataset_id: o for o in observed if o.created}.values())
    versions: list[dict[str, Any]] = []
    # (event type, subject, payload, dataset whose downstream count the payload carries)
    emits: list[tuple[str, Ref, dict[str, Any], uuid.UUID | None]] = []
    out.created = await _first_sight(
        session, actor, org_id, fresh, origin, source_id, audit_each, versions, emits
    )
    rows = await repo.lock_many(session, list(by_id))
    latest = await repo.latest_schema_versions(session, [d.id for d in rows])
    owners = await repo.owners(session, [d.id for d in rows if by_id[d.id].owners])
    for ds in rows:
        obs = by_id[ds.id]
        if ds.org_id != org_id:
            out.unchanged += 1
            continue
        owner_ids = [u.id for u in owners.get(ds.id, [])]
        before, old_fields, fields, restored, new_owners = _observe_row(ds, obs, owner_ids, origin)
        if new_owners:
            await repo.set_owners(session, ds.id, [*owner_ids, *new_owners])
        after = _observed_after(ds, [*owner_ids, *new_owners])
        changes = audit.diff(before, after)
        if not changes:
            out.unchanged += 1
            continue
        out.updated += 1
        diff = schema_diff(old_fields, fields)
        ds.version += 1
        ds.updated_at = datetime.now(UTC)
        await _maybe_audit(
            audit_each,
            session,
            actor,
            "dataset.update",
            ref(ds),
            changes,
            org_id=org_id,
            details={"origin": origin, "source_id": str(source_id) if source_id else None},
        )
        emits.append(
            (
                "dataset.restored" if restored else "dataset.updated",
                ref(ds),
                {"fields": sorted(changes), "origin": origin},
                None,
            )
        )
        if diff:
            out.schema_changed += 1
            number = latest.get(ds.id, 0) + 1
            versions.append(_version_row(ds.id, number, fields, diff, origin, source_id))
            emits.append(
                (
                    "dataset.schema_changed",
                    ref(ds),
                    {
                        "schema_version": number,
                        "added": diff["added"],
                        "dropped": diff["dropped"],
                        "type_changed": diff["type_changed"],
                        "breaking": diff["breaking"],
                        "origin": origin,
                        "source_id": str(source_id) if source_id else None,
                    },
                    ds.id,
                )
            )
    # One flush for every changed row, then the events (in order; counts see the new rows).
    await session.flush()
    await repo.add_schema_versions(session, versions)
    for _, _, payload, impact_of in emits:
        if impact_of is not None:
            payload["downstream_count"] = await downstream(impact_of)
    await events.emit_many(
        session,
        actor,
        [(kind, subject, payload) for kind, subject, payload, _ in emits],
        org_id=org_id,
    )
    return out


def _observe_row(
    ds: Any, obs: Observed, owner_ids: list[uuid.UUID], origin: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], bool, list[uuid.UUID]]:
    """Apply ``obs`` to ``ds`` in memory (a :class:`Dataset`, or a plain copy of its row when
    only asking whether anything would change): (before, old fields, fields, restored, new
    owners). One rule for :func:`apply_observations` and :func:`changing_observations`."""
    before = {**_snapshot(ds, owner_ids), "kind": ds.kind, "properties": dict(ds.properties)}
    old_fields = list(ds.fields or [])
    crawled_elsewhere = obs.node_id is None and ds.node_id is not None
    if crawled_elsewhere:
        # The database itself (a crawl) says what the columns are; this source adds text.
        fields = _described_fields(old_fields, obs.fields)
    else:
        fields = _merged_fields(old_fields, obs.fields)
    props = dict(ds.properties or {})
    comment_key = f"comment.{origin}"
    known_comments = {str(v) for k, v in props.items() if k.startswith("comment.")}
    if obs.description and (not ds.description or ds.description in known_comments):
        ds.description = obs.description
    elif not obs.description and ds.description and ds.description == props.get(comment_key):
        ds.description = ""  # the source dropped its comment
    properties = {**props, **obs.properties, comment_key: obs.description}
    if not crawled_elsewhere:
        ds.kind = obs.kind or ds.kind
    if _same_properties(props, properties):
        properties = props
    ds.properties = properties
    ds.fields = fields
    if obs.tags:
        ds.tags = list(dict.fromkeys([*(ds.tags or []), *obs.tags]))
    if obs.node_id is not None:
        ds.node_id = obs.node_id
    ds.source_database = obs.database or ds.source_database
    ds.source_schema = obs.schema or ds.source_schema
    ds.source_table = obs.table or ds.source_table
    restored = ds.status == "removed"
    if restored:
        ds.status = "active"
    new_owners = [o for o in obs.owners if o not in owner_ids]
    return before, old_fields, fields, restored, new_owners


def _observed_after(ds: Any, owner_ids: list[uuid.UUID]) -> dict[str, Any]:
    return {**_snapshot(ds, owner_ids), "kind": ds.kind, "properties": dict(ds.properties)}


async def changing_observations(
    session: AsyncSession, org_id: uuid.UUID, observed: list[Observed], *, origin: str
) -> tuple[list[Observed], int]:
    """The observations :func:`apply_observations` may write, and how many would change nothing.

    Compared against plain rows (no lock, no ORM instance), so a re-crawl of an unchanged
    database costs one read. Nothing is lost by not locking here: a row that looks changed is
    locked and compared again by :func:`apply_observations` before anything is written, and a
    row that looks unchanged is one the source has nothing to write to (a writer committing
    after this read changes it after the crawl, as if the crawl had locked first).
    """
    existing = [o for o in observed if not o.created]
    rows = await repo.peek_many(session, [o.dataset_id for o in existing])
    owners = await repo.owners(session, [o.dataset_id for o in existing if o.owners])
    keep = [o for o in observed if o.created]
    same = 0
    for obs in existing:
        row = rows.get(obs.dataset_id)
        if row is None:
            keep.append(obs)
            continue
        if row.org_id != org_id:
            same += 1
            continue
        ds = SimpleNamespace(**row._asdict())
        owner_ids = [u.id for u in owners.get(obs.dataset_id, [])]
        before, _, _, _, new_owners = _observe_row(ds, obs, owner_ids, origin)
        if new_owners or audit.diff(before, _observed_after(ds, owner_ids)):
            keep.append(obs)
        else:
            same += 1
    return keep, same


def _first_row(obs: Observed, origin: str, actor: Actor) -> dict[str, Any]:
    return {"id": obs.dataset_id, **first_content(obs, origin, actor)}


def first_content(obs: Observed, origin: str, actor: Actor) -> dict[str, Any]:
    """What a source's first word about a dataset makes of a new row (blank: no description,
    columns, properties or tags yet) — the outcome :func:`apply_observations` gives an existing
    row, from a blank start. Written into the row :func:`resolve_names` creates (``content``),
    or afterwards by :func:`apply_observations` (``Observed.filled`` False)."""
    return {
        "description": obs.description,
        "platform": obs.platform,
        "origin": origin,
        "kind": obs.kind,
        "properties": {**obs.properties, f"comment.{origin}": obs.description},
        "fields": _merged_fields([], obs.fields),
        "tags": list(dict.fromkeys(obs.tags)),
        "node_id": obs.node_id,
        "source_database": obs.database,
        "source_schema": obs.schema,
        "source_table": obs.table,
        "created_by": actor.id if actor.kind == "user" else None,
    }


async def _first_sight(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    fresh: list[Observed],
    origin: str,
    source_id: uuid.UUID | None,
    audit_each: bool,
    versions: list[dict[str, Any]],
    emits: list[tuple[str, Ref, dict[str, Any], uuid.UUID | None]],
) -> int:
    """The bulk path for datasets a source has just created (a first crawl: thousands): their
    content in one statement (or, written with the row already, read back in one), owners in
    one, and the same audit entry, event and first schema version per dataset as every write,
    appended in one pass each (no ORM object per row)."""
    if not fresh:
        return 0
    blank = [_first_row(o, origin, actor) for o in fresh if not o.filled]
    rows = await repo.fill_created(session, org_id, blank)
    filled = [o.dataset_id for o in fresh if o.filled]
    if filled:
        rows = sorted([*rows, *await repo.created_rows(session, org_id, filled)], key=_by_id)
    owners = {o.dataset_id: list(dict.fromkeys(o.owners)) for o in fresh if o.owners}
    await repo.add_owners(session, owners)
    details = {"origin": origin, "source_id": str(source_id) if source_id else None}
    entries = []
    for row in rows:
        ds = cast(DatasetRow, row)
        after = {
            **_snapshot(ds, owners.get(ds.id, [])),
            "kind": ds.kind,
            "properties": ds.properties,
        }
        entries.append(("dataset.publish", ref(ds), audit.diff({}, after), details))
        emits.append(
            (
                "dataset.published",
                ref(ds),
                {"platform": ds.platform, "origin": origin, "kind": ds.kind},
                None,
            )
        )
        if ds.fields:
            versions.append(_version_row(ds.id, 1, ds.fields, {}, origin, source_id))
    if audit_each:
        await audit.record_many(session, actor, entries, org_id=org_id)
    return len(rows)


def _by_id(row: Any) -> uuid.UUID:
    return cast(uuid.UUID, row.id)


def _version_row(
    dataset_id: uuid.UUID,
    number: int,
    fields: list[dict[str, Any]],
    diff: dict[str, Any],
    origin: str,
    source_id: uuid.UUID | None,
) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "dataset_id": dataset_id,
        "version": number,
        "fields": fields,
        "diff": {k: v for k, v in diff.items() if k != "breaking"},
        "breaking": bool(diff.get("breaking")),
        "origin": origin,
        "source_id": source_id,
    }


async def mark_removed(
    session: AsyncSession,
    actor: Actor,
    org_id: uuid.UUID,
    *,
    node_id: uuid.UUID,
    namespace: str,
    database: str,
    schemas: list[str],
    seen: set[uuid.UUID],
    source_id: uuid.UUID | None,
) -> int:
    """Mark ``removed`` the datasets bound to these schemas of a node that a COMPLETE crawl did
    not see (kept with their history and lineage; hidden from default search)."""
    ids = await repo.bound_to_source(session, node_id, namespace, database, schemas)
    gone = [i for i in ids if i not in seen]
    count = 0
    for ds in await repo.lock_many(session, gone):
        if ds.org_id != org_id or ds.status == "removed":
            continue
        before = ds.status
        ds.status = "removed"
        ds.version += 1
        ds.updated_at = datetime.now(UTC)
        count += 1
        await session.flush()
        await audit.record(
            session,
            actor,
            "dataset.remove",
            ref(ds),
            {"status": {"before": before, "after": "removed"}},
            org_id=org_id,
            details={"source_id": str(source_id) if source_id else None},
        )
        await events.emit(
            session,
            "dataset.removed",
            actor,
            ref(ds),
            {"reason": "not found by a complete crawl", "source_id": str(source_id)},
            org_id=org_id,
        )
    return count


async def list_schema_versions(
    session: AsyncSession, p: Principal, dataset_id: uuid.UUID, limit: int = 50
) -> list[Any]:
    await get(session, p, dataset_id)
    return await repo.schema_versions(session, dataset_id, limit)
