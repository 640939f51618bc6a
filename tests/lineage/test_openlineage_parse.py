"""OpenLineage parsing: events built with the real ``openlineage-python`` client classes and
serialised as the client sends them, plus what sloppy producers send, plus what must be refused."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    documentation_job,
    job_type_job,
    ownership_job,
    parent_run,
    schema_dataset,
    source_code_location_job,
    sql_job,
)
from openlineage.client.serde import Serde
from openlineage.client.uuid import generate_new_uuid

from datamesh.lineage.openlineage import (
    MAX_DATASETS,
    ColumnEdge,
    EventKind,
    InvalidEvent,
    ParsedEvent,
    SchemaField,
    job_type,
    parse_event,
)

AIRFLOW_PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0"
SPARK_PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.25.0/integration/spark"
DBT_PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.25.0/integration/dbt"
PG = "postgres://warehouse.internal:5432"


def wire(event: Any) -> dict[str, Any]:
    """Exactly what the client puts on the wire."""
    decoded: dict[str, Any] = json.loads(Serde.to_json(event))
    return decoded


def schema(*cols: tuple[str, str]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in cols]
    )


def problems(obj: Any) -> list[str]:
    with pytest.raises(InvalidEvent) as info:
        parse_event(obj)
    assert isinstance(info.value, ValueError)
    return [str(p) for p in info.value.problems]


# -- real producers, built with the real client --------------------------------------------------
def airflow_task_event() -> RunEvent:
    dag_run_id = str(generate_new_uuid())
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2025-03-14T09:26:53.589793+01:00",
        producer=AIRFLOW_PRODUCER,
        run=Run(
            runId=str(generate_new_uuid()),
            facets={
                "parent": parent_run.ParentRunFacet(
                    run=parent_run.Run(runId=dag_run_id),
                    job=parent_run.Job(namespace="airflow-prod", name="orders_daily"),
                    root=parent_run.Root(
                        run=parent_run.RootRun(runId=dag_run_id),
                        job=parent_run.RootJob(namespace="airflow-prod", name="orders_daily"),
                    ),
                )
            },
        ),
        job=Job(
            namespace="airflow-prod",
            name="orders_daily.load_orders",
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="AIRFLOW", jobType="TASK"
                ),
                "sql": sql_job.SQLJobFacet(
                    query="INSERT INTO mart.orders SELECT * FROM public.orders", dialect="postgres"
                ),
                "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
                    type="git",
                    url="https://github.com/acme/dags/blob/1a2b3c/dags/orders.py",
                    repoUrl="https://github.com/acme/dags.git",
                    path="dags/orders.py",
                    version="1a2b3c",
                ),
                "documentation": documentation_job.DocumentationJobFacet(
                    description="Copies yesterday's orders into the mart."
                ),
                "ownership": ownership_job.OwnershipJobFacet(
                    owners=[ownership_job.Owner(name="team:data-eng", type="MAINTAINER")]
                ),
            },
        ),
        inputs=[
            InputDataset(
                namespace=PG,
                name="shop.public.orders",
                facets={"schema": schema(("id", "INTEGER"), ("amount", "NUMERIC"))},
            )
        ],
        outputs=[
            OutputDataset(
                namespace=PG,
                name="shop.mart.orders",
                facets={"schema": schema(("id", "INTEGER"), ("amount", "NUMERIC"))},
            )
        ],
    )


def test_airflow_task_event() -> None:
    event = airflow_task_event()
    parsed = parse_event(wire(event))
    assert parsed.kind is EventKind.RUN
    assert parsed.event_type == "COMPLETE"
    assert parsed.event_time == datetime(2025, 3, 14, 8, 26, 53, 589793, tzinfo=UTC)
    assert parsed.event_time.utcoffset() == timedelta(0)
    assert parsed.producer == AIRFLOW_PRODUCER
    assert parsed.schema_url is not None
    assert parsed.schema_url.endswith("#/$defs/RunEvent")
    assert parsed.run is not None
    assert parsed.run.run_id == event.run.runId
    assert parsed.run.parent is not None
    assert parsed.run.parent.job_name == "orders_daily"
    assert parsed.run.parent.root_job_name == "orders_daily"

    job = parsed.job
    assert job is not None
    assert (job.namespace, job.name) == ("airflow-prod", "orders_daily.load_orders")
    assert job.sql == "INSERT INTO mart.orders SELECT * FROM public.orders"
    assert job.sql_dialect == "postgres"
    assert job.source_code_location is not None
    assert job.source_code_location.repo_url == "https://github.com/acme/dags.git"
    assert job.source_code_location.version == "1a2b3c"
    assert job.job_type is not None
    assert (job.job_type.integration, job.job_type.job_type) == ("AIRFLOW", "TASK")
    assert job.description == "Copies yesterday's orders into the mart."
    assert [(o.name, o.type) for o in job.owners] == [("team:data-eng", "MAINTAINER")]
    assert set(job.facets) == {"jobType", "sql", "sourceCodeLocation", "documentation", "ownership"}
    assert parsed.job_type == "airflow"

    assert [(d.namespace, d.name) for d in parsed.inputs] == [(PG, "shop.public.orders")]
    assert [(d.namespace, d.name) for d in parsed.outputs] == [(PG, "shop.mart.orders")]
    assert parsed.outputs[0].fields == [
        SchemaField(name="id", type="INTEGER"),
        SchemaField(name="amount", type="NUMERIC"),
    ]
    assert parsed.warnings == []


def test_spark_job_with_column_lineage() -> None:
    raw_ns, raw_name = "s3://lake", "raw/payments"
    cl = column_lineage_dataset
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2025-03-14T10:00:00.123456789Z",
        producer=SPARK_PRODUCER,
        run=Run(runId=str(generate_new_uuid())),
        job=Job(
            namespace="spark-cluster",
            name="payments_rollup.execute_insert_into_hadoop_fs_relation_command",
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="SPARK", jobType="SQL_JOB"
                )
            },
        ),
        inputs=[InputDataset(namespace=raw_ns, name=raw_name, facets={"schema": schema()})],
        outputs=[
            OutputDataset(
                namespace="s3://lake",
                name="curated/payments_daily",
                facets={
                    "schema": schema(("day", "date"), ("total", "decimal(18,2)")),
                    "columnLineage": cl.ColumnLineageDatasetFacet(
                        fields={
                            "day": cl.Fields(
                                inputFields=[
                                    cl.InputField(
                                        namespace=raw_ns,
                                        name=raw_name,
                                        field="paid_at",
                                        transformations=[
                                            cl.Transformation(
                                                type="DIRECT",
                                                subtype="TRANSFORMATION",
                                                description="to_date(paid_at)",
                                                masking=False,
                                            )
                                        ],
                                    )
                                ]
                            ),
                            "total": cl.Fields(
                                inputFields=[
                                    cl.InputField(
                                        namespace=raw_ns,
                                        name=raw_name,
                                        field="amount",
                                        transformations=[
                                            cl.Transformation(type="DIRECT", subtype="AGGREGATION")
                                        ],
                                    )
                                ]
                            ),
                        },
                        dataset=[
                            cl.InputField(
                                namespace=raw_ns,
                                name=raw_name,
                                field="status",
                                transformations=[
                                    cl.Transformation(type="INDIRECT", subtype="FILTER")
                                ],
                            )
                        ],
                    ),
                },
            )
        ],
    )
    parsed = parse_event(wire(event))
    assert parsed.job_type == "spark"
    assert parsed.event_time == datetime(2025, 3, 14, 10, 0, 0, 123456, tzinfo=UTC)
    out = parsed.outputs[0]
    assert [f.name for f in out.fields] == ["day", "total"]
    assert out.column_lineage == [
        ColumnEdge(
            output_field="day",
            input_namespace=raw_ns,
            input_name=raw_name,
            input_field="paid_at",
            transformation_type="DIRECT",
            transformation_subtype="TRANSFORMATION",
            description="to_date(paid_at)",
            masking=False,
        ),
        ColumnEdge(
            output_field="total",
            input_namespace=raw_ns,
            input_name=raw_name,
            input_field="amount",
            transformation_type="DIRECT",
            transformation_subtype="AGGREGATION",
        ),
        ColumnEdge(
            output_field=None,
            input_namespace=raw_ns,
            input_name=raw_name,
            input_field="status",
            transformation_type="INDIRECT",
            transformation_subtype="FILTER",
        ),
    ]
    assert "columnLineage" in out.facets  # the raw facet is kept too


def dbt_model_events() -> list[Any]:
    run_id = str(generate_new_uuid())
    models = ["stg_customers", "stg_orders", "customer_orders"]
    events: list[Any] = []
    for model in models:
        job = Job(
            namespace="dbt://analytics",
            name=f"analytics.jaffle_shop.{model}",
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="DBT", jobType="MODEL"
                ),
                "sql": sql_job.SQLJobFacet(query=f"select * from {{{{ ref('{model}') }}}}"),
            },
        )
        ds = OutputDataset(namespace=PG, name=f"analytics.public.{model}")
        for state in (RunState.START, RunState.COMPLETE):
            events.append(
                RunEvent(
                    eventType=state,
                    eventTime="2025-03-14T11:00:00+00:00",
                    producer=DBT_PRODUCER,
                    run=Run(runId=run_id),
                    job=job,
                    inputs=[InputDataset(namespace=PG, name="analytics.public.raw_orders")],
                    outputs=[ds] if state is RunState.COMPLETE else [],
                )
            )
    # Static metadata, as dbt and catalog integrations also send it.
    events.append(
        JobEvent(
            eventTime="2025-03-14T11:05:00Z",
            producer=DBT_PRODUCER,
            job=Job(namespace="dbt://analytics", name="analytics.jaffle_shop.customer_orders"),
            inputs=[InputDataset(namespace=PG, name="analytics.public.stg_orders")],
            outputs=[OutputDataset(namespace=PG, name="analytics.public.customer_orders")],
        )
    )
    events.append(
        DatasetEvent(
            eventTime="2025-03-14T11:06:00Z",
            producer=DBT_PRODUCER,
            dataset=StaticDataset(
                namespace=PG,
                name="analytics.public.customer_orders",
                facets={"schema": schema(("customer_id", "integer"), ("orders", "bigint"))},
            ),
        )
    )
    return events


def test_dbt_models_and_static_metadata() -> None:
    parsed = [parse_event(wire(e)) for e in dbt_model_events()]
    runs = [p for p in parsed if p.kind is EventKind.RUN]
    assert [p.event_type for p in runs] == ["START", "COMPLETE"] * 3
    assert {p.job_type for p in runs} == {"dbt"}
    assert all(p.job is not None and p.job.sql for p in runs)
    assert [len(p.outputs) for p in runs] == [0, 1] * 3

    job_event = parsed[6]
    assert job_event.kind is EventKind.JOB
    assert job_event.run is None and job_event.event_type is None
    assert job_event.job is not None
    assert job_event.job.name == "analytics.jaffle_shop.customer_orders"
    assert job_event.job_type == "dbt"  # from the producer URL: this job has no jobType facet
    assert [d.name for d in job_event.inputs] == ["analytics.public.stg_orders"]

    dataset_event = parsed[7]
    assert dataset_event.kind is EventKind.DATASET
    assert dataset_event.job is None and dataset_event.run is None
    assert dataset_event.dataset is not None
    assert [f.name for f in dataset_event.dataset.fields] == ["customer_id", "orders"]


# -- what real producers get wrong, and we accept ------------------------------------------------
def minimal_run() -> dict[str, Any]:
    return {
        "eventTime": "2025-01-01T00:00:00Z",
        "run": {"runId": "manual-run-42"},
        "job": {"namespace": "cron", "name": "nightly.sh"},
    }


def test_the_bare_minimum_is_enough() -> None:
    parsed = parse_event(minimal_run())
    assert parsed.kind is EventKind.RUN
    assert parsed.event_type is None
    assert parsed.run is not None and parsed.run.run_id == "manual-run-42"  # not a UUID: fine
    assert parsed.inputs == [] and parsed.outputs == []
    assert parsed.producer is None
    assert parsed.job_type == "other"


@pytest.mark.parametrize("state", ["RUNNING", "OTHER", "ABORT", "FAIL", "complete"])
def test_every_run_state_is_accepted(state: str) -> None:
    event = minimal_run() | {"eventType": state}
    assert parse_event(event).event_type == state.upper()


def test_only_inputs_or_only_outputs() -> None:
    only_in = minimal_run() | {"inputs": [{"namespace": "kafka://b:9092", "name": "clicks"}]}
    only_out = minimal_run() | {"outputs": [{"namespace": "kafka://b:9092", "name": "sessions"}]}
    assert [d.name for d in parse_event(only_in).inputs] == ["clicks"]
    assert parse_event(only_in).outputs == []
    assert [d.name for d in parse_event(only_out).outputs] == ["sessions"]
    nulls = minimal_run() | {"inputs": None, "outputs": None}
    assert parse_event(nulls).inputs == []


def test_unknown_keys_and_facets_are_kept_or_ignored() -> None:
    event = minimal_run() | {"somethingNew": {"x": 1}, "producer": "https://example.com/mytool"}
    event["job"]["facets"] = {"acme_custom": {"_producer": "x", "team": "growth"}}
    event["run"]["facets"] = {"nominalTime": {"nominalStartTime": "2025-01-01T00:00:00Z"}}
    event["outputs"] = [
        {
            "namespace": "bigquery",
            "name": "proj.ds.table",
            "facets": {"dataQualityMetrics": {"rowCount": 10}, "vendorThing": [1, 2]},
            "outputFacets": {"outputStatistics": {"rowCount": 10}},
        }
    ]
    parsed = parse_event(event)
    assert parsed.job is not None
    assert parsed.job.facets == {"acme_custom": {"_producer": "x", "team": "growth"}}
    assert parsed.run is not None and "nominalTime" in parsed.run.facets
    out = parsed.outputs[0]
    assert out.facets["vendorThing"] == [1, 2]
    assert out.output_facets == {"outputStatistics": {"rowCount": 10}}
    assert parsed.job_type == "other"


def test_times_are_normalised_to_utc() -> None:
    cases = {
        "2025-06-01T12:00:00+02:00": datetime(2025, 6, 1, 10, tzinfo=UTC),
        "2025-06-01T12:00:00": datetime(2025, 6, 1, 12, tzinfo=UTC),  # naive: read as UTC
        "2025-06-01T12:00:00.5Z[UTC]": datetime(2025, 6, 1, 12, 0, 0, 500000, tzinfo=UTC),
        "2025-06-01 12:00:00Z": datetime(2025, 6, 1, 12, tzinfo=UTC),
    }
    for text, expected in cases.items():
        event = minimal_run() | {"eventTime": text}
        assert parse_event(event).event_time == expected, text


def test_a_broken_known_facet_is_a_warning_not_a_rejection() -> None:
    event = minimal_run()
    event["outputs"] = [
        {
            "namespace": "pg",
            "name": "t",
            "facets": {
                "schema": {"fields": "id,name"},
                "columnLineage": {"fields": {"a": {"inputFields": [{"name": "only-name"}]}}},
            },
        }
    ]
    event["job"]["facets"] = {"sql": "SELECT 1"}
    parsed = parse_event(event)
    assert parsed.outputs[0].fields == []
    assert parsed.outputs[0].column_lineage == []
    assert parsed.outputs[0].facets["schema"] == {"fields": "id,name"}
    assert parsed.job is not None and parsed.job.sql is None
    assert len(parsed.warnings) == 3


def test_legacy_column_lineage_without_transformations() -> None:
    event = minimal_run()
    event["outputs"] = [
        {
            "namespace": "pg",
            "name": "out",
            "facets": {
                "columnLineage": {
                    "fields": {
                        "email_hash": {
                            "inputFields": [{"namespace": "pg", "name": "in", "field": "email"}],
                            "transformationType": "MASKED",
                            "transformationDescription": "sha256(email)",
                        }
                    }
                }
            },
        }
    ]
    (edge,) = parse_event(event).outputs[0].column_lineage
    assert (edge.output_field, edge.input_field) == ("email_hash", "email")
    assert (edge.transformation_type, edge.description) == ("MASKED", "sha256(email)")


@pytest.mark.parametrize(
    ("integration", "producer", "sql", "expected"),
    [
        ("AIRFLOW", None, None, "airflow"),
        ("spark", None, None, "spark"),
        ("DBT", SPARK_PRODUCER, None, "dbt"),  # the facet wins over the producer
        ("FLINK", SPARK_PRODUCER, None, "spark"),
        (None, AIRFLOW_PRODUCER, "SELECT 1", "airflow"),
        (None, "https://github.com/OpenLineage/OpenLineage/tree/1.0/integration/dbt", None, "dbt"),
        (None, "https://example.com/my-etl", "SELECT 1", "sql"),
        ("FLINK", "https://example.com/my-etl", None, "other"),
        (None, None, None, "other"),
    ],
)
def test_job_type(
    integration: str | None, producer: str | None, sql: str | None, expected: str
) -> None:
    event = minimal_run()
    facets: dict[str, Any] = {}
    if integration:
        facets["jobType"] = {"processingType": "BATCH", "integration": integration}
    if sql:
        facets["sql"] = {"query": sql}
    event["job"]["facets"] = facets
    if producer:
        event["producer"] = producer
    parsed: ParsedEvent = parse_event(event)
    assert job_type(parsed.job, parsed.producer) == expected
    assert parsed.job_type == expected


def test_events_from_the_client_survive_a_json_round_trip_unchanged() -> None:
    raw = wire(airflow_task_event())
    before = copy.deepcopy(raw)
    parse_event(raw)
    assert raw == before  # parsing never mutates the caller's payload


# -- what must be refused ------------------------------------------------------------------------
def test_not_an_object() -> None:
    for value in ([], "event", 7, None):
        assert problems(value) == [f"event must be a JSON object, got {_json_type(value)}"]


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", int: "number", type(None): "null"}[type(value)]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"eventTime": None}, "eventTime: is required"),
        ({"eventTime": "yesterday"}, "eventTime: is not an ISO 8601 date-time: 'yesterday'"),
        ({"eventTime": "2025-01-01"}, "eventTime: is not an ISO 8601 date-time: '2025-01-01'"),
        ({"eventTime": "2025-13-45T00:00:00Z"}, "eventTime: is not an ISO 8601 date-time"),
        ({"eventTime": 1735689600}, "eventTime: must be an ISO 8601 string, got number"),
        ({"eventType": "FINISHED"}, "eventType: must be one of"),
        ({"eventType": 3}, "eventType: must be a string, got number"),
        ({"producer": 5}, "producer: must be a string, got number"),
        ({"job": None}, "job: must be an object, got null"),
        ({"job": {"name": "x"}}, "job.namespace: is required"),
        ({"job": {"namespace": "ns", "name": ""}}, "job.name: must not be empty"),
        ({"job": {"namespace": "ns", "name": ["x"]}}, "job.name: must be a string, got array"),
        ({"job": {"namespace": "ns", "name": "x", "facets": []}}, "job.facets: must be an object"),
        ({"run": {"runId": 12}}, "run.runId: must be a string, got number"),
        ({"run": {}}, "run.runId: is required"),
        ({"run": "abc"}, "run: must be an object, got string"),
        ({"inputs": {"namespace": "a", "name": "b"}}, "inputs: must be an array, got object"),
        ({"inputs": ["pg.table"]}, "inputs[0]: must be an object, got string"),
        ({"outputs": [{"namespace": "pg"}]}, "outputs[0].name: is required"),
        ({"outputs": [{"name": "t"}]}, "outputs[0].namespace: is required"),
        ({"outputs": [{"namespace": "pg", "name": "t\x00"}]}, "outputs[0].name: must not contain"),
        ({"outputs": [{"namespace": "pg", "name": "t", "facets": 1}]}, "outputs[0].facets: must"),
        ({"job": {"namespace": "ns", "name": "j" * 1001}}, "job.name: is longer than 1000"),
    ],
)
def test_each_invalid_case_is_named(change: dict[str, Any], expected: str) -> None:
    event = minimal_run()
    for key, value in change.items():
        if value is None and key != "job":
            event.pop(key, None)
        else:
            event[key] = value
    found = problems(event)
    assert any(p.startswith(expected) for p in found), found


def test_run_without_job_is_refused() -> None:
    event = minimal_run()
    del event["job"]
    assert problems(event) == ["job: is required"]


def test_kind_must_be_recognisable() -> None:
    assert problems({"eventTime": "2025-01-01T00:00:00Z"}) == [
        "cannot tell the event kind: expected run and job, job, or dataset"
    ]


def test_dataset_event_needs_a_dataset_identity() -> None:
    found = problems({"eventTime": "2025-01-01T00:00:00Z", "dataset": {"namespace": "pg"}})
    assert found == ["dataset.name: is required"]


def test_too_many_datasets() -> None:
    event = minimal_run()
    half = MAX_DATASETS // 2 + 1
    event["inputs"] = [{"namespace": "pg", "name": f"in{i}"} for i in range(half)]
    event["outputs"] = [{"namespace": "pg", "name": f"out{i}"} for i in range(half)]
    assert problems(event) == [f"has {2 * half} datasets, more than {MAX_DATASETS}"]
    event = minimal_run() | {"inputs": [{"namespace": "pg", "name": "x"}] * (MAX_DATASETS + 1)}
    assert problems(event) == [f"inputs: has {MAX_DATASETS + 1} datasets, more than {MAX_DATASETS}"]


def test_every_problem_is_listed_at_once() -> None:
    event = {
        "eventTime": "soon",
        "run": {"runId": ""},
        "job": {"namespace": "", "name": None},
        "inputs": [{"namespace": 1, "name": "x"}],
    }
    with pytest.raises(InvalidEvent) as info:
        parse_event(event)
    assert [p.path for p in info.value.problems] == [
        "eventTime",
        "run.runId",
        "job.namespace",
        "job.name",
        "inputs[0].namespace",
    ]
    assert str(info.value).startswith("invalid OpenLineage event: eventTime: ")
    assert info.value.errors[0] == {
        "loc": "eventTime",
        "msg": "is not an ISO 8601 date-time: 'soon'",
    }


def test_dataset_documentation_ownership_and_quality_facets_are_read() -> None:
    from datamesh.lineage.openlineage import owner_email

    ev = parse_event(
        {
            "eventType": "COMPLETE",
            "eventTime": "2026-11-20T06:00:00Z",
            "run": {"runId": "r1"},
            "job": {"namespace": "airflow", "name": "j"},
            "inputs": [
                {
                    "namespace": "pg://db",
                    "name": "public.orders",
                    "facets": {
                        "documentation": {"description": "All orders."},
                        "ownership": {"owners": [{"name": "user:Ann@Acme.test"}, {"name": 3}]},
                        "version": {"datasetVersion": "v42"},
                    },
                    "inputFacets": {
                        "dataQualityMetrics": {
                            "rowCount": 10.0,
                            "bytes": True,
                            "columnMetrics": {},
                        },
                        "dataQualityAssertions": {
                            "assertions": [
                                {"assertion": "not_null", "success": False, "column": "id"},
                                {"assertion": "broken"},
                            ]
                        },
                    },
                }
            ],
            "outputs": [
                {
                    "namespace": "pg://db",
                    "name": "public.daily",
                    "outputFacets": {"outputStatistics": {"rowCount": 7, "size": 2048}},
                }
            ],
        }
    )
    [src], [dst] = ev.inputs, ev.outputs
    assert src.description == "All orders."
    assert [o.name for o in src.owners or []] == ["user:Ann@Acme.test"]
    assert src.quality is not None
    assert (src.quality.row_count, src.quality.bytes, src.quality.dataset_version) == (
        10,
        None,
        "v42",
    )
    assert [(a.assertion, a.success) for a in src.quality.assertions] == [("not_null", False)]
    assert any("dataQualityAssertions" in w for w in ev.warnings)
    assert dst.quality is not None and (dst.quality.row_count, dst.quality.bytes) == (7, 2048)
    assert dst.owners is None and dst.description is None
    assert owner_email("user:Ann@Acme.test") == "ann@acme.test"
    assert owner_email("ann@acme.test") == "ann@acme.test"
    assert owner_email("team:data-eng") is None
