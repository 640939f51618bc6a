"""Parse OpenLineage events (RunEvent, DatasetEvent, JobEvent) into typed models.

Pure functions, no I/O: the ingestion endpoint, the CLI and tests share them. Producers in the
wild are sloppy, so the parser is strict only about what lineage cannot do without (a time, a
job or dataset identity, well-typed dataset lists, sane sizes) and tolerant elsewhere: a
missing ``eventType``, absent ``inputs``/``outputs``, non-UUID run ids, unknown top-level keys and
unknown facets all pass. A known facet with a broken shape is kept raw and reported in
``ParsedEvent.warnings`` instead of rejecting an otherwise good event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_COLUMN_EDGES",
    "MAX_DATASETS",
    "MAX_NAME_LENGTH",
    "ColumnEdge",
    "DatasetRef",
    "EventKind",
    "EventType",
    "InvalidEvent",
    "JobRef",
    "JobTypeInfo",
    "Owner",
    "ParentRun",
    "ParsedEvent",
    "Problem",
    "Quality",
    "QualityAssertion",
    "RunInfo",
    "SchemaField",
    "SourceCodeLocation",
    "error_message",
    "job_type",
    "owner_email",
    "parse_event",
]

MAX_NAME_LENGTH = 1000
"""Longest namespace/name accepted; real table paths and job names are far shorter."""
MAX_DATASETS = 10_000
"""Most datasets (inputs + outputs) in one event."""
MAX_COLUMN_EDGES = 200_000
"""Most column-lineage edges in one event, so one payload cannot blow up storage."""

EventType = Literal["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"]
_EVENT_TYPES: frozenset[str] = frozenset({"START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"})
JobTypeName = Literal["airflow", "spark", "dbt", "sql", "other"]


class EventKind(StrEnum):
    RUN = "run"
    DATASET = "dataset"
    JOB = "job"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an event, with a JSON-ish path such as ``inputs[3].name``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidEvent(ValueError):
    """The event cannot be used; ``problems`` lists every reason found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid OpenLineage event: " + "; ".join(str(p) for p in problems))

    @property
    def errors(self) -> list[dict[str, str]]:
        """Shape suited to a problem+json ``errors`` member."""
        return [{"loc": p.path, "msg": p.message} for p in self.problems]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SchemaField(_Model):
    """A column from the ``schema`` dataset facet; struct members nest in ``fields``."""

    name: str
    type: str | None = None
    description: str | None = None
    fields: list[SchemaField] = Field(default_factory=list)


class ColumnEdge(_Model):
    """One input column feeding one output column (``output_field`` None = whole dataset,
    from the facet's dataset-level list: filters, joins, grouping)."""

    output_field: str | None
    input_namespace: str
    input_name: str
    input_field: str
    transformation_type: str | None = None
    transformation_subtype: str | None = None
    description: str | None = None
    masking: bool | None = None


class Owner(_Model):
    name: str
    type: str | None = None


class QualityAssertion(_Model):
    """One test of the ``dataQualityAssertions`` facet; ``success`` False means issues found."""

    assertion: str
    success: bool
    column: str | None = None
    severity: str | None = None
    name: str | None = None
    description: str | None = None
    expected: str | None = None
    actual: str | None = None


class Quality(_Model):
    """What a run measured on a dataset: ``dataQualityMetrics`` (rowCount, bytes, fileCount,
    columnMetrics), ``outputStatistics`` (rowCount, size, fileCount), ``dataQualityAssertions``
    and the dataset's ``version`` facet."""

    row_count: int | None = None
    bytes: int | None = None
    file_count: int | None = None
    column_metrics: dict[str, Any] = Field(default_factory=dict)
    assertions: list[QualityAssertion] = Field(default_factory=list)
    dataset_version: str | None = None


class DatasetRef(_Model):
    namespace: str
    name: str
    fields: list[SchemaField] = Field(default_factory=list)
    column_lineage: list[ColumnEdge] = Field(default_factory=list)
    facets: dict[str, Any] = Field(default_factory=dict)
    input_facets: dict[str, Any] = Field(default_factory=dict)
    output_facets: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    owners: list[Owner] | None = None
    """None: no ownership facet (leave owners alone); a list: the facet's owners."""
    quality: Quality | None = None


class SourceCodeLocation(_Model):
    type: str | None = None
    url: str | None = None
    repo_url: str | None = None
    path: str | None = None
    version: str | None = None
    tag: str | None = None
    branch: str | None = None


class JobTypeInfo(_Model):
    processing_type: str | None = None
    integration: str | None = None
    job_type: str | None = None


class JobRef(_Model):
    """A job and what its well-known facets say; ``facets`` keeps every facet as sent."""

    namespace: str
    name: str
    facets: dict[str, Any] = Field(default_factory=dict)
    sql: str | None = None
    sql_dialect: str | None = None
    source_code_location: SourceCodeLocation | None = None
    job_type: JobTypeInfo | None = None
    description: str | None = None
    owners: list[Owner] = Field(default_factory=list)


class ParentRun(_Model):
    """The run that spawned this one (an Airflow DAG run for a task run, say)."""

    run_id: str
    job_namespace: str
    job_name: str
    root_run_id: str | None = None
    root_job_namespace: str | None = None
    root_job_name: str | None = None


class RunInfo(_Model):
    run_id: str
    facets: dict[str, Any] = Field(default_factory=dict)
    parent: ParentRun | None = None


class ParsedEvent(_Model):
    kind: EventKind
    event_type: EventType | None
    event_time: datetime
    producer: str | None = None
    schema_url: str | None = None
    job: JobRef | None = None
    run: RunInfo | None = None
    inputs: list[DatasetRef] = Field(default_factory=list)
    outputs: list[DatasetRef] = Field(default_factory=list)
    dataset: DatasetRef | None = None
    warnings: list[str] = Field(default_factory=list)

    @property
    def job_type(self) -> JobTypeName:
        return job_type(self.job, self.producer)


# -- parsing ------------------------------------------------------------------------------------


class _Ctx:
    """Collects problems (fatal) and warnings (facets we could not read) while parsing."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.column_edges = 0

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def _identity(ctx: _Ctx, obj: Mapping[str, Any], path: str, key: str) -> str | None:
    """A required namespace/name: non-empty string, bounded, no NUL (PostgreSQL rejects it)."""
    where = f"{path}.{key}" if path else key
    if key not in obj or obj[key] is None:
        ctx.fail(where, "is required")
        return None
    value = obj[key]
    if not isinstance(value, str):
        ctx.fail(where, f"must be a string, got {_type_name(value)}")
        return None
    if not value.strip():
        ctx.fail(where, "must not be empty")
        return None
    if len(value) > MAX_NAME_LENGTH:
        ctx.fail(where, f"is longer than {MAX_NAME_LENGTH} characters ({len(value)})")
        return None
    if "\x00" in value:
        ctx.fail(where, "must not contain NUL characters")
        return None
    return value


def _facet_map(ctx: _Ctx, obj: Mapping[str, Any], path: str, key: str) -> dict[str, Any]:
    """An optional facets object: null or absent is empty; any other non-object is an error."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        ctx.fail(f"{path}.{key}", f"must be an object, got {_type_name(value)}")
        return {}
    return dict(value)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_ISO_START = re.compile(r"^\d{4}-?\d{2}-?\d{2}[Tt ]\d{2}")
_ZONE_ID_SUFFIX = re.compile(r"\[[^\]]*\]$")  # Java ZonedDateTime.toString(): ...Z[UTC]


def _event_time(ctx: _Ctx, obj: Mapping[str, Any]) -> datetime | None:
    raw = obj.get("eventTime")
    if raw is None:
        ctx.fail("eventTime", "is required")
        return None
    if not isinstance(raw, str):
        ctx.fail("eventTime", f"must be an ISO 8601 string, got {_type_name(raw)}")
        return None
    text = _ZONE_ID_SUFFIX.sub("", raw.strip())
    if not _ISO_START.match(text):
        ctx.fail("eventTime", f"is not an ISO 8601 date-time: {raw[:64]!r}")
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        ctx.fail("eventTime", f"is not an ISO 8601 date-time: {raw[:64]!r}")
        return None
    if value.tzinfo is None:  # the spec wants an offset; a naive time is read as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _event_type(ctx: _Ctx, obj: Mapping[str, Any]) -> EventType | None:
    raw = obj.get("eventType")
    if raw is None:
        return None
    if not isinstance(raw, str):
        ctx.fail("eventType", f"must be a string, got {_type_name(raw)}")
        return None
    value = raw.strip().upper()
    if value not in _EVENT_TYPES:
        ctx.fail("eventType", f"must be one of {', '.join(sorted(_EVENT_TYPES))}, got {raw[:32]!r}")
        return None
    return cast(EventType, value)


def _schema_fields(ctx: _Ctx, raw: Any, path: str, depth: int = 0) -> list[SchemaField]:
    if not isinstance(raw, list):
        ctx.warn(path, "schema fields must be an array; facet kept unparsed")
        return []
    out: list[SchemaField] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            ctx.warn(f"{path}[{i}]", "schema field without a string name skipped")
            continue
        nested = item.get("fields")
        children = (
            _schema_fields(ctx, nested, f"{path}[{i}].fields", depth + 1)
            if nested and depth < 32
            else []
        )
        out.append(
            SchemaField(
                name=item["name"],
                type=_opt_str(item.get("type")),
                description=_opt_str(item.get("description")),
                fields=children,
            )
        )
    return out


def _column_edges_for(
    ctx: _Ctx, output_field: str | None, inputs: Any, path: str, legacy: Mapping[str, Any]
) -> list[ColumnEdge]:
    if not isinstance(inputs, list):
        ctx.warn(path, "column lineage inputs must be an array; skipped")
        return []
    edges: list[ColumnEdge] = []
    for i, item in enumerate(inputs):
        where = f"{path}[{i}]"
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) and item.get(k) for k in ("namespace", "name", "field")
        ):
            ctx.warn(where, "column lineage input needs namespace, name and field; skipped")
            continue
        transformations = item.get("transformations")
        if not isinstance(transformations, list) or not transformations:
            # Facet 1-0-x: one type/description per output field, no per-input transformations.
            transformations = [
                {
                    "type": legacy.get("transformationType"),
                    "description": legacy.get("transformationDescription"),
                }
            ]
        for raw_t in transformations:
            t = _obj(raw_t)
            masking = t.get("masking")
            edges.append(
                ColumnEdge(
                    output_field=output_field,
                    input_namespace=item["namespace"],
                    input_name=item["name"],
                    input_field=item["field"],
                    transformation_type=_opt_str(t.get("type")),
                    transformation_subtype=_opt_str(t.get("subtype")),
                    description=_opt_str(t.get("description")),
                    masking=masking if isinstance(masking, bool) else None,
                )
            )
    ctx.column_edges += len(edges)
    return edges


def _column_lineage(ctx: _Ctx, facet: Any, path: str) -> list[ColumnEdge]:
    if not isinstance(facet, dict):
        ctx.warn(path, "columnLineage facet must be an object; kept unparsed")
        return []
    edges: list[ColumnEdge] = []
    fields = facet.get("fields")
    if fields is not None:
        if isinstance(fields, dict):
            for out_field, spec in fields.items():
                where = f"{path}.fields.{out_field}"
                if not isinstance(spec, dict):
                    ctx.warn(where, "must be an object; skipped")
                    continue
                edges += _column_edges_for(
                    ctx, out_field, spec.get("inputFields"), f"{where}.inputFields", spec
                )
        else:
            ctx.warn(f"{path}.fields", "must be an object; skipped")
    dataset_level = facet.get("dataset")
    if dataset_level:
        edges += _column_edges_for(ctx, None, dataset_level, f"{path}.dataset", {})
    return edges


def _facet_obj(ctx: _Ctx, facets: Mapping[str, Any], key: str, path: str) -> dict[str, Any] | None:
    """A well-known facet as an object, or None (absent, or a broken shape: a warning)."""
    value = facets.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        ctx.warn(f"{path}.{key}", "must be an object; kept unparsed")
        return None
    return value


def _documentation(facet: Mapping[str, Any] | None) -> str | None:
    """The ``documentation`` facet's description (jobs and datasets alike)."""
    return _opt_str(facet.get("description")) if facet else None


def _owners(ctx: _Ctx, facet: Mapping[str, Any] | None, path: str) -> list[Owner] | None:
    """The ``ownership`` facet's owners (jobs and datasets alike); None without the facet."""
    if facet is None:
        return None
    raw_owners = facet.get("owners") or []
    if not isinstance(raw_owners, list):
        ctx.warn(f"{path}.owners", "must be an array; skipped")
        return []
    return [
        Owner(name=o["name"].strip()[:300], type=_opt_str(o.get("type")))
        for o in raw_owners[:50]
        if isinstance(o, dict) and isinstance(o.get("name"), str) and o["name"].strip()
    ]


def _count(value: Any) -> int | None:
    """A non-negative count (JSON numbers may arrive as 12.0; booleans are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value < 0 or value > 2**63 - 1 or int(value) != value:
        return None
    return int(value)


def _short(value: Any, size: int = 2000) -> str | None:
    if isinstance(value, str):
        return value[:size]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _quality(ctx: _Ctx, path: str, *maps: Mapping[str, Any]) -> Quality | None:
    """Quality facets from a dataset's facets, input facets and output facets (producers put
    ``dataQualityMetrics`` in either; the spec's place wins when both are there)."""

    def pick(key: str) -> dict[str, Any] | None:
        for m in maps:
            found = _facet_obj(ctx, m, key, path)
            if found is not None:
                return found
        return None

    metrics = pick("dataQualityMetrics")
    stats = pick("outputStatistics")
    asserts = pick("dataQualityAssertions")
    version = pick("version")
    if metrics is None and stats is None and asserts is None:
        return None
    assertions: list[QualityAssertion] = []
    if asserts is not None:
        raw = asserts.get("assertions")
        if isinstance(raw, list):
            for item in raw[:1000]:
                if not (
                    isinstance(item, dict)
                    and isinstance(item.get("assertion"), str)
                    and isinstance(item.get("success"), bool)
                ):
                    ctx.warn(f"{path}.dataQualityAssertions", "assertion needs a name and success")
                    continue
                assertions.append(
                    QualityAssertion(
                        assertion=item["assertion"][:300],
                        success=item["success"],
                        column=_short(item.get("column"), 300),
                        severity=_short(item.get("severity"), 40),
                        name=_short(item.get("name"), 300),
                        description=_short(item.get("description")),
                        expected=_short(item.get("expected")),
                        actual=_short(item.get("actual")),
                    )
                )
        else:
            ctx.warn(f"{path}.dataQualityAssertions.assertions", "must be an array; skipped")
    m, st = metrics or {}, stats or {}
    columns = m.get("columnMetrics")
    return Quality(
        row_count=_count(st.get("rowCount")) if "rowCount" in st else _count(m.get("rowCount")),
        bytes=_count(st.get("size")) if "size" in st else _count(m.get("bytes")),
        file_count=(
            _count(st.get("fileCount")) if "fileCount" in st else _count(m.get("fileCount"))
        ),
        column_metrics=dict(list(columns.items())[:500]) if isinstance(columns, dict) else {},
        assertions=assertions,
        dataset_version=_short((version or {}).get("datasetVersion"), 255),
    )


def _dataset(ctx: _Ctx, raw: Any, path: str, *, role: str | None) -> DatasetRef | None:
    if not isinstance(raw, dict):
        ctx.fail(path, f"must be an object, got {_type_name(raw)}")
        return None
    namespace = _identity(ctx, raw, path, "namespace")
    name = _identity(ctx, raw, path, "name")
    facets = _facet_map(ctx, raw, path, "facets")
    input_facets = _facet_map(ctx, raw, path, "inputFacets") if role == "input" else {}
    output_facets = _facet_map(ctx, raw, path, "outputFacets") if role == "output" else {}
    if namespace is None or name is None:
        return None
    fields: list[SchemaField] = []
    schema = facets.get("schema")
    if schema is not None:
        if isinstance(schema, dict):
            fields = _schema_fields(ctx, schema.get("fields") or [], f"{path}.facets.schema.fields")
        else:
            ctx.warn(f"{path}.facets.schema", "must be an object; kept unparsed")
    column_lineage: list[ColumnEdge] = []
    if "columnLineage" in facets and facets["columnLineage"] is not None:
        column_lineage = _column_lineage(
            ctx, facets["columnLineage"], f"{path}.facets.columnLineage"
        )
    where = f"{path}.facets"
    return DatasetRef(
        namespace=namespace,
        name=name,
        fields=fields,
        column_lineage=column_lineage,
        facets=facets,
        input_facets=input_facets,
        output_facets=output_facets,
        description=_documentation(_facet_obj(ctx, facets, "documentation", where)),
        owners=_owners(ctx, _facet_obj(ctx, facets, "ownership", where), f"{where}.ownership"),
        quality=_quality(ctx, where, input_facets, output_facets, facets),
    )


def _dataset_list(ctx: _Ctx, obj: Mapping[str, Any], key: str) -> list[DatasetRef]:
    raw = obj.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        ctx.fail(key, f"must be an array, got {_type_name(raw)}")
        return []
    if len(raw) > MAX_DATASETS:  # checked again on the sum; fail before parsing a huge list
        ctx.fail(key, f"has {len(raw)} datasets, more than {MAX_DATASETS}")
        return []
    role = "input" if key == "inputs" else "output"
    out = [_dataset(ctx, item, f"{key}[{i}]", role=role) for i, item in enumerate(raw)]
    return [d for d in out if d is not None]


def _job(ctx: _Ctx, raw: Any) -> JobRef | None:
    if not isinstance(raw, dict):
        ctx.fail("job", f"must be an object, got {_type_name(raw)}")
        return None
    namespace = _identity(ctx, raw, "job", "namespace")
    name = _identity(ctx, raw, "job", "name")
    facets = _facet_map(ctx, raw, "job", "facets")
    if namespace is None or name is None:
        return None

    def facet(key: str) -> dict[str, Any] | None:
        return _facet_obj(ctx, facets, key, "job.facets")

    sql = facet("sql")
    scl = facet("sourceCodeLocation")
    jt = facet("jobType")
    owners = _owners(ctx, facet("ownership"), "job.facets.ownership") or []
    return JobRef(
        namespace=namespace,
        name=name,
        facets=facets,
        sql=_opt_str(sql.get("query")) if sql else None,
        sql_dialect=_opt_str(sql.get("dialect")) if sql else None,
        source_code_location=SourceCodeLocation(
            type=_opt_str(scl.get("type")),
            url=_opt_str(scl.get("url")),
            repo_url=_opt_str(scl.get("repoUrl")),
            path=_opt_str(scl.get("path")),
            version=_opt_str(scl.get("version")),
            tag=_opt_str(scl.get("tag")),
            branch=_opt_str(scl.get("branch")),
        )
        if scl
        else None,
        job_type=JobTypeInfo(
            processing_type=_opt_str(jt.get("processingType")),
            integration=_opt_str(jt.get("integration")),
            job_type=_opt_str(jt.get("jobType")),
        )
        if jt
        else None,
        description=_documentation(facet("documentation")),
        owners=owners,
    )


def _run_id(ctx: _Ctx, obj: Mapping[str, Any], path: str) -> str | None:
    raw = obj.get("runId")
    where = f"{path}.runId"
    if raw is None:
        ctx.fail(where, "is required")
        return None
    if not isinstance(raw, str):
        ctx.fail(where, f"must be a string, got {_type_name(raw)}")
        return None
    if not raw.strip():
        ctx.fail(where, "must not be empty")
        return None
    if len(raw) > MAX_NAME_LENGTH or "\x00" in raw:
        ctx.fail(where, f"must be at most {MAX_NAME_LENGTH} characters without NUL")
        return None
    return raw


def _parent(ctx: _Ctx, facet: Any) -> ParentRun | None:
    """The ``parent`` run facet; unreadable parents are a warning, the run itself is fine."""
    path = "run.facets.parent"
    if not isinstance(facet, dict):
        ctx.warn(path, "must be an object; kept unparsed")
        return None
    run, job = facet.get("run"), facet.get("job")
    if not (
        isinstance(run, dict)
        and isinstance(job, dict)
        and isinstance(run.get("runId"), str)
        and isinstance(job.get("namespace"), str)
        and isinstance(job.get("name"), str)
    ):
        ctx.warn(path, "needs run.runId, job.namespace and job.name; kept unparsed")
        return None
    root = _obj(facet.get("root"))
    root_run, root_job = _obj(root.get("run")), _obj(root.get("job"))
    return ParentRun(
        run_id=run["runId"],
        job_namespace=job["namespace"],
        job_name=job["name"],
        root_run_id=_opt_str(root_run.get("runId")),
        root_job_namespace=_opt_str(root_job.get("namespace")),
        root_job_name=_opt_str(root_job.get("name")),
    )


def _run(ctx: _Ctx, raw: Any) -> RunInfo | None:
    if not isinstance(raw, dict):
        ctx.fail("run", f"must be an object, got {_type_name(raw)}")
        return None
    run_id = _run_id(ctx, raw, "run")
    facets = _facet_map(ctx, raw, "run", "facets")
    if run_id is None:
        return None
    parent = _parent(ctx, facets["parent"]) if facets.get("parent") is not None else None
    return RunInfo(run_id=run_id, facets=facets, parent=parent)


def _kind(obj: Mapping[str, Any]) -> EventKind | None:
    if "run" in obj:
        return EventKind.RUN
    if "dataset" in obj:
        return EventKind.DATASET
    if "job" in obj:
        return EventKind.JOB
    return None


def parse_event(obj: Any) -> ParsedEvent:
    """Parse one decoded OpenLineage event; raise :class:`InvalidEvent` listing every problem.

    The kind is told by keys, as the spec's schemas do: ``run`` (+ ``job``) is a RunEvent,
    ``dataset`` a DatasetEvent, ``job`` without ``run`` a JobEvent.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent([Problem("", f"event must be a JSON object, got {_type_name(obj)}")])
    ctx = _Ctx()
    kind = _kind(obj)
    event_time = _event_time(ctx, obj)
    producer = obj.get("producer")
    if producer is not None and not isinstance(producer, str):
        ctx.fail("producer", f"must be a string, got {_type_name(producer)}")
        producer = None
    schema_url = obj.get("schemaURL")
    if schema_url is not None and not isinstance(schema_url, str):
        ctx.fail("schemaURL", f"must be a string, got {_type_name(schema_url)}")
        schema_url = None

    event_type: EventType | None = None
    job: JobRef | None = None
    run: RunInfo | None = None
    inputs: list[DatasetRef] = []
    outputs: list[DatasetRef] = []
    dataset: DatasetRef | None = None
    if kind is None:
        ctx.fail("", "cannot tell the event kind: expected run and job, job, or dataset")
    elif kind is EventKind.DATASET:
        dataset = _dataset(ctx, obj["dataset"], "dataset", role=None)
    else:
        if kind is EventKind.RUN:
            event_type = _event_type(ctx, obj)
            run = _run(ctx, obj["run"])
        if "job" not in obj:
            ctx.fail("job", "is required")
        else:
            job = _job(ctx, obj["job"])
        inputs = _dataset_list(ctx, obj, "inputs")
        outputs = _dataset_list(ctx, obj, "outputs")
        if len(inputs) + len(outputs) > MAX_DATASETS:
            ctx.fail("", f"has {len(inputs) + len(outputs)} datasets, more than {MAX_DATASETS}")
    if ctx.column_edges > MAX_COLUMN_EDGES:
        ctx.fail("", f"has {ctx.column_edges} column lineage edges, more than {MAX_COLUMN_EDGES}")
    if ctx.problems or event_time is None or kind is None:
        raise InvalidEvent(ctx.problems or [Problem("", "unreadable event")])
    return ParsedEvent(
        kind=kind,
        event_type=event_type,
        event_time=event_time,
        producer=producer,
        schema_url=schema_url,
        job=job,
        run=run,
        inputs=inputs,
        outputs=outputs,
        dataset=dataset,
        warnings=ctx.warnings,
    )


# -- classification -----------------------------------------------------------------------------

_KNOWN_INTEGRATIONS: dict[str, JobTypeName] = {"airflow": "airflow", "spark": "spark", "dbt": "dbt"}
_TOKEN = re.compile(r"[a-z0-9]+")


def job_type(job: JobRef | None, producer: str | None = None) -> JobTypeName:
    """``airflow``, ``spark``, ``dbt``, ``sql`` or ``other``, for filters and icons.

    The jobType facet's ``integration`` wins; else a known word in the producer URL
    (``.../integration/spark``, ``github.com/apache/airflow/...``); else ``sql`` when the job
    carries a SQL facet; else ``other``.
    """
    if job is not None and job.job_type is not None and job.job_type.integration:
        found = _KNOWN_INTEGRATIONS.get(job.job_type.integration.strip().lower())
        if found:
            return found
    if producer:
        for token in _TOKEN.findall(producer.lower()):
            if token in _KNOWN_INTEGRATIONS:
                return _KNOWN_INTEGRATIONS[token]
    if job is not None and job.sql:
        return "sql"
    return "other"


# -- facet readings shared by ingestion and the API ---------------------------------------------
MAX_ERROR_MESSAGE = 4000
"""Longest error message shown (the ``errorMessage`` facet's stack trace stays in the run)."""
_EMAIL = re.compile(r"^[^@\s:]+@[^@\s]+\.[^@\s]+$")


def error_message(run_facets: Mapping[str, Any] | None) -> str | None:
    """The ``errorMessage`` run facet's message (without the stack trace), if any."""
    facet = (run_facets or {}).get("errorMessage")
    if not isinstance(facet, dict):
        return None
    message = facet.get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    return message.strip()[:MAX_ERROR_MESSAGE]


def owner_email(name: str) -> str | None:
    """The e-mail in an ownership facet's owner name: ``user:alice@acme.test`` (the spec's
    ``type:name`` form) or a plain ``alice@acme.test``; None for ``team:data-eng`` and such."""
    value = name.strip()
    if ":" in value and not _EMAIL.match(value):
        value = value.split(":", 1)[1].strip()
    return value.lower() if _EMAIL.match(value) else None
