"""SQL for datasets: the readable filter (visibility, in one place), search, facets, owners."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CompoundSelect,
    Row,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from datamesh.auth.principal import Principal
from datamesh.db import Compiled, compiled, configured_engine, read_connection
from datamesh.kit.pagination import after as keyset_after
from datamesh.kit.text import escape_like
from datamesh.models.catalog import Dataset, DatasetOwner, Follow
from datamesh.models.identity import Organization, User
from datamesh.models.ingestion import SchemaVersion

TS_CONFIG = "english"
CANDIDATES = 600  # ranked search scores at most this many full-text matches
NAME_CANDIDATES = 100
# The short name in code-point order: its index (ix_datasets_short_name_c) answers a prefix
# match and the candidates' order in one pass, on any database collation.
_CODE_POINT_NAME = Dataset.short_name.collate("C")
COUNT_LIMIT = 10_000  # totals and facets are exact up to this many matches, then a lower bound
TRGM_THRESHOLD = 0.25


# -- visibility ---------------------------------------------------------------------------------
def readable(p: Principal | None, dataset: Any = Dataset) -> ColumnElement[bool]:
    """What the caller may see: public to every signed-in user, internal to the owning org,
    private to its owners and the owning org's admins and stewards. Every read path uses this."""
    if p is None:
        return false()
    return _readable(dataset, p.org_id, _owner_of(p), _elevated(p))


def _owner_of(p: Principal) -> uuid.UUID | None:
    """The user whose ownership shows private datasets (users only, not API keys)."""
    return p.user_id if p.kind == "user" else None


def _elevated(p: Principal) -> bool:
    return p.role in ("admin", "steward")


def _readable(dataset: Any, org: Any, user: Any, elevated: bool) -> ColumnElement[bool]:
    """:func:`readable` for an org and a user given as values or as bound parameters (a
    statement built once for every viewer of one shape, see :func:`get_with_extras`)."""
    private_ok: list[ColumnElement[bool]] = []
    if user is not None:
        private_ok.append(
            exists().where(DatasetOwner.dataset_id == dataset.id, DatasetOwner.user_id == user)
        )
    if elevated:
        private_ok.append(dataset.org_id == org)
    return or_(
        dataset.visibility == "public",
        and_(dataset.visibility == "internal", dataset.org_id == org),
        and_(dataset.visibility == "private", or_(*private_ok) if private_ok else false()),
    )


def readable_ids(p: Principal | None) -> Select[tuple[uuid.UUID]]:
    """Ids of the datasets the caller may see, for other domains' queries (feed, lineage)."""
    return select(Dataset.id).where(readable(p))


# -- single rows --------------------------------------------------------------------------------
async def get(session: AsyncSession, dataset_id: uuid.UUID, p: Principal | None) -> Dataset | None:
    found: Dataset | None = await session.scalar(
        select(Dataset).where(Dataset.id == dataset_id, readable(p))
    )
    return found


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """An owner as a profile shows it (no ORM instance to load)."""

    id: uuid.UUID
    name: str
    email: str


# The columns a profile or a search result shows: not the search document, short name or the
# ingestion's bookkeeping (loading a tsvector per row was a visible share of a read).
PROFILE_COLUMNS = (
    Dataset.id,
    Dataset.org_id,
    Dataset.namespace,
    Dataset.name,
    Dataset.display_name,
    Dataset.description,
    Dataset.platform,
    Dataset.domain,
    Dataset.tags,
    Dataset.named_owners,
    Dataset.visibility,
    Dataset.status,
    Dataset.origin,
    Dataset.node_id,
    Dataset.source_database,
    Dataset.source_schema,
    Dataset.source_table,
    Dataset.source_path,
    Dataset.fields,
    Dataset.kind,
    Dataset.properties,
    Dataset.created_at,
    Dataset.updated_at,
    Dataset.created_by,
    Dataset.updated_by,
    Dataset.version,
)


def _profile_statement(owner: bool, follower: bool, elevated: bool) -> Select[Any]:
    """The profile's one query for viewers of one shape (a user or not, following possible,
    admin/steward or not); who the viewer is and which dataset are bound parameters."""
    followers = select(func.count()).where(Follow.dataset_id == Dataset.id).scalar_subquery()
    following = (
        exists().where(Follow.dataset_id == Dataset.id, Follow.user_id == bindparam("follower"))
        if follower
        else false()
    )
    owners = (
        select(
            func.coalesce(
                func.json_agg(
                    aggregate_order_by(
                        func.json_build_array(User.id, User.name, User.email), User.email
                    )
                ),
                literal_column("'[]'::json"),
            )
        )
        .select_from(DatasetOwner)
        .join(User, User.id == DatasetOwner.user_id)
        .where(DatasetOwner.dataset_id == Dataset.id)
        .scalar_subquery()
    )
    org = bindparam("org", type_=Uuid())
    user = bindparam("owner", type_=Uuid()) if owner else None
    return (
        select(
            *PROFILE_COLUMNS,
            Organization.name.label("org_name"),
            followers.label("follower_count"),
            following.label("following"),
            owners.label("owners"),
        )
        .join(Organization, Organization.id == Dataset.org_id)
        .where(Dataset.id == bindparam("dataset_id"), _readable(Dataset, org, user, elevated))
    )


_PROFILE_SQL: dict[tuple[bool, bool, bool], Compiled] = {}


async def get_with_extras(
    session: AsyncSession, dataset_id: uuid.UUID, p: Principal | None
) -> tuple[Row[Any], str, int, bool, list[OwnerRef]] | None:
    """The dataset (a row of :data:`PROFILE_COLUMNS`), its org's name, follower count,
    whether the caller follows, and its owners (ordered by email, as ``owners``).

    The hot read: one statement, in AUTOCOMMIT when the request has no transaction yet (no
    BEGIN and COMMIT round trips, see ``db.read_connection``), compiled once per viewer shape
    and sent as it is (no statement built, cache key computed or ORM row loaded per read)."""
    if p is None:
        return None
    owner, follower, elevated = _owner_of(p), p.user_id, _elevated(p)
    shape = (owner is not None, follower is not None, elevated)
    conn = await read_connection(session)
    statement = compiled(_PROFILE_SQL, shape, lambda: _profile_statement(*shape), conn)
    values = {"dataset_id": dataset_id, "org": p.org_id, "owner": owner, "follower": follower}
    row = await statement.first(conn, values)
    if row is None:
        return None
    owner_refs = [OwnerRef(uuid.UUID(i), n, e) for i, n, e in row.owners or []]
    return row, row.org_name, int(row.follower_count), bool(row.following), owner_refs


async def get_for_update(
    session: AsyncSession, dataset_id: uuid.UUID, p: Principal
) -> Dataset | None:
    found: Dataset | None = await session.scalar(
        select(Dataset).where(Dataset.id == dataset_id, readable(p)).with_for_update()
    )
    return found


async def by_id(session: AsyncSession, dataset_id: uuid.UUID) -> Dataset | None:
    """A dataset whatever the caller may see (for writers that resolved it by the rule)."""
    return await session.get(Dataset, dataset_id)


async def by_key(
    session: AsyncSession, org_id: uuid.UUID, namespace: str, name: str
) -> Dataset | None:
    """The org's own dataset with this name (names are unique per org)."""
    found: Dataset | None = await session.scalar(
        select(Dataset).where(
            Dataset.namespace == namespace, Dataset.name == name, Dataset.org_id == org_id
        )
    )
    return found


async def named(
    session: AsyncSession, p: Principal, keys: Sequence[tuple[str, str]]
) -> list[tuple[str, str, uuid.UUID, uuid.UUID]]:
    """(namespace, name, id, org) of the datasets with these names that the caller's org owns
    or the caller may read, oldest first. A hidden dataset never leaves the database."""
    if not keys:
        return []
    rows = await session.execute(
        select(Dataset.namespace, Dataset.name, Dataset.id, Dataset.org_id)
        .where(
            tuple_(Dataset.namespace, Dataset.name).in_(list(keys)),
            or_(Dataset.org_id == p.org_id, readable(p)),
        )
        .order_by(Dataset.id)
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def own_named(
    session: AsyncSession, org_id: uuid.UUID, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    """Ids of the org's own datasets with these names."""
    if not keys:
        return {}
    rows = await session.execute(
        select(Dataset.namespace, Dataset.name, Dataset.id).where(
            tuple_(Dataset.namespace, Dataset.name).in_(list(keys)), Dataset.org_id == org_id
        )
    )
    return {(r[0], r[1]): r[2] for r in rows}


async def insert_named(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> dict[tuple[str, str], uuid.UUID]:
    """Insert datasets (of one org) in one statement; a name another transaction created in
    the meantime is skipped (the caller reads it back)."""
    if not rows:
        return {}
    result = await session.execute(
        insert(Dataset)
        .on_conflict_do_nothing(index_elements=[Dataset.namespace, Dataset.name, Dataset.org_id])
        .returning(Dataset.namespace, Dataset.name, Dataset.id),
        rows,
    )
    return {(r[0], r[1]): r[2] for r in result}


async def add(session: AsyncSession, dataset: Dataset) -> Dataset:
    session.add(dataset)
    await session.flush()
    return dataset


async def refresh(session: AsyncSession, dataset: Dataset) -> None:
    await session.refresh(dataset)


async def owners(
    session: AsyncSession, dataset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[User]]:
    if not dataset_ids:
        return {}
    rows = await session.execute(
        select(DatasetOwner.dataset_id, User)
        .join(User, User.id == DatasetOwner.user_id)
        .where(DatasetOwner.dataset_id.in_(dataset_ids))
        .order_by(User.email)
    )
    out: dict[uuid.UUID, list[User]] = {}
    for ds_id, user in rows:
        out.setdefault(ds_id, []).append(user)
    return out


async def followers(
    session: AsyncSession, dataset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[User]]:
    if not dataset_ids:
        return {}
    rows = await session.execute(
        select(Follow.dataset_id, User)
        .join(User, User.id == Follow.user_id)
        .where(Follow.dataset_id.in_(dataset_ids), User.disabled.is_(False))
    )
    out: dict[uuid.UUID, list[User]] = {}
    for ds_id, user in rows:
        out.setdefault(ds_id, []).append(user)
    return out


async def named_owners(
    session: AsyncSession, dataset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    if not dataset_ids:
        return {}
    rows = await session.execute(
        select(Dataset.id, Dataset.named_owners).where(
            Dataset.id.in_(dataset_ids), func.cardinality(Dataset.named_owners) > 0
        )
    )
    return {r[0]: list(r[1]) for r in rows}


async def set_owners(
    session: AsyncSession, dataset_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> None:
    await session.execute(delete(DatasetOwner).where(DatasetOwner.dataset_id == dataset_id))
    if user_ids:
        await session.execute(
            insert(DatasetOwner)
            .values([{"dataset_id": dataset_id, "user_id": u} for u in dict.fromkeys(user_ids)])
            .on_conflict_do_nothing()
        )


async def existing_users(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(User.id).where(User.id.in_(user_ids), User.disabled.is_(False))
    )
    return set(rows)


async def visibility_info(
    session: AsyncSession, dataset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, uuid.UUID, set[uuid.UUID]]]:
    """(visibility, org, owners) per dataset: what deciding who may see it needs."""
    if not dataset_ids:
        return {}
    rows = await session.execute(
        select(Dataset.id, Dataset.visibility, Dataset.org_id).where(Dataset.id.in_(dataset_ids))
    )
    info = {r[0]: (r[1], r[2], set[uuid.UUID]()) for r in rows}
    owner_rows = await session.execute(
        select(DatasetOwner.dataset_id, DatasetOwner.user_id).where(
            DatasetOwner.dataset_id.in_(list(info))
        )
    )
    for ds_id, user_id in owner_rows:
        info[ds_id][2].add(user_id)
    return info


async def follower_count(session: AsyncSession, dataset_id: uuid.UUID) -> int:
    return int(
        await session.scalar(select(func.count()).where(Follow.dataset_id == dataset_id)) or 0
    )


async def is_following(
    session: AsyncSession, dataset_id: uuid.UUID, user_id: uuid.UUID | None
) -> bool:
    if user_id is None:
        return False
    found = await session.scalar(
        select(Follow.dataset_id).where(Follow.dataset_id == dataset_id, Follow.user_id == user_id)
    )
    return found is not None


async def org_names(session: AsyncSession, org_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not org_ids:
        return {}
    rows = await session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(set(org_ids)))
    )
    return {r[0]: r[1] for r in rows}


# -- search -------------------------------------------------------------------------------------
@dataclass(slots=True)
class SearchQuery:
    text: str | None = None
    platform: list[str] = field(default_factory=list)
    domain: list[str] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)
    org: list[uuid.UUID] = field(default_factory=list)
    owner: list[uuid.UUID] = field(default_factory=list)
    visibility: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=lambda: ["active"])
    sort: str = "relevance"
    limit: int = 20
    after: list[Any] | None = None


_TOKEN = re.compile(r"[A-Za-z0-9]+")
_OPERATORS = re.compile(r"\"|(^|\s)-\w|\s+or\s+", re.IGNORECASE)


def _prefix_tsquery(text: str) -> str | None:
    """``customer ord`` -> ``customer & ord:*``: as-you-type matching on the last word."""
    tokens = _TOKEN.findall(text)[:10]
    if not tokens:
        return None
    return " & ".join([*tokens[:-1], f"{tokens[-1]}:*"])


# A search's statements are built once per shape (which filters, what kind of viewer and text,
# the sort) with every request value a named bound parameter, then sent with each request's
# values: building them and computing SQLAlchemy's cache key was most of a search's Python
# work. The builders below take a shape and a binder, never the request, so a statement built
# for one request cannot carry its values into another's; a value not given is an error.
_FILTERS = ("status", "platform", "domain", "tag", "org", "visibility", "owner")


class _Bind:
    """Named bound parameters: placeholders (a statement built once per shape; the values
    come with each execution), or carrying their values (a statement built for one use)."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = values

    def __call__(self, name: str, **kw: Any) -> Any:
        if self.values is None:
            return bindparam(name, **kw)
        return bindparam(name, self.values[name], **kw)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a search's SQL depends on besides its values."""

    viewer: tuple[bool, bool] | None  # (ownership counts, admin/steward); None: nobody
    filters: tuple[bool, ...]  # which of _FILTERS are given
    text: tuple[bool, bool, int] | None  # (prefix query, one word, address splits)
    sort: str


def _viewer_values(p: Principal | None) -> tuple[tuple[bool, bool] | None, dict[str, Any]]:
    if p is None:
        return None, {}
    owner = _owner_of(p)
    return (owner is not None, _elevated(p)), {"viewer_org": p.org_id, "viewer_owner": owner}


def _filter_values(q: SearchQuery) -> tuple[tuple[bool, ...], dict[str, Any]]:
    given = {f"f_{name}": getattr(q, name) for name in _FILTERS if getattr(q, name)}
    return tuple(f"f_{name}" in given for name in _FILTERS), given


def _base_conds(
    viewer: tuple[bool, bool] | None, filters: tuple[bool, ...], b: _Bind
) -> list[ColumnElement[bool]]:
    """Visibility (:func:`readable`'s expression) and the filters."""
    if viewer is None:
        conds: list[ColumnElement[bool]] = [false()]
    else:
        owner, elevated = viewer
        user = b("viewer_owner") if owner else None
        conds = [_readable(Dataset, b("viewer_org"), user, elevated)]
    status, platform, domain, tag, org, visibility, owner_filter = filters
    if status:
        conds.append(Dataset.status.in_(b("f_status", expanding=True)))
    if platform:
        conds.append(Dataset.platform.in_(b("f_platform", expanding=True)))
    if domain:
        conds.append(Dataset.domain.in_(b("f_domain", expanding=True)))
    if tag:
        conds.append(Dataset.tags.contains(b("f_tag")))
    if org:
        conds.append(Dataset.org_id.in_(b("f_org", expanding=True)))
    if visibility:
        conds.append(Dataset.visibility.in_(b("f_visibility", expanding=True)))
    if owner_filter:
        conds.append(
            exists().where(
                DatasetOwner.dataset_id == Dataset.id,
                DatasetOwner.user_id.in_(b("f_owner", expanding=True)),
            )
        )
    return conds


def _filters(q: SearchQuery, p: Principal | None) -> list[ColumnElement[bool]]:
    viewer, who = _viewer_values(p)
    filters, given = _filter_values(q)
    return _base_conds(viewer, filters, _Bind(who | given))


@dataclass(slots=True)
class _Text:
    match: ColumnElement[bool]
    score: ColumnElement[float]
    fts: ColumnElement[bool]
    name_prefix: ColumnElement[bool]
    typo: ColumnElement[bool] | None
    locator: ColumnElement[bool]


def _text_values(text: str) -> tuple[tuple[bool, bool, int], dict[str, Any]]:
    """The text's shape and values: the web-search query, the as-you-type prefix query (not
    with operators), the lowered text for names and typos (one word only), and the text as a
    dataset's address: a namespace (``snowflake://acme.eu-west-1``) or a full
    ``namespace/name``, split at each ``/`` after the scheme (names and namespaces may hold
    slashes)."""
    lowered = text.strip().lower()
    operators = _OPERATORS.search(text) is not None
    prefix = _prefix_tsquery(text)
    values: dict[str, Any] = {
        "q_web": text,
        "q_lower": lowered,
        "q_like": escape_like(lowered) + "%",
        "q_address": text.strip(),
    }
    if prefix and not operators:
        values["q_prefix"] = prefix
    address = text.strip()
    start = address.find("://") + 3 if "://" in address else 0
    splits = 0
    for i in [i for i, ch in enumerate(address) if ch == "/" and i >= start][:10]:
        namespace, name = address[:i], address[i + 1 :]
        if namespace and name:
            values[f"q_namespace_{splits}"], values[f"q_name_{splits}"] = namespace, name
            splits += 1
    shape = ("q_prefix" in values, " " not in lowered and not operators, splits)
    return shape, values


def _terms(shape: tuple[bool, bool, int], b: _Bind) -> _Text:
    prefix, one_word, splits = shape
    web = func.websearch_to_tsquery(TS_CONFIG, b("q_web", type_=String()))
    combined = (
        web.op("||")(func.to_tsquery(TS_CONFIG, b("q_prefix", type_=String()))) if prefix else web
    )
    # Compared with a column, a parameter takes the column's type (and collation); as a
    # function's argument it is a string.
    name_prefix = _CODE_POINT_NAME.like(b("q_like", type_=_CODE_POINT_NAME.type), escape="\\")
    typo = Dataset.short_name.op("%")(b("q_lower")) if one_word else None
    fts = Dataset.search.op("@@")(combined)
    # Equality on (namespace, name), so the unique index answers it.
    locator = or_(
        Dataset.namespace == b("q_address"),
        *[
            and_(Dataset.namespace == b(f"q_namespace_{i}"), Dataset.name == b(f"q_name_{i}"))
            for i in range(splits)
        ],
    )
    match = or_(fts, name_prefix, locator, typo if typo is not None else false())
    score = (
        func.ts_rank_cd(Dataset.search, combined, 1)
        + case((locator, 20.0), else_=0.0)
        + case((Dataset.short_name == b("q_lower"), 10.0), else_=0.0)
        + case((Dataset.short_name.like(b("q_like"), escape="\\"), 5.0), else_=0.0)
        + func.similarity(Dataset.short_name, b("q_lower", type_=String())) * 2.0
    )
    return _Text(
        match=match, score=score, fts=fts, name_prefix=name_prefix, typo=typo, locator=locator
    )


def _text_terms(text: str) -> _Text:
    shape, values = _text_values(text)
    return _terms(shape, _Bind(values))


# What a text search needs of its connection. The typo threshold. A plan made for each
# search's own values: the statements are the same text for every word, so after five runs
# PostgreSQL would reuse one generic plan, which cannot turn a `LIKE $1` into an index range or
# weigh a tsquery's selectivity (total and facets then took ~4x longer at 100k datasets). And
# no sequential scan where an index answers: on a small catalog the planner scans every row
# and computes each name's trigrams for the `%` branch of the match (it prices that like a
# cheap operator) instead of OR-ing the four indexes: the counts' statement took ~2x as long
# at 2,000 datasets; at 100k it picks the indexes anyway (same plans, same time, ADR 0003).
# Text searches run on connections that carry these from their start
# (``db.configured_engine``), in AUTOCOMMIT: no BEGIN, settings statement or COMMIT per search.
SEARCH_SETTINGS = {
    "pg_trgm.similarity_threshold": str(TRGM_THRESHOLD),
    "plan_cache_mode": "force_custom_plan",
    "enable_seqscan": "off",
}
_SEARCH_SETTINGS = text(
    "SELECT "
    + ", ".join(f"set_config(:name_{i}, :value_{i}, true)" for i in range(len(SEARCH_SETTINGS)))
).bindparams(
    **{f"name_{i}": name for i, name in enumerate(SEARCH_SETTINGS)},
    **{f"value_{i}": value for i, value in enumerate(SEARCH_SETTINGS.values())},
)


async def text_search_settings(session: AsyncSession) -> None:
    """``SEARCH_SETTINGS`` for this transaction only: for a text search on a session's own
    connection (one bound to a connection, the search bench's direct calls)."""
    await session.execute(_SEARCH_SETTINGS)


# What a search result shows of a dataset (no search document), with its org's name.
SUMMARY_COLUMNS = (
    Dataset.id,
    Dataset.org_id,
    Dataset.namespace,
    Dataset.name,
    Dataset.display_name,
    Dataset.description,
    Dataset.platform,
    Dataset.domain,
    Dataset.tags,
    Dataset.visibility,
    Dataset.status,
    Dataset.updated_at,
    Organization.name.label("org_name"),
)


@dataclass(slots=True)
class SearchPage:
    """One page of rows of :data:`SUMMARY_COLUMNS` with their scores (``None`` unless ranked),
    the total (exact up to ``COUNT_LIMIT``), facet counts over the result, and the names of
    the orgs the page and the org facet mention."""

    rows: list[tuple[Row[Any], float | None]]
    total: int
    total_is_lower_bound: bool
    facets: dict[str, list[tuple[str, int]]]
    org_names: dict[uuid.UUID, str]


@dataclass(frozen=True, slots=True)
class _Statements:
    """A shape's page and facet statements, and the page's keyset columns."""

    page: Select[Any]
    keyset: list[Any]
    descending: bool
    facets: CompoundSelect[Any]


@functools.lru_cache(maxsize=512)
def _statements(shape: _Shape) -> _Statements:
    b = _Bind()  # placeholders only
    base = _base_conds(shape.viewer, shape.filters, b)
    text = _terms(shape.text, b) if shape.text is not None else None
    conds = [*base, text.match] if text is not None else base
    # Relevance builds its own candidate sets from the base filters; other sorts page the match.
    ranked = text is not None and shape.sort == "relevance"
    page, keyset, descending = _page_statement(base if ranked else conds, text, shape.sort, b)
    return _Statements(page, keyset, descending, _facets_statement(conds))


def _search_values(q: SearchQuery, p: Principal | None) -> tuple[_Shape, dict[str, Any]]:
    viewer, values = _viewer_values(p)
    filters, given = _filter_values(q)
    values |= given
    text_shape = None
    if q.text:
        text_shape, text_values = _text_values(q.text)
        values |= text_values
    values |= {"page_limit": q.limit + 1, "typo_below": q.limit}
    return _Shape(viewer, filters, text_shape, q.sort), values


async def search(session: AsyncSession, p: Principal | None, q: SearchQuery) -> SearchPage:
    """Two statements: the page (candidates, typo neighbours and scores in one), then the
    total and facets with the orgs' names. Both are built once per shape
    (:func:`_statements`) and sent with this search's values; a text search sends them on a
    connection that carries ``SEARCH_SETTINGS`` (what was committed when each statement
    started, as in the request's READ COMMITTED transaction: a search writes nothing)."""
    shape, values = _search_values(q, p)
    built = _statements(shape)
    page_stmt = built.page
    if q.after:
        page_stmt = page_stmt.where(keyset_after(built.keyset, q.after, built.descending))
    bind = session.bind
    if q.text and isinstance(bind, AsyncEngine):
        async with configured_engine(bind, "search", SEARCH_SETTINGS).connect() as conn:
            page_rows = list(await conn.execute(page_stmt, values))
            facet_rows = (await conn.execute(built.facets, values)).all()
    else:
        if q.text:
            await text_search_settings(session)
        page_rows = list(await session.execute(page_stmt, values))
        facet_rows = (await session.execute(built.facets, values)).all()
    page = [(r, r.score) for r in page_rows]
    total, capped, facets, names = _count_facets(facet_rows)
    names.update((r.org_id, r.org_name) for r, _ in page)
    return SearchPage(page, total, capped, facets, names)


def name_candidates(conds: list[ColumnElement[bool]], text: _Text) -> Select[tuple[uuid.UUID]]:
    """The first names starting with the text, in code-point order: read in order from
    ix_datasets_short_name_c, stopping at the limit (no sort of every match)."""
    return (
        select(Dataset.id)
        .where(*conds, text.name_prefix)
        .order_by(_CODE_POINT_NAME)
        .limit(NAME_CANDIDATES)
    )


def _candidates(conds: list[ColumnElement[bool]], text: _Text, limit: Any) -> Select[Any]:
    """The ids a ranked search scores, each part stopping at its limit on its own index: names
    equal to or starting with the text (btree, in order), the first full-text matches (GIN),
    exact addresses, and trigram neighbours only when those found fewer than a page (a typo):
    PostgreSQL runs that part only if the count, a one-time filter, lets it."""
    fts_ids = select(Dataset.id).where(*conds, text.fts).limit(CANDIDATES)
    located = select(Dataset.id).where(*conds, text.locator).limit(CANDIDATES)
    found = name_candidates(conds, text).union(fts_ids, located).cte("candidates")
    ids = select(found.c.id)
    if text.typo is None:
        return ids
    few = select(func.count()).select_from(found).scalar_subquery() < limit
    typo_ids = select(Dataset.id).where(*conds, text.typo, few).limit(NAME_CANDIDATES)
    return ids.union(typo_ids)  # type: ignore[return-value]


def _page_statement(
    conds: list[ColumnElement[bool]], text: _Text | None, sort: str, b: _Bind
) -> tuple[Select[Any], list[Any], bool]:
    """One statement for the page (its keyset columns and direction for a cursor): for a
    ranked search the candidates, then their scores and order."""
    if text is not None and sort == "relevance":
        scored = (
            select(Dataset.id.label("id"), text.score.label("score"))
            .where(Dataset.id.in_(_candidates(conds, text, b("typo_below"))))
            .subquery()
        )
        stmt = select(*SUMMARY_COLUMNS, scored.c.score).join(scored, scored.c.id == Dataset.id)
        keyset: list[Any] = [scored.c.score, Dataset.id]
        descending = True
        stmt = stmt.order_by(scored.c.score.desc(), Dataset.id.desc())
    else:
        stmt = select(*SUMMARY_COLUMNS, literal(None).label("score")).where(*conds)
        if sort == "name":
            keyset, descending = [func.lower(Dataset.name), Dataset.id], False
            stmt = stmt.order_by(*keyset)
        else:
            keyset, descending = [Dataset.updated_at, Dataset.id], True
            stmt = stmt.order_by(Dataset.updated_at.desc(), Dataset.id.desc())
    stmt = stmt.join(Organization, Organization.id == Dataset.org_id)
    return stmt.limit(b("page_limit")), keyset, descending


async def _page(
    session: AsyncSession, conds: list[ColumnElement[bool]], text: _Text | None, q: SearchQuery
) -> list[tuple[Row[Any], float | None]]:
    """The page of a search whose conditions carry their values (see :func:`search`)."""
    b = _Bind({"page_limit": q.limit + 1, "typo_below": q.limit})
    stmt, keyset, descending = _page_statement(conds, text, q.sort, b)
    if q.after:
        stmt = stmt.where(keyset_after(keyset, q.after, descending))
    return [(r, r.score) for r in await session.execute(stmt)]


def _facets_statement(conds: list[ColumnElement[bool]]) -> CompoundSelect[Any]:
    """Total and facet counts in one scan of the (bounded) result; the org facet brings its
    orgs' names along (no statement of its own)."""
    matched = (
        select(Dataset.platform, Dataset.domain, Dataset.tags, Dataset.org_id)
        .where(*conds)
        .limit(COUNT_LIMIT + 1)
        .cte("matched")
        .prefix_with("MATERIALIZED")
    )
    tag = func.unnest(matched.c.tags).table_valued("value").render_derived()
    none = literal(None, String)
    return union_all(
        select(literal("total"), literal(None), func.count(), none).select_from(matched),
        select(literal("platform"), matched.c.platform, func.count(), none).group_by(
            matched.c.platform
        ),
        select(literal("domain"), matched.c.domain, func.count(), none)
        .where(matched.c.domain.is_not(None))
        .group_by(matched.c.domain),
        select(literal("org"), func.cast(matched.c.org_id, String), func.count(), Organization.name)
        .join(Organization, Organization.id == matched.c.org_id)
        .group_by(matched.c.org_id, Organization.name),
        select(literal("tag"), tag.c.value, func.count(), none)
        .select_from(matched)
        .join(tag, true())
        .group_by(tag.c.value),
    )


def _count_facets(
    rows: Sequence[Row[Any]], top: int = 25
) -> tuple[int, bool, dict[str, list[tuple[str, int]]], dict[uuid.UUID, str]]:
    """The total (exact up to ``COUNT_LIMIT``), the top facet values by count, org names."""
    total = 0
    out: dict[str, list[tuple[str, int]]] = {"platform": [], "domain": [], "org": [], "tag": []}
    names: dict[uuid.UUID, str] = {}
    for facet, value, count, name in rows:
        if facet == "total":
            total = int(count)
        else:
            out[facet].append((str(value), int(count)))
            if facet == "org":
                names[uuid.UUID(value)] = name
    for facet, values in out.items():
        out[facet] = sorted(values, key=lambda v: (-v[1], v[0]))[:top]
    capped = total > COUNT_LIMIT
    return min(total, COUNT_LIMIT), capped, out, names


# -- ingestion (crawls, dbt) --------------------------------------------------------------------
async def lock_many(session: AsyncSession, dataset_ids: Sequence[uuid.UUID]) -> list[Dataset]:
    """These datasets, locked for the transaction, in one lock order (no deadlocks)."""
    ordered = sorted(set(dataset_ids))
    found: list[Dataset] = []
    for start in range(0, len(ordered), 5000):  # bounded statement parameters
        found += await session.scalars(
            select(Dataset)
            .where(Dataset.id.in_(ordered[start : start + 5000]))
            .order_by(Dataset.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    return found


async def peek_many(
    session: AsyncSession, dataset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """These datasets' rows as plain rows (no lock, no ORM instance): what a source's
    observation is compared against before deciding which rows to lock (``lock_many``)."""
    ordered = sorted(set(dataset_ids))
    cols = [
        Dataset.id,
        Dataset.org_id,
        Dataset.name,
        Dataset.display_name,
        Dataset.description,
        Dataset.platform,
        Dataset.domain,
        Dataset.tags,
        Dataset.named_owners,
        Dataset.visibility,
        Dataset.status,
        Dataset.node_id,
        Dataset.source_database,
        Dataset.source_schema,
        Dataset.source_table,
        Dataset.source_path,
        Dataset.fields,
        Dataset.kind,
        Dataset.properties,
    ]
    found: dict[uuid.UUID, Any] = {}
    for start in range(0, len(ordered), 5000):  # bounded statement parameters
        result = await session.execute(
            select(*cols).where(Dataset.id.in_(ordered[start : start + 5000]))
        )
        found.update({row.id: row for row in result})
    return found


# The columns the bulk first-sight path writes, with their types for jsonb_to_recordset.
_FIRST_SIGHT = {
    "description": "text",
    "platform": "text",
    "origin": "text",
    "kind": "text",
    "properties": "jsonb",
    "fields": "jsonb",
    "tags": "text[]",
    "node_id": "uuid",
    "source_database": "text",
    "source_schema": "text",
    "source_table": "text",
    "created_by": "uuid",
}
# What the audit entry of a new dataset describes (``_snapshot``), as stored.
_AS_STORED = [
    "id",
    "name",
    "display_name",
    "description",
    "platform",
    "domain",
    "tags",
    "named_owners",
    "visibility",
    "status",
    "node_id",
    "source_database",
    "source_schema",
    "source_table",
    "source_path",
    "fields",
    "kind",
    "properties",
]
_AS_STORED_TYPES: dict[str, Any] = {
    "id": Uuid(),
    "tags": ARRAY(String()),
    "named_owners": ARRAY(String()),
    "node_id": Uuid(),
    "fields": JSONB(),
    "properties": JSONB(),
}
_FILL_CREATED = text(
    "UPDATE datasets AS d SET "
    + ", ".join(f"{c} = v.{c}" for c in _FIRST_SIGHT)
    + " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id uuid, "
    + ", ".join(f"{c} {t}" for c, t in _FIRST_SIGHT.items())
    + ") WHERE d.id = v.id AND d.org_id = :org_id RETURNING "
    + ", ".join(f"d.{c}" for c in _AS_STORED)
).columns(**_AS_STORED_TYPES)
_CREATED_ROWS = text(
    f"SELECT {', '.join(_AS_STORED)} FROM datasets WHERE id = ANY(:ids) AND org_id = :org_id"
    " ORDER BY id"
).columns(**_AS_STORED_TYPES)


async def fill_created(
    session: AsyncSession, org_id: uuid.UUID, rows: list[dict[str, Any]]
) -> list[Row[Any]]:
    """Write the content of datasets this transaction created, in one statement; back come
    the rows as stored, in id order (what their audit entries describe)."""
    if not rows:
        return []
    result = await session.execute(
        _FILL_CREATED, {"rows": orjson.dumps(rows, default=str).decode(), "org_id": org_id}
    )
    return sorted(result, key=lambda r: r.id)


async def created_rows(
    session: AsyncSession, org_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[Row[Any]]:
    """Datasets this transaction created with their content, as stored, in id order (the rows
    :func:`fill_created` gives back, for rows written once)."""
    if not ids:
        return []
    return list(await session.execute(_CREATED_ROWS, {"ids": list(ids), "org_id": org_id}))


async def add_owners(session: AsyncSession, owners: dict[uuid.UUID, list[uuid.UUID]]) -> None:
    """Owners of many datasets at once (new datasets: nothing to replace)."""
    values = [{"dataset_id": d, "user_id": u} for d, users in owners.items() for u in users]
    if values:
        await session.execute(insert(DatasetOwner).on_conflict_do_nothing(), values)


async def latest_schema_versions(
    session: AsyncSession, dataset_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    if not dataset_ids:
        return {}
    rows = await session.execute(
        select(SchemaVersion.dataset_id, func.max(SchemaVersion.version))
        .where(SchemaVersion.dataset_id.in_(list(dataset_ids)))
        .group_by(SchemaVersion.dataset_id)
    )
    return {r[0]: int(r[1]) for r in rows}


_VERSION_COLUMNS = {
    "id": "uuid",
    "dataset_id": "uuid",
    "version": "integer",
    "fields": "jsonb",
    "diff": "jsonb",
    "breaking": "boolean",
    "origin": "text",
    "source_id": "uuid",
}
_ADD_VERSIONS = text(
    f"INSERT INTO {SchemaVersion.__tablename__} ({', '.join(_VERSION_COLUMNS)}) SELECT "
    + ", ".join(_VERSION_COLUMNS)
    + " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v("
    + ", ".join(f"{c} {t}" for c, t in _VERSION_COLUMNS.items())
    + ")"
)


async def add_schema_versions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Schema versions in one statement, as one JSON document (a first crawl adds thousands;
    row by row, with a bound JSON value each, they cost about twice as much)."""
    if rows:
        doc = [{c: r[c] for c in _VERSION_COLUMNS} for r in rows]
        await session.execute(_ADD_VERSIONS, {"rows": orjson.dumps(doc, default=str).decode()})


async def schema_versions(
    session: AsyncSession, dataset_id: uuid.UUID, limit: int
) -> list[SchemaVersion]:
    return list(
        await session.scalars(
            select(SchemaVersion)
            .where(SchemaVersion.dataset_id == dataset_id)
            .order_by(SchemaVersion.version.desc())
            .limit(limit)
        )
    )


async def bound_to_source(
    session: AsyncSession, node_id: uuid.UUID, namespace: str, database: str, schemas: Sequence[str]
) -> list[uuid.UUID]:
    """Ids of the datasets bound to a node's database and schemas that are not removed."""
    if not schemas:
        return []
    return list(
        await session.scalars(
            select(Dataset.id).where(
                Dataset.node_id == node_id,
                Dataset.namespace == namespace,
                Dataset.source_database == database,
                Dataset.source_schema.in_(list(schemas)),
                Dataset.status != "removed",
            )
        )
    )
