"""Platform profiles and Connect: rules, validation, audit and events.

A profile holds one user's (or, org-wide, one organization's) settings for a data platform and
secret *references*; its settings are validated with the JSON Schema of the connector type of
the same name (``connectors.registry``), so each platform has one schema.

Showing the code (``preview``) records nothing; a connect is the caller's act on the code
(copying or downloading an artifact, asking for a test, or asking the API for it) and is
audited each time, but one person's connects to one dataset within an hour are one feed item.

Connect renders the dataset's artifacts with the chosen profile, or the caller's default for the
dataset's platform, else the organization's default, else environment-variable placeholders.
It may also test the connection live, as node tests do (same runtime, resolver and outbound
policy): what the test needs is read first, the request's transaction is ended so no
connection or lock is held while the test waits on the network, and the ``dataset.connected``
event and the ``dataset.connect`` audit entry are written together in a new transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from datamesh.audit import service as audit
from datamesh.auth.principal import Principal
from datamesh.catalog import service as catalog
from datamesh.connect import policies, renderer
from datamesh.connect import repository as repo
from datamesh.connect.quoting import InvalidIdentifier
from datamesh.connect.renderer import DatasetSource, FieldInfo, ProfileInfo
from datamesh.connect.schemas import (
    Artifact,
    ConnectionTest,
    ConnectRequest,
    ConnectResult,
    PlatformProfileCreate,
    PlatformProfileUpdate,
)
from datamesh.connectors import registry
from datamesh.connectors import service as connectors
from datamesh.connectors.registry import ConnectorType, UnknownConnector
from datamesh.connectors.service import Runtime
from datamesh.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable, field_error
from datamesh.events import service as events
from datamesh.kit.pagination import decode_cursor, split_page
from datamesh.kit.refs import Ref
from datamesh.models.connect import PlatformProfile
from datamesh.orgs import service as orgs

tracer = trace.get_tracer("datamesh.connect")


# -- platforms ---------------------------------------------------------------------------------
def canonical_platform(name: str) -> str | None:
    """The Connect platform a catalog platform name means (``postgres`` -> ``postgresql``)."""
    key = name.strip().lower()
    key = renderer._ALIASES.get(key, key)
    return key if key in renderer.PLATFORMS else None


def _connector(platform: str) -> ConnectorType | None:
    try:
        return registry.get(platform)
    except UnknownConnector:
        return None


def profile_platforms() -> list[str]:
    """Platforms a profile can be for: Connect has templates and the registry a schema."""
    return [p for p in renderer.PLATFORMS if _connector(p) is not None]


def _title(platform: str) -> str:
    ctype = _connector(platform)
    return ctype.title if ctype is not None else platform


def _tested_platforms() -> list[str]:
    return [
        _title(p)
        for p in renderer.PLATFORMS
        if (c := _connector(p)) is not None and c.tester is not None
    ]


# -- profiles: validation ---------------------------------------------------------------------
_INVALID_PROFILE_KEY = re.compile(r"^(setting|secret) '([^']*)'")


def _check_platform(platform: str) -> ConnectorType:
    ctype = _connector(platform) if platform in profile_platforms() else None
    if ctype is None:
        known = ", ".join(profile_platforms())
        raise Unprocessable(
            f"platform: Connect has no {platform!r} platform (known: {known})",
            errors=[field_error(["platform"], f"must be one of: {known}")],
        )
    return ctype


def _validate(
    ctype: ConnectorType, settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> None:
    """Check settings against the connector type's schema, secrets as references only, then
    that the renderer accepts them. No message repeats a submitted value."""
    errors = [
        field_error(["settings", *e.path], e.message)
        for e in registry.validate_config(ctype, settings)
    ]
    errors += [
        field_error(["secrets", *e.path], e.message)
        for e in registry.validate_secrets(ctype, secrets)
    ]
    if not errors:
        try:
            # No kinds: only the profile is checked (settings the templates put in URLs and
            # host names have a stricter shape there).
            renderer.render(
                DatasetSource(namespace="", name="t", platform=ctype.type),
                ProfileInfo(ctype.type, dict(settings), dict(secrets)),
                kinds=[],
            )
        except renderer.InvalidProfile as exc:
            found = _INVALID_PROFILE_KEY.match(str(exc))
            path = [f"{found[1]}s", found[2]] if found else ["settings"]
            errors.append(field_error(path, str(exc)))
    if errors:
        summary = "; ".join(f"{e['field']}: {e['msg']}" for e in errors[:5])
        raise Unprocessable(f"Invalid {ctype.type} profile: {summary}", errors=errors)


def _merged(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


# -- profiles: CRUD ---------------------------------------------------------------------------
def _ref(profile: PlatformProfile) -> Ref:
    return Ref("platform_profile", str(profile.id), profile.name)


def _snapshot(profile: PlatformProfile) -> dict[str, Any]:
    """What audit diffs compare; each secret reference is its own (secret-marked) field."""
    return {
        "name": profile.name,
        "platform": profile.platform,
        "scope": profile.scope,
        "is_default": profile.is_default,
        "settings": dict(profile.settings),
        **{f"secrets.{k}": v for k, v in sorted(profile.secrets.items())},
    }


def _secret_keys(*snapshots: Mapping[str, Any]) -> set[str]:
    return {k for s in snapshots for k in s if k.startswith("secrets.")}


async def get_profile(
    session: AsyncSession, p: Principal, profile_id: uuid.UUID, *, for_update: bool = False
) -> PlatformProfile:
    profile = await repo.get(session, p, profile_id, for_update=for_update)
    if profile is None:
        raise NotFound("No such platform profile.")
    return profile


def _require_edit(p: Principal, profile: PlatformProfile) -> None:
    if not policies.can_edit(p, profile):
        raise Forbidden("Only the organization's admins may change its org-wide profiles.")


async def _take_default(session: AsyncSession, profile: PlatformProfile) -> list[uuid.UUID]:
    await repo.lock_default_slot(session, profile)
    replaced = await repo.clear_default(session, profile)
    profile.is_default = True
    return replaced


async def create_profile(
    session: AsyncSession, p: Principal, data: PlatformProfileCreate
) -> PlatformProfile:
    if data.scope == "org" and not policies.can_manage_org_profiles(p):
        raise Forbidden("Only the organization's admins may create org-wide profiles.")
    if data.scope == "user" and p.user_id is None:
        raise Forbidden("Profiles belong to users; this API key has no user.")
    ctype = _check_platform(data.platform)
    _validate(ctype, data.settings, data.secrets)
    profile = PlatformProfile(
        org_id=p.org_id,
        scope=data.scope,
        owner_id=p.user_id if data.scope == "user" else None,
        name=data.name,
        platform=ctype.type,
        settings=dict(data.settings),
        secrets=dict(data.secrets),
        is_default=False,
        created_by=p.user_id,
    )
    if await repo.name_taken(session, profile, data.name):
        raise Conflict(
            f"You already have a profile named {data.name!r}."
            if data.scope == "user"
            else f"Your organization already has a profile named {data.name!r}."
        )
    if data.is_default is None:  # the first profile of its platform becomes the default
        await repo.lock_default_slot(session, profile)
        becomes_default = not await repo.has_default(session, profile)
    else:
        becomes_default = data.is_default
    replaced = await _take_default(session, profile) if becomes_default else []
    profile = await repo.add(session, profile)
    after = _snapshot(profile)
    await audit.record(
        session,
        p.actor(),
        "platform_profile.create",
        _ref(profile),
        audit.diff({}, after, secret_fields=_secret_keys(after)),
        org_id=profile.org_id,
        details={"replaced_default": [str(i) for i in replaced]} if replaced else None,
    )
    await events.emit(
        session,
        "platform_profile.created",
        p.actor(),
        _ref(profile),
        {"platform": profile.platform, "scope": profile.scope, "is_default": profile.is_default},
        org_id=profile.org_id,
    )
    return profile


async def update_profile(
    session: AsyncSession, p: Principal, profile_id: uuid.UUID, data: PlatformProfileUpdate
) -> PlatformProfile:
    profile = await get_profile(session, p, profile_id, for_update=True)
    _require_edit(p, profile)
    before = _snapshot(profile)
    if data.settings is not None or data.secrets is not None:
        ctype = _check_platform(profile.platform)
        settings = _merged(profile.settings, data.settings or {})
        secrets = _merged(profile.secrets, data.secrets or {})
        _validate(ctype, settings, secrets)
        profile.settings, profile.secrets = settings, secrets
    if data.name is not None and data.name != profile.name:
        if await repo.name_taken(session, profile, data.name, exclude=profile.id):
            raise Conflict(f"A profile named {data.name!r} already exists.")
        profile.name = data.name
    replaced: list[uuid.UUID] = []
    if data.is_default is True and not profile.is_default:
        replaced = await _take_default(session, profile)
    elif data.is_default is False:
        profile.is_default = False
    after = _snapshot(profile)
    changes = audit.diff(before, after, secret_fields=_secret_keys(before, after))
    if not changes:
        return profile
    profile = await repo.save(session, profile)
    await audit.record(
        session,
        p.actor(),
        "platform_profile.update",
        _ref(profile),
        changes,
        org_id=profile.org_id,
        details={"replaced_default": [str(i) for i in replaced]} if replaced else None,
    )
    await events.emit(
        session,
        "platform_profile.updated",
        p.actor(),
        _ref(profile),
        {"fields": sorted(changes), "platform": profile.platform, "scope": profile.scope},
        org_id=profile.org_id,
    )
    return profile


async def make_default(
    session: AsyncSession, p: Principal, profile_id: uuid.UUID
) -> PlatformProfile:
    return await update_profile(session, p, profile_id, PlatformProfileUpdate(is_default=True))


async def delete_profile(session: AsyncSession, p: Principal, profile_id: uuid.UUID) -> None:
    profile = await get_profile(session, p, profile_id, for_update=True)
    _require_edit(p, profile)
    before = _snapshot(profile)
    ref = _ref(profile)
    await audit.record(
        session,
        p.actor(),
        "platform_profile.delete",
        ref,
        audit.diff(before, {}, secret_fields=_secret_keys(before)),
        org_id=profile.org_id,
    )
    await events.emit(
        session,
        "platform_profile.deleted",
        p.actor(),
        ref,
        {"platform": profile.platform, "scope": profile.scope},
        org_id=profile.org_id,
    )
    await repo.delete(session, profile)


async def list_profiles(
    session: AsyncSession,
    p: Principal,
    *,
    platform: str | None,
    scope: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[PlatformProfile], str | None]:
    after = decode_cursor(cursor, 2)
    if after is not None and not isinstance(after[0], str):
        raise BadRequest("The cursor is not valid; start again without it.")
    rows = await repo.page(
        session,
        p,
        platform=(canonical_platform(platform) or platform) if platform else None,
        scope=scope,
        after=after,
        limit=limit,
    )
    return split_page(rows, limit, lambda r: [r.name.lower(), str(r.id)])


# -- Connect ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Chosen:
    id: uuid.UUID
    name: str
    scope: str
    settings: dict[str, Any]
    secrets: dict[str, str]


def _chosen(found: PlatformProfile | Row[Any] | None, prefix: str = "") -> _Chosen | None:
    """A profile (or the ``profile_*`` columns of the Connect read) as Connect uses it."""
    if found is None:
        return None

    def get(name: str) -> Any:
        return getattr(found, f"{prefix}{name}")

    if get("id") is None:
        return None
    return _Chosen(
        get("id"), get("name"), get("scope"), dict(get("settings")), dict(get("secrets"))
    )


def _mismatch(name: str, profile_platform: str, platform: str) -> Conflict:
    return Conflict(
        f"The profile {name!r} is for {_title(profile_platform)}, but this "
        f"dataset lives on {_title(platform)}: choose one of your {_title(platform)} "
        "profiles (or create one at /api/platform-profiles), or leave out profile_id "
        f"to use your default {_title(platform)} profile."
    )


async def _choose_profile(
    session: AsyncSession, p: Principal, platform: str, req: ConnectRequest, row: Row[Any]
) -> _Chosen | None:
    """The profile the read found (asked for, else the caller's default, else the org's)."""
    if req.profile_id is not None:
        if row.profile_id is None:
            raise NotFound("No such platform profile.")
        if row.profile_platform != platform:
            raise _mismatch(row.profile_name, row.profile_platform, platform)
        return _chosen(row, "profile_")
    key = row.platform.strip(" ").lower()  # what the read's SQL matched defaults on
    if renderer._ALIASES.get(key, key) == platform:
        return _chosen(row, "profile_")
    # PostgreSQL's btrim() trims spaces only, Python's strip() any whitespace: for such a
    # spelling, ask again by the platform as Python reads it.
    return _chosen(await repo.default_for(session, p, platform))


def _dataset_platform(ds: Row[Any], asked: str | None) -> str:
    platform = canonical_platform(ds.platform)
    if platform is None:
        raise Conflict(
            f"Connect has no code for {ds.platform} datasets yet (it covers "
            f"{', '.join(_title(p) for p in renderer.PLATFORMS)})."
        )
    if asked is not None and canonical_platform(asked) != platform:
        raise Conflict(
            f"This dataset lives on {_title(platform)}, not on {asked}: leave out platform "
            f"(or ask for {platform}) to get {_title(platform)} code for it."
        )
    return platform


def _kinds(platform: str, asked: list[str] | None) -> list[str] | None:
    if asked is None:
        return None
    available = renderer.available_kinds(platform)
    bad = [i for i, k in enumerate(asked) if k not in available]
    if bad:
        msg = f"is not an artifact kind of {_title(platform)} (available: {', '.join(available)})"
        raise Unprocessable(
            f"kinds: {', '.join(asked[i] for i in bad)} {msg}",
            errors=[field_error(["kinds", i], msg) for i in bad],
        )
    return list(dict.fromkeys(asked))


def _source(ds: Row[Any], platform: str) -> DatasetSource:
    return DatasetSource(
        namespace=ds.namespace,
        name=ds.name,
        platform=platform,
        database=ds.source_database,
        schema=ds.source_schema,
        table=ds.source_table,
        path=ds.source_path,
        fields=[
            FieldInfo(name=str(f.get("name", "")), type=str(f.get("type") or "") or None)
            for f in ds.fields or []
            if f.get("name")
        ],
    )


def _test_database(source: DatasetSource) -> str | None:
    """The database the generated code connects to when the dataset names one."""
    return source.database or renderer._split_name(source.name.strip())[0]


async def _test_refusal(
    session: AsyncSession, p: Principal, platform: str, profile: _Chosen | None
) -> str | None:
    """Why a requested connection test does not run (None: it runs)."""
    ctype = _connector(platform)
    if not policies.can_run_tests(p):
        return (
            f"Connection tests need the producer, steward or admin role (yours is {p.role}); "
            "the code was generated without one."
        )
    if ctype is None or ctype.tester is None:
        tested = ", ".join(_tested_platforms()) or "none"
        return (
            f"{_title(platform)} has no live connection test in DataMesh (only {tested} "
            "has one today); run the generated code to check the connection."
        )
    if profile is None:
        return (
            f"A connection test needs a {_title(platform)} profile with the connection "
            "settings; none was used, so nothing was tested."
        )
    if profile.scope == "user" and profile.secrets and not (p.is_org_admin or p.is_platform_admin):
        # The server resolves the references for a live test: a personal profile could point a
        # server-side secret at a host its author controls. Admins vouch for org-wide profiles.
        return (
            "Live tests resolve secrets on the server, so they run with org-wide profiles "
            "(set up by your admins) or for admins; the code was generated without one."
        )
    if not (await orgs.org_settings(session, p.org_id)).allow_connection_tests:
        return (
            "Your organization does not allow live connection tests from Connect "
            "(its allow_connection_tests setting is off)."
        )
    return None


async def _release(session: AsyncSession) -> None:
    """End the request's transaction before a connection test, keeping what it wrote so far
    (e.g. an API key's last use), as node tests do: no connection or lock is held while the
    test waits on the network. The session begins a new transaction when next used."""
    await session.commit()


async def _run_test(
    runtime: Runtime, platform: str, source: DatasetSource, profile: _Chosen
) -> ConnectionTest:
    config = dict(profile.settings)
    ctype = _connector(platform)
    database = _test_database(source)
    if database and ctype is not None and "database" in ctype.config_schema.get("properties", {}):
        config["database"] = database
    with tracer.start_as_current_span(
        "connect.test", attributes={"connector.type": platform, "profile.scope": profile.scope}
    ) as span:
        result = await connectors.execute(runtime, platform, config, profile.secrets)
        span.set_attribute("check.ok", result.ok)
    return ConnectionTest(ok=result.ok, message=result.message, latency_ms=result.latency_ms)


@dataclass(slots=True)
class _Rendered:
    ds: Row[Any]
    platform: str
    profile: _Chosen | None
    source: DatasetSource
    artifacts: list[Artifact]
    warnings: list[str]


async def _render(
    session: AsyncSession,
    p: Principal,
    dataset_id: uuid.UUID,
    req: ConnectRequest,
    lock_key: str | None = None,
) -> _Rendered:
    """Read (one statement: the dataset, 404 when hidden, and the profile; with ``lock_key``
    also the feed window's lock) and render."""
    ds = await repo.connect_context(
        session,
        p,
        dataset_id,
        req.profile_id,
        renderer._ALIASES,
        lock_key,
    )
    if ds is None:
        raise NotFound("No such dataset.")
    platform = _dataset_platform(ds, req.platform)
    kinds = _kinds(platform, req.kinds)
    profile = await _choose_profile(session, p, platform, req, ds)
    source = _source(ds, platform)
    info = (
        ProfileInfo(platform, profile.settings, profile.secrets)
        if profile is not None
        else ProfileInfo(platform)
    )
    try:
        rendered = renderer.render(source, info, kinds)
    except renderer.InvalidProfile as exc:
        assert profile is not None
        raise Unprocessable(
            f"The profile {profile.name!r} cannot be used for this dataset: {exc}. Edit it at "
            f"/api/platform-profiles/{profile.id}."
        ) from None
    except InvalidIdentifier as exc:
        raise Conflict(
            f"The dataset's name cannot be written for {_title(platform)}: {exc}. Fix its "
            "source (database, schema, table) in the catalog."
        ) from None
    except ValueError as exc:  # e.g. no table name in the dataset's source or name
        raise Conflict(
            f"Connect cannot locate this dataset: {exc}. Set its source (database, schema, "
            "table) in the catalog."
        ) from None

    warnings: list[str] = []
    if profile is None:
        warnings.append(
            f"You have no {_title(platform)} profile (and your organization has no default "
            "one): the code reads the connection settings it lacks from environment variables, "
            "named below. Create a profile at /api/platform-profiles to have them filled in."
        )
    if ds.status == "deprecated":
        warnings.append("This dataset is deprecated; check its description for a replacement.")
    warnings += rendered.warnings
    artifacts = [
        Artifact(kind=a.kind, language=a.language, filename=a.filename, content=a.content)
        for a in rendered.artifacts
    ]
    return _Rendered(ds, platform, profile, source, artifacts, warnings)


def _result(r: _Rendered, test: ConnectionTest | None = None) -> ConnectResult:
    return ConnectResult(
        dataset_id=r.ds.id,
        platform=r.platform,
        profile_id=r.profile.id if r.profile else None,
        artifacts=r.artifacts,
        connection_test=test,
        warnings=r.warnings,
    )


async def preview(
    session: AsyncSession, p: Principal, dataset_id: uuid.UUID, req: ConnectRequest
) -> ConnectResult:
    """The code Connect would give, to look at: showing code is not connecting, so nothing is
    recorded (the connect is the caller's act on it: copy, download, test, or a POST)."""
    return _result(await _render(session, p, dataset_id, req))


# Repeated connects by one person to one dataset within this time are one feed item (the
# audit log keeps each of them).
CONNECT_FEED_WINDOW_SECONDS = 3600


async def connect(
    session: AsyncSession,
    p: Principal,
    runtime: Runtime,
    dataset_id: uuid.UUID,
    req: ConnectRequest,
) -> ConnectResult:
    # The feed window's lock is taken by the read, unless a connection test will end the
    # transaction (and so release it) before the check: then the check takes it itself.
    subject = Ref("dataset", str(dataset_id))
    lock_key = None if req.test else events.window_lock_key("dataset.connected", p.actor(), subject)
    r = await _render(session, p, dataset_id, req, lock_key)
    ds, platform, profile = r.ds, r.platform, r.profile

    test: ConnectionTest | None = None
    if req.test:
        refusal = await _test_refusal(session, p, platform, profile)
        if refusal is not None:
            r.warnings.append(refusal)
        else:
            assert profile is not None
            await _release(session)
            test = await _run_test(runtime, platform, r.source, profile)

    ref = catalog.ref(ds)
    artifact_kinds = [a.kind for a in r.artifacts]
    action = "test" if req.test else (req.action or "get")
    # One feed item per person, dataset and window: the check is in the event's insert.
    await events.emit(
        session,
        "dataset.connected",
        p.actor(),
        ref,
        {
            "platform": platform,
            "kinds": artifact_kinds,
            "tested": test is not None,
            "action": action,
        },
        org_id=ds.org_id,
        once_within=CONNECT_FEED_WINDOW_SECONDS,
        window_locked=lock_key is not None,
    )
    # Last: the audit chain's lock is then held only until the commit that follows.
    await audit.record(
        session,
        p.actor(),
        "dataset.connect",
        ref,
        org_id=ds.org_id,
        details={
            "platform": platform,
            "kinds": artifact_kinds,
            "action": action,
            # another org's governance must not learn the ids of this caller's profiles
            "profile_id": str(profile.id) if profile and p.org_id == ds.org_id else None,
            "profile_scope": profile.scope if profile else None,
            "test_requested": req.test,
            "test_ran": test is not None,
            "test_ok": test.ok if test is not None else None,
        },
    )
    return _result(r, test)
