"""A sample pipeline (Airflow tasks, a Spark job, dbt models) built with the real OpenLineage
client classes: what a real deployment sends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    job_type_job,
    schema_dataset,
    source_code_location_job,
    sql_job,
)

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/airflow"
PG = "postgres://shop-db:5432"
S3 = "s3://raw-zone"
SF = "snowflake://acme.eu-west-1"


def _schema(*cols: tuple[str, str]) -> dict:
    return {
        "schema": schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in cols]
        )
    }


def _job(ns: str, name: str, integration: str, job_type: str, **facets: object) -> Job:
    return Job(
        namespace=ns,
        name=name,
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration=integration, jobType=job_type
            ),
            **facets,
        },
    )


def pipeline_events(start: datetime | None = None, fail_job: str | None = None) -> list[RunEvent]:
    t = start or datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    steps = [
        (
            _job("airflow", "daily_sales.extract_orders", "AIRFLOW", "TASK"),
            [
                InputDataset(
                    namespace=PG,
                    name="public.orders",
                    facets=_schema(("id", "int"), ("amount", "numeric"), ("customer_id", "int")),
                )
            ],
            [OutputDataset(namespace=S3, name="orders")],
        ),
        (
            _job("airflow", "daily_sales.extract_customers", "AIRFLOW", "TASK"),
            [
                InputDataset(
                    namespace=PG,
                    name="public.customers",
                    facets=_schema(("id", "int"), ("email", "text"), ("region", "text")),
                )
            ],
            [OutputDataset(namespace=S3, name="customers")],
        ),
        (
            _job(
                "spark",
                "clean_orders",
                "SPARK",
                "JOB",
                sourceCodeLocation=source_code_location_job.SourceCodeLocationJobFacet(
                    type="git", url="https://git.example.com/data/jobs/clean_orders.py"
                ),
            ),
            [
                InputDataset(namespace=S3, name="orders"),
                InputDataset(namespace=S3, name="customers"),
            ],
            [
                OutputDataset(
                    namespace=SF,
                    name="ANALYTICS.STAGING.ORDERS_CLEAN",
                    facets={
                        **_schema(
                            ("order_id", "NUMBER"),
                            ("order_total", "NUMBER"),
                            ("customer_email", "VARCHAR"),
                            ("region", "VARCHAR"),
                        ),
                        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
                            fields={
                                "order_total": column_lineage_dataset.Fields(
                                    inputFields=[
                                        column_lineage_dataset.InputField(
                                            namespace=S3, name="orders", field="amount"
                                        )
                                    ],
                                    transformationType="IDENTITY",
                                    transformationDescription="copied",
                                ),
                                "customer_email": column_lineage_dataset.Fields(
                                    inputFields=[
                                        column_lineage_dataset.InputField(
                                            namespace=S3, name="customers", field="email"
                                        )
                                    ],
                                    transformationType="TRANSFORMED",
                                    transformationDescription="lower()",
                                ),
                            }
                        ),
                    },
                )
            ],
        ),
        (
            _job(
                "dbt",
                "model.shop.fct_sales",
                "DBT",
                "MODEL",
                sql=sql_job.SQLJobFacet(query="select * from {{ ref('orders_clean') }}"),
            ),
            [InputDataset(namespace=SF, name="ANALYTICS.STAGING.ORDERS_CLEAN")],
            [OutputDataset(namespace=SF, name="ANALYTICS.MARTS.FCT_SALES")],
        ),
        (
            _job("dbt", "model.shop.sales_by_region", "DBT", "MODEL"),
            [InputDataset(namespace=SF, name="ANALYTICS.MARTS.FCT_SALES")],
            [OutputDataset(namespace=SF, name="ANALYTICS.MARTS.SALES_BY_REGION")],
        ),
    ]
    events: list[RunEvent] = []
    for i, (job, inputs, outputs) in enumerate(steps):
        run = Run(runId=str(uuid.UUID(int=i + 1)))
        begin = t + timedelta(minutes=10 * i)
        events.append(
            RunEvent(
                eventType=RunState.START,
                eventTime=begin.isoformat(),
                run=run,
                job=job,
                producer=PRODUCER,
                inputs=inputs,
                outputs=[],
            )
        )
        state = RunState.FAIL if job.name == fail_job else RunState.COMPLETE
        events.append(
            RunEvent(
                eventType=state,
                eventTime=(begin + timedelta(minutes=5)).isoformat(),
                run=run,
                job=job,
                producer=PRODUCER,
                inputs=inputs,
                outputs=outputs,
            )
        )
    return events
