"""The connector registry: which source types exist, their settings, secrets and testers.

A connector type is a plain, frozen :class:`ConnectorType` object exposed by a module and
registered under the ``datamesh.connectors`` entry-point group, so a plugin package can add a type
without touching this code. The six built-in types are also loaded directly, so the registry works
from a source checkout before the package metadata is reinstalled.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from datamesh.kit.ssrf import OutboundPolicy
from datamesh.secrets.references import REFERENCE_HINT, is_ref

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "datamesh.connectors"
BUILTIN_MODULES: tuple[str, ...] = (
    "datamesh.connectors.types.postgresql",
    "datamesh.connectors.types.http_api",
    "datamesh.connectors.types.snowflake",
    "datamesh.connectors.types.databricks",
    "datamesh.connectors.types.bigquery",
    "datamesh.connectors.types.redshift",
)
CAPABILITIES: tuple[str, ...] = ("test_connection", "connect_snippets", "schema_refresh", "crawl")
_TYPE_ID = re.compile(r"^[a-z][a-z0-9_]{1,48}$")


class UnknownConnector(LookupError):
    """No connector type with that id is registered."""

    def __init__(self, type_id: str) -> None:
        super().__init__(f"unknown connector type {type_id!r}")
        self.type_id = type_id


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """The result of a connection test, safe to show: messages and details are scrubbed."""

    __test__ = False  # not a pytest test class, despite the name

    ok: bool
    message: str
    latency_ms: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SecretField:
    """A secret a connector takes, as a reference (never a value)."""

    name: str
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation problem, with the path of the field it concerns."""

    path: list[str | int]
    message: str


# tester(config, secrets, timeout, policy): config already validated and with defaults applied;
# secrets are resolved values. It must honour the timeout and the policy for every connection.
Tester = Callable[
    [Mapping[str, Any], Mapping[str, str], float, OutboundPolicy], Awaitable[TestOutcome]
]


@dataclass(frozen=True, slots=True)
class CrawledColumn:
    name: str
    type: str
    nullable: bool | None = None
    default: str | None = None
    position: int | None = None
    comment: str = ""


@dataclass(slots=True)
class CrawledObject:
    """One table, view, materialized view or foreign table as the source's catalog says."""

    schema: str
    name: str
    kind: str  # table | partitioned_table | view | materialized_view | foreign_table
    comment: str = ""
    columns: list[CrawledColumn] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[dict[str, Any]] = field(default_factory=list)
    row_estimate: int | None = None
    size_bytes: int | None = None
    definition: str | None = None  # views: the query


@dataclass(slots=True)
class CrawlResult:
    """What a crawler read. ``complete`` is False when some part could not be read (then
    nothing may be marked removed); ``errors`` say what and why (scrubbed)."""

    namespace: str  # OpenLineage dataset namespace, e.g. postgres://db.internal:5432
    database: str
    schemas: list[str] = field(default_factory=list)  # the schemas read in full
    objects: list[CrawledObject] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    complete: bool = True


class CrawlRefused(Exception):
    """The crawler cannot crawl with these settings; the message says why and is safe to show."""


# progress(step, done, total): what the crawler is doing, for the live progress line.
Progress = Callable[[str, int, int], Awaitable[None]]
# crawler(config, secrets, timeout, policy, progress): config validated and with defaults;
# secrets resolved. ``timeout`` bounds each network wait (connect, one statement).
Crawler = Callable[
    [Mapping[str, Any], Mapping[str, str], float, OutboundPolicy, Progress],
    Awaitable[CrawlResult],
]


@dataclass(frozen=True, slots=True)
class ConnectorType:
    """What DataMesh knows about one kind of data source."""

    type: str
    title: str
    description: str
    capabilities: Mapping[str, bool]
    config_schema: Mapping[str, Any]
    secret_fields: tuple[SecretField, ...] = ()
    tester: Tester | None = None
    crawler: Crawler | None = None

    def __post_init__(self) -> None:
        if not _TYPE_ID.match(self.type):
            raise ValueError(f"connector type id {self.type!r} must match {_TYPE_ID.pattern}")
        unknown = set(self.capabilities) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"{self.type}: unknown capabilities {sorted(unknown)}")
        caps = {name: bool(self.capabilities.get(name, False)) for name in CAPABILITIES}
        object.__setattr__(self, "capabilities", caps)
        # A type never claims a test it cannot run, nor hides one it has.
        if caps["test_connection"] != (self.tester is not None):
            raise ValueError(f"{self.type}: test_connection capability must match the tester")
        if caps["crawl"] != (self.crawler is not None):
            raise ValueError(f"{self.type}: crawl capability must match the crawler")
        Draft202012Validator.check_schema(self.config_schema)
        if self.config_schema.get("type") != "object" or (
            self.config_schema.get("additionalProperties") is not False
        ):
            raise ValueError(f"{self.type}: config_schema must be a closed object schema")
        names = [s.name for s in self.secret_fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.type}: duplicate secret field")
        clash = set(names) & set(self.config_schema.get("properties", {}))
        if clash:
            raise ValueError(f"{self.type}: {sorted(clash)} are both config and secret fields")

    def secret_field(self, name: str) -> SecretField | None:
        return next((s for s in self.secret_fields if s.name == name), None)


# -- registration ------------------------------------------------------------------------------
_registry: dict[str, ConnectorType] | None = None


def _register(found: dict[str, ConnectorType], obj: object, source: str) -> None:
    if not isinstance(obj, ConnectorType):
        log.warning("connector %s is not a ConnectorType; ignored", source)
        return
    existing = found.get(obj.type)
    if existing is obj:
        return
    if existing is not None:
        log.warning("connector type %r from %s is already registered; ignored", obj.type, source)
        return
    found[obj.type] = obj


def _load() -> dict[str, ConnectorType]:
    found: dict[str, ConnectorType] = {}
    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        _register(found, getattr(module, "CONNECTOR", None), module_name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception:
            # One broken plugin must not take the catalog down; it is logged and skipped.
            log.warning("connector plugin %s (%s) failed to load", ep.name, ep.value, exc_info=True)
            continue
        _register(found, obj, f"entry point {ep.name} = {ep.value}")
    return found


def _types() -> dict[str, ConnectorType]:
    global _registry
    if _registry is None:
        _registry = _load()
    return _registry


def reload() -> None:
    """Forget loaded types so the next lookup scans entry points again (plugins, tests)."""
    global _registry
    _registry = None


def get(type_id: str) -> ConnectorType:
    try:
        return _types()[type_id]
    except KeyError:
        raise UnknownConnector(type_id) from None


def all_types() -> list[ConnectorType]:
    """Every registered type, sorted by id."""
    return [t for _, t in sorted(_types().items())]


def _resolve(connector: str | ConnectorType) -> ConnectorType:
    return connector if isinstance(connector, ConnectorType) else get(connector)


# -- validation --------------------------------------------------------------------------------
def apply_defaults(connector: str | ConnectorType, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config with top-level schema defaults filled in (what the tester and Connect see)."""
    schema = _resolve(connector).config_schema
    result = dict(config)
    for name, prop in schema.get("properties", {}).items():
        if name not in result and isinstance(prop, Mapping) and "default" in prop:
            result[name] = prop["default"]
    return result


def validate_config(connector: str | ConnectorType, config: object) -> list[FieldError]:
    """Every problem in a config, each with its field path; an empty list means valid."""
    schema = _resolve(connector).config_schema
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    errors: list[FieldError] = []
    for error in validator.iter_errors(config):
        # jsonschema reports "required" once per missing name, each with the whole list.
        for item in _field_errors(error):
            key = (tuple(item.path), item.message)
            if key not in seen:
                seen.add(key)
                errors.append(item)
    errors.sort(key=lambda e: [str(p) for p in e.path])
    return errors


def _custom_message(error: ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    messages = schema.get("x-errors")
    if isinstance(messages, Mapping):
        message = messages.get(str(error.validator))
        if isinstance(message, str):
            return message
    return None


def _field_errors(error: ValidationError) -> list[FieldError]:
    path: list[str | int] = list(error.absolute_path)
    keyword = str(error.validator)
    value = error.validator_value
    instance = error.instance
    custom = _custom_message(error)
    if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
        # The offending key itself is the field; error.path stops at its parent object.
        return [FieldError([*path, instance], custom or "is not an allowed name")]
    if keyword == "required" and isinstance(instance, Mapping) and isinstance(value, list):
        return [
            FieldError([*path, name], custom or "is required")
            for name in value
            if name not in instance
        ]
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = set(schema.get("properties", {}))
        return [
            FieldError([*path, name], custom or "is not a known field")
            for name in instance
            if name not in known
        ]
    if custom:
        return [FieldError(path, custom)]
    if keyword == "type":
        kinds = value if isinstance(value, list) else [value]
        return [FieldError(path, "must be " + " or ".join(_type_name(k) for k in kinds))]
    if keyword == "enum":
        options = value if isinstance(value, list) else [value]
        return [FieldError(path, "must be one of: " + ", ".join(str(v) for v in options))]
    if keyword in ("minimum", "exclusiveMinimum"):
        return [FieldError(path, f"must be {'>=' if keyword == 'minimum' else '>'} {value}")]
    if keyword in ("maximum", "exclusiveMaximum"):
        return [FieldError(path, f"must be {'<=' if keyword == 'maximum' else '<'} {value}")]
    if keyword == "minLength":
        return [FieldError(path, "must not be empty" if value == 1 else f"too short (min {value})")]
    if keyword == "maxLength":
        return [FieldError(path, f"too long (max {value} characters)")]
    if keyword == "pattern":
        return [FieldError(path, "has an invalid format")]
    if keyword == "format":
        return [FieldError(path, f"must be a valid {value}")]
    if keyword in ("maxItems", "maxProperties"):
        return [FieldError(path, f"has too many entries (max {value})")]
    if keyword in ("minItems", "minProperties"):
        return [FieldError(path, f"has too few entries (min {value})")]
    if keyword == "uniqueItems":
        return [FieldError(path, "has duplicate entries")]
    # jsonschema's own message quotes the submitted value (maybe a secret): never use it.
    return [FieldError(path, f"is not valid ({keyword})")]


def _type_name(kind: object) -> str:
    return {
        "object": "an object",
        "array": "a list",
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "null": "null",
    }.get(str(kind), str(kind))


def validate_secrets(
    connector: str | ConnectorType, secrets: object, *, require: bool = True
) -> list[FieldError]:
    """Problems with a map of secret field -> reference; never repeats a submitted value.

    ``require=False`` skips the missing-required check (for partial updates).
    """
    ctype = _resolve(connector)
    if not isinstance(secrets, Mapping):
        return [FieldError([], "must be an object of secret field -> reference")]
    errors: list[FieldError] = []
    known = ", ".join(s.name for s in ctype.secret_fields) or "none"
    for name, value in secrets.items():
        if ctype.secret_field(str(name)) is None:
            errors.append(
                FieldError([str(name)], f"is not a secret of {ctype.type} (known: {known})")
            )
        elif not isinstance(value, str) or not is_ref(value):
            errors.append(FieldError([str(name)], f"must be {REFERENCE_HINT}"))
    if require:
        errors.extend(
            FieldError([s.name], "is required")
            for s in ctype.secret_fields
            if s.required and s.name not in secrets
        )
    return errors
