"""lineage: dataset documentation/ownership facets and data quality per run

Datasets keep who wrote their description (a person's wins over a facet), the owners an
ownership facet named that are not users (``named_owners``) and the facet's owner list as last
applied (``facet_owners``). ``dataset_quality`` keeps, per run and dataset, the row count, size,
column metrics and assertions that OpenLineage's ``dataQualityMetrics``,
``dataQualityAssertions`` and ``outputStatistics`` facets carry.

Revision ID: 0010f
Revises: 0010a
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010f"
down_revision: str | None = "0010a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "datasets",
        sa.Column("description_source", sa.String(length=16), server_default="", nullable=False),
    )
    # Descriptions written before this revision were written by people (lineage-created
    # datasets had none): a facet must not overwrite them.
    op.execute("UPDATE datasets SET description_source = 'person' WHERE description <> ''")
    op.add_column(
        "datasets",
        sa.Column(
            "named_owners",
            postgresql.ARRAY(sa.String(length=300)),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column(
        "datasets",
        sa.Column(
            "facet_owners",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )
    op.create_table(
        "dataset_quality",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("dataset_id", sa.UUID(), nullable=False),
        sa.Column("process_id", sa.UUID(), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("dataset_version", sa.String(length=255), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("file_count", sa.BigInteger(), nullable=True),
        sa.Column("column_metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("assertions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("failed_assertions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_quality_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["processes.id"],
            name=op.f("fk_dataset_quality_process_id_processes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_quality")),
        sa.UniqueConstraint(
            "dataset_id",
            "process_id",
            "run_id",
            name=op.f("uq_dataset_quality_dataset_id_process_id_run_id"),
        ),
    )
    op.create_index(
        "ix_dataset_quality_dataset_time", "dataset_quality", ["dataset_id", "event_time"]
    )


def downgrade() -> None:
    op.drop_index("ix_dataset_quality_dataset_time", table_name="dataset_quality")
    op.drop_table("dataset_quality")
    op.drop_column("datasets", "facet_owners")
    op.drop_column("datasets", "named_owners")
    op.drop_column("datasets", "description_source")
