"""Render Connect artifacts: a dataset plus a user's platform profile in, runnable code out.

Everything platform-specific lives in ``templates/<platform>/``: a ``platform.toml`` (how the
platform names and quotes tables) and one ``<kind>.j2`` per artifact kind. The registry is
discovered from those files, so adding a platform is adding a folder.

Templates run in Jinja's immutable sandbox with ``StrictUndefined``. They never print a raw
value: names go through the dialect quoting in ``quoting.py`` and strings through literal
filters (``pystr``, ``yaml``, ``dbt``, ``url``). Secrets appear only as the code that looks
the reference up at run time (``os.environ[...]``, a file read, a Vault read), never a value.
"""

from __future__ import annotations

import functools
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

from jinja2 import PackageLoader, StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

from datamesh.connect.quoting import (
    DIALECTS,
    dbt_str,
    py_literal,
    py_str,
    qualify,
    quote_ident,
    url_component,
    yaml_str,
)
from datamesh.secrets.references import InvalidSecretReference, SecretRef, parse_ref

__all__ = [
    "KINDS",
    "PLATFORMS",
    "Artifact",
    "DatasetSource",
    "FieldInfo",
    "InvalidProfile",
    "ProfileInfo",
    "RenderResult",
    "UnsupportedKind",
    "UnsupportedPlatform",
    "available_kinds",
    "preload",
    "render",
]

ROW_LIMIT: Final = 100

# Canonical order of the kinds we know, with the language and file name of their artifact.
# A template for a kind not listed here still renders, as text named after the kind.
KINDS: Final[dict[str, tuple[str, str]]] = {
    "python": ("python", "connect_{slug}.py"),
    "sql": ("sql", "query.sql"),
    "pyspark": ("python", "spark_{slug}.py"),
    "jdbc": ("text", "jdbc_url.txt"),
    "dbt": ("yaml", "sources.yml"),
}

# Other spellings of platform names seen in catalogs (OpenLineage namespaces use "postgres").
_ALIASES: Final = {"postgres": "postgresql", "pg": "postgresql", "gcp-bigquery": "bigquery"}


# --- public types -----------------------------------------------------------------------------


class UnsupportedPlatform(ValueError):
    """No templates exist for the requested platform."""


class UnsupportedKind(ValueError):
    """The platform has no template for the requested artifact kind."""


class InvalidProfile(ValueError):
    """A profile value is malformed; the message names the key, never the value."""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetSource:
    """Where a catalog dataset lives; missing parts are derived from ``name`` (``db.schema.t``)."""

    namespace: str
    name: str
    platform: str
    database: str | None = None
    schema: str | None = None
    table: str | None = None
    path: str | None = None
    fields: list[FieldInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ProfileInfo:
    """A user's platform profile: plain settings, and secrets as references only."""

    platform: str
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Artifact:
    kind: str
    language: str
    filename: str
    content: str


@dataclass(frozen=True, slots=True)
class RenderResult:
    artifacts: list[Artifact]
    warnings: list[str]


# --- platform registry ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Platform:
    name: str
    label: str
    dialect: str
    qualify: tuple[str, ...]
    database_setting: str | None
    default_schema: str | None
    max_identifier_bytes: int | None
    folds_quoted_to_lower: bool
    namespace_host: str | None
    namespace_port: str | None
    kinds: tuple[str, ...]


_PARTS: Final = ("database", "schema", "table")


def _load_platform(name: str, meta: Mapping[str, Any], kinds: Iterable[str]) -> _Platform:
    qual = tuple(meta.get("qualify", _PARTS))
    if not qual or qual[-1] != "table" or any(p not in _PARTS for p in qual):
        raise RuntimeError(f"templates/{name}/platform.toml: bad 'qualify'")
    if meta.get("dialect") not in DIALECTS:
        raise RuntimeError(f"templates/{name}/platform.toml: unknown 'dialect'")
    ns = meta.get("namespace", {})
    known = [k for k in KINDS if k in kinds]
    return _Platform(
        name=name,
        label=str(meta.get("label", name)),
        dialect=str(meta["dialect"]),
        qualify=qual,
        database_setting=meta.get("database_setting") or None,
        default_schema=meta.get("default_schema") or None,
        max_identifier_bytes=meta.get("max_identifier_bytes"),
        folds_quoted_to_lower=bool(meta.get("folds_quoted_to_lower", False)),
        namespace_host=ns.get("host") or None,
        namespace_port=ns.get("port") or None,
        kinds=tuple(known + sorted(set(kinds) - set(known))),
    )


@functools.cache
def _registry() -> dict[str, _Platform]:
    """Discover platforms and kinds from the template folders (once per process)."""
    root = resources.files("datamesh.connect") / "templates"
    found: dict[str, _Platform] = {}
    for folder in root.iterdir():
        if not folder.is_dir() or folder.name.startswith(("_", ".")):
            continue
        meta_file = folder / "platform.toml"
        if not meta_file.is_file():
            raise RuntimeError(f"templates/{folder.name} has no platform.toml")
        meta = tomllib.loads(meta_file.read_text(encoding="utf-8"))
        kinds = [
            f.name.removesuffix(".j2")
            for f in folder.iterdir()
            if f.is_file() and f.name.endswith(".j2") and not f.name.startswith("_")
        ]
        found[folder.name] = _load_platform(folder.name, meta, kinds)
    return dict(sorted(found.items()))


@functools.cache
def _environment() -> ImmutableSandboxedEnvironment:
    """One sandboxed environment per process; it keeps compiled templates cached."""
    env = ImmutableSandboxedEnvironment(
        loader=PackageLoader("datamesh.connect", "templates"),
        autoescape=False,  # the output is code, not HTML; values are encoded by filters
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=-1,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(
        pystr=py_str,
        pyrepr=py_literal,
        yaml=yaml_str,
        dbt=dbt_str,
        url=url_component,
        qident=quote_ident,
        qualify=qualify,
        slug=_slug,
    )
    return env


@functools.cache
def _template(platform: str, kind: str) -> Template:
    return _environment().get_template(f"{platform}/{kind}.j2")


PLATFORMS: Final[tuple[str, ...]] = tuple(_registry())


def _platform(name: str) -> _Platform:
    key = (name or "").strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return _registry()[key]
    except KeyError:
        raise UnsupportedPlatform(
            f"unsupported platform {name!r}; supported: {', '.join(PLATFORMS)}"
        ) from None


def preload() -> None:
    """Compile every template now (e.g. at app start) so no request pays for it."""
    for platform in _registry().values():
        for kind in platform.kinds:
            _template(platform.name, kind)


def available_kinds(platform: str) -> list[str]:
    """Artifact kinds the platform has templates for, in display order."""
    return list(_platform(platform).kinds)


# --- profile validation -----------------------------------------------------------------------

_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)
# Settings that end up in URLs or host names get a strict shape; the rest are free text
# (they only ever reach code through literal filters).
_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    "host": _HOSTNAME,
    "workspace_host": _HOSTNAME,
    "account": re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z"),
    "http_path": re.compile(r"/[A-Za-z0-9/_.-]{0,500}\Z"),
    "project": re.compile(r"(?:[a-z0-9][a-z0-9.-]*:)?[a-z0-9][a-z0-9-]{0,62}\Z"),
    "location": re.compile(r"[A-Za-z0-9-]{1,64}\Z"),
    "region": re.compile(r"[a-z0-9-]{1,64}\Z"),
    "workgroup": re.compile(r"[a-z0-9-]{1,64}\Z"),
    "account_id": re.compile(r"[0-9]{12}\Z"),
    # not a setting: a name simple enough for ;key=value driver URLs (ConnCatalog=...)
    "simple_name": re.compile(r"[A-Za-z0-9_]{1,255}\Z"),
    "key_path": re.compile(r"/[A-Za-z0-9/_.-]{1,1000}\Z"),
}
_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "credentials_method": ("adc", "service_account_file"),
}
_KNOWN_TEXT: Final = {
    *_PATTERNS,
    *_CHOICES,
    *("user", "role", "warehouse", "authenticator", "database", "catalog"),
}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _clean_setting(key: str, value: Any) -> Any:
    """Validate one setting; ``None`` means "not set". Errors never echo the value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if key == "port":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise InvalidProfile("setting 'port' must be an integer")
        text = str(value).strip()
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise InvalidProfile("setting 'port' must be between 1 and 65535")
        return int(text)
    if key == "iam":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise InvalidProfile("setting 'iam' must be true or false")
    if not isinstance(value, str):
        if isinstance(value, bool | int):
            return value
        if key in _KNOWN_TEXT:
            raise InvalidProfile(f"setting {key!r} must be text")
        return None  # structured extras are for other consumers; templates never read them
    text = value.strip()
    if "\x00" in text:
        raise InvalidProfile(f"setting {key!r} must not contain NUL")
    if key in ("workspace_host", "account"):  # people paste URLs; keep the bare name
        text = re.sub(r"^https?://", "", text, flags=re.IGNORECASE).rstrip("/")
    if key == "account":
        text = re.sub(r"\.snowflakecomputing\.com$", "", text, flags=re.IGNORECASE)
    if key in _CHOICES and text.lower() not in _CHOICES[key]:
        raise InvalidProfile(f"setting {key!r} must be one of {', '.join(_CHOICES[key])}")
    if key in _CHOICES:
        return text.lower()
    pattern = _PATTERNS.get(key)
    if pattern is not None and not pattern.match(text):
        raise InvalidProfile(f"setting {key!r} is not a valid {key.replace('_', ' ')}")
    return text


def _clean_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = {}
    for key, value in raw.items():
        value = _clean_setting(str(key), value)
        if value is not None:
            cleaned[str(key)] = value
    return cleaned


def _clean_secrets(raw: Mapping[str, str]) -> dict[str, SecretRef]:
    refs = {}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        try:
            refs[str(key)] = parse_ref(value)
        except InvalidSecretReference:
            # Never repeat the value: it may be a raw secret pasted in by mistake.
            raise InvalidProfile(
                f"secret {key!r} must be a reference: env:NAME, file:/path or vault:mount/path#key"
            ) from None
    return refs


def _namespace_defaults(platform: _Platform, namespace: str) -> dict[str, Any]:
    """Host/port from an OpenLineage namespace (``postgres://host:5432``), when valid."""
    defaults: dict[str, Any] = {}
    try:
        parts = urlsplit(namespace)
        host, port = parts.hostname, parts.port
    except ValueError:
        return defaults
    for key, value in ((platform.namespace_host, host), (platform.namespace_port, port)):
        if key and value is not None:
            try:
                cleaned = _clean_setting(key, value)
            except InvalidProfile:
                continue
            if cleaned is not None:
                defaults[key] = cleaned
    return defaults


# --- dataset naming ---------------------------------------------------------------------------


def _split_name(name: str) -> tuple[str | None, str | None, str | None]:
    """``db.schema.table`` → parts; extra leading dots stay in the database part
    (BigQuery's domain-scoped ``example.com:project``)."""
    pieces = name.split(".")
    if len(pieces) == 1:
        return None, None, pieces[0] or None
    if len(pieces) == 2:
        return None, pieces[0] or None, pieces[1] or None
    return ".".join(pieces[:-2]) or None, pieces[-2] or None, pieces[-1] or None


def _slug(value: str) -> str:
    """A plain ASCII token for file names and dbt source names."""
    slug = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")[:48].strip("_")
    return slug or "dataset"


@dataclass(frozen=True, slots=True)
class _Location:
    database: str | None
    schema: str | None
    table: str
    parts: tuple[str, ...]


def _locate(
    dataset: DatasetSource, platform: _Platform, settings: Mapping[str, Any], warn: _Warnings
) -> _Location:
    d, s, t = _split_name(dataset.name.strip())
    database = dataset.database or d
    if not database and platform.database_setting:
        database = settings.get(platform.database_setting)
    schema = dataset.schema or s or platform.default_schema
    table = dataset.table or t
    if not table:
        raise ValueError("the dataset has no table name")
    values = {"database": database, "schema": schema, "table": table}
    parts: list[str] = []
    for part in platform.qualify:
        value = values[part]
        if value:
            parts.append(str(value))
        elif parts:  # a gap in the middle (db known, schema not): keep only what follows
            parts.clear()
    if "schema" in platform.qualify and not schema:
        warn.add(
            f"The dataset has no {platform.label} schema; the query uses the unqualified "
            "table name and relies on the connection's default."
        )
    limit = platform.max_identifier_bytes
    if limit and any(len(p.encode()) > limit for p in parts):
        warn.add(f"A name is longer than {limit} bytes; {platform.label} truncates or rejects it.")
    if platform.folds_quoted_to_lower and any(p != p.lower() for p in parts):
        warn.add(
            f"{platform.label} folds even quoted identifiers to lower case unless "
            "enable_case_sensitive_identifier is on; the names here have upper-case letters."
        )
    return _Location(
        database=str(database) if database else None,
        schema=str(schema) if schema else None,
        table=str(table),
        parts=tuple(parts),
    )


# --- per-render helper exposed to templates ---------------------------------------------------


class _Warnings:
    """Ordered, de-duplicated warnings shared by all artifacts of one render."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        if message not in self.items:
            self.items.append(message)


_HELPERS: Final = {
    "vault_secret": (
        "def vault_secret(mount: str, path: str, key: str) -> str:\n"
        '    """One key of a Vault/OpenBao KV v2 secret; VAULT_ADDR and VAULT_TOKEN come from the\n'
        '    environment, so no credential is written here."""\n'
        '    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])\n'
        "    response = client.secrets.kv.v2.read_secret_version(mount_point=mount, path=path)\n"
        '    return str(response["data"]["data"][key])'
    ),
}


class _Conn:
    """The ``conn`` object templates call: it turns settings and secret references into code.

    Every method returns text that is already safe for its target (a Python expression, a URL
    piece); missing values become a clearly named environment-variable lookup plus a warning.
    It also collects the imports the generated code needs, emitted by ``imports()``.
    """

    def __init__(
        self,
        platform: _Platform,
        settings: Mapping[str, Any],
        secrets: Mapping[str, SecretRef],
        warnings: _Warnings,
    ) -> None:
        self._platform = platform
        self._settings = settings
        self._secrets = secrets
        self._warnings = warnings
        self._imports: set[str] = set()
        self._helpers: set[str] = set()

    # plain questions
    def has(self, key: str) -> bool:
        return key in self._settings

    def value(self, key: str, default: Any = None) -> Any:
        return self._settings.get(key, default)

    def has_secret(self, key: str) -> bool:
        return key in self._secrets

    def secret_scheme(self, key: str) -> str | None:
        ref = self._secrets.get(key)
        return ref.scheme if ref else None

    def matches(self, shape: str, value: Any) -> bool:
        """Whether ``value`` has the strict shape of a setting (for driver URLs)."""
        return isinstance(value, str) and bool(_PATTERNS[shape].match(value))

    def secret_path(self, key: str) -> str | None:
        """The file path of a ``file:`` reference (a location, not a secret)."""
        ref = self._secrets.get(key)
        return ref.location if ref and ref.scheme == "file" else None

    # Python expressions
    def use(self, *modules: str) -> str:
        """Record imports (``"os"`` or ``"from x import y"``); renders as nothing."""
        self._imports.update(modules)
        return ""

    def env(self, name: str) -> str:
        self._imports.add("os")
        return f"os.environ[{py_str(name)}]"

    def py(self, key: str, env: str) -> str:
        """The setting as a Python literal, or an environment lookup when it is missing."""
        if key in self._settings:
            return py_literal(self._settings[key])
        self._missing(f"has no {key!r} setting", env)
        return self.env(env)

    def py_value(self, value: Any, env: str, what: str) -> str:
        """Like ``py`` for a value derived from the dataset."""
        if value not in (None, ""):
            return py_literal(value)
        self._missing(f"gives no {what}", env, subject="dataset")
        return self.env(env)

    def secret(self, key: str, env: str) -> str:
        """Code that reads the secret from where its reference points, at run time."""
        ref = self._secrets.get(key)
        if ref is None:
            self._missing(f"has no {key!r} secret reference", env)
            return self.env(env)
        if ref.scheme == "env":
            return self.env(ref.location)
        if ref.scheme == "file":
            self._imports.add("pathlib")
            return f"pathlib.Path({py_str(ref.location)}).read_text().strip()"
        self._imports.update(("os", "hvac"))
        self._helpers.add("vault_secret")
        args = (ref.mount or "", ref.path or "", ref.key or "")
        return f"vault_secret({', '.join(py_str(a) for a in args)})"

    # URL pieces (JDBC text): percent-encoded, or a ${ENV} placeholder when missing
    def url(self, key: str, env: str) -> str:
        if key in self._settings:
            return url_component(str(self._settings[key]))
        self._missing(f"has no {key!r} setting", env)
        return "${" + env + "}"

    def url_value(self, value: Any, env: str, what: str) -> str:
        if value not in (None, ""):
            return url_component(str(value))
        self._missing(f"gives no {what}", env, subject="dataset")
        return "${" + env + "}"

    def warn(self, message: str) -> str:
        self._warnings.add(message)
        return ""

    def requires(self, *packages: str) -> str:
        """The pip packages the generated code imports: the platform's, plus what the secret
        lookups need (call it after the code is rendered)."""
        extra = ["hvac"] if "vault_secret" in self._helpers else []
        return " ".join([*packages, *extra])

    def helpers(self) -> str:
        """Helper functions the secret lookups call, each preceded by two blank lines."""
        return "".join("\n\n\n" + _HELPERS[name] for name in sorted(self._helpers))

    def imports(self) -> str:
        """Import lines, standard library first, as isort would group them."""
        std: list[str] = []
        third: list[str] = []
        for line in sorted(self._imports, key=lambda m: (m.startswith("from "), m)):
            text = line if line.startswith(("from ", "import ")) else f"import {line}"
            root = text.split()[1].split(".")[0]
            (std if root in sys.stdlib_module_names else third).append(text)
        return "\n\n".join("\n".join(group) for group in (std, third) if group)

    def _missing(self, what: str, env: str, subject: str = "profile") -> None:
        if not env:
            raise RuntimeError(f"template bug: {what} and no environment fallback is named")
        self._warnings.add(
            f"The {self._platform.label} {subject} {what}: the generated code reads the "
            f"{env} environment variable instead."
        )


# --- rendering --------------------------------------------------------------------------------


def _filename(kind: str, slug: str) -> tuple[str, str]:
    language, pattern = KINDS.get(kind, ("text", f"{kind}.txt"))
    return language, pattern.format(slug=slug)


def render(
    dataset: DatasetSource, profile: ProfileInfo, kinds: Sequence[str] | None = None
) -> RenderResult:
    """Render connection artifacts for ``dataset`` on its platform with the user's profile.

    The dataset's platform decides the templates. A profile for another platform contributes
    nothing (its settings would be meaningless there); the code then reads every connection
    value from the environment and the warnings say so.
    """
    platform = _platform(dataset.platform)
    wanted = list(platform.kinds) if kinds is None else list(dict.fromkeys(kinds))
    for kind in wanted:
        if kind not in platform.kinds:
            raise UnsupportedKind(
                f"{platform.label} has no {kind!r} artifact; available: {', '.join(platform.kinds)}"
            )

    warnings = _Warnings()
    same = _ALIASES.get(profile.platform.strip().lower(), profile.platform.strip().lower())
    if same == platform.name:
        settings = _clean_settings(profile.settings)
        secrets = _clean_secrets(profile.secrets)
    else:
        settings, secrets = {}, {}
        warnings.add(
            f"Your profile is for another platform, but this dataset lives on {platform.label}; "
            f"set up a {platform.label} profile to fill in the connection."
        )
    defaults = _namespace_defaults(platform, dataset.namespace)
    from_namespace = {k: v for k, v in defaults.items() if k not in settings}
    for key, value in from_namespace.items():
        # The namespace is catalog data anyone publishing can set: say where credentials go.
        warnings.add(
            f"The {platform.label} {key} {value} comes from the dataset's namespace, not your "
            "profile; check it before running code that sends your credentials there."
        )
    settings = {**settings, **from_namespace}

    where = _locate(dataset, platform, settings, warnings)
    table_sql = qualify(where.parts, platform.dialect)
    slug = _slug(where.table)
    context: dict[str, Any] = {
        "platform": {"name": platform.name, "label": platform.label, "dialect": platform.dialect},
        "dataset": {
            "namespace": dataset.namespace,
            "name": dataset.name,
            "database": where.database,
            "schema": where.schema,
            "table": where.table,
            "parts": list(where.parts),
            "path": dataset.path,
            "fields": [{"name": f.name, "type": f.type or ""} for f in dataset.fields],
            "slug": slug,
        },
        "table_sql": table_sql,
        "query": f"SELECT * FROM {table_sql} LIMIT {ROW_LIMIT}",
        "limit": ROW_LIMIT,
    }

    artifacts = []
    for kind in wanted:
        conn = _Conn(platform, settings, secrets, warnings)
        content = _template(platform.name, kind).render(context, conn=conn)
        language, filename = _filename(kind, slug)
        artifacts.append(Artifact(kind=kind, language=language, filename=filename, content=content))
    return RenderResult(artifacts=artifacts, warnings=list(warnings.items))
