"""lineage: processes, runs, edges, column edges

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "graph_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_graph_cursors")),
    )
    op.create_table(
        "ingested_events",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_ingested_events")),
    )
    op.create_table(
        "lineage_edges",
        sa.Column("src_id", sa.UUID(), nullable=False),
        sa.Column("dst_id", sa.UUID(), nullable=False),
        sa.Column("src_kind", sa.String(length=16), nullable=False),
        sa.Column("dst_kind", sa.String(length=16), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.CheckConstraint(
            "NOT (src_kind = 'process' AND dst_kind = 'process')",
            name=op.f("ck_lineage_edges_no_process_chain"),
        ),
        sa.CheckConstraint(
            "dst_kind IN ('dataset','process')", name=op.f("ck_lineage_edges_dst_kind")
        ),
        sa.CheckConstraint(
            "src_kind IN ('dataset','process')", name=op.f("ck_lineage_edges_src_kind")
        ),
        sa.CheckConstraint("src_id <> dst_id", name=op.f("ck_lineage_edges_no_self_loop")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_edges")),
        sa.UniqueConstraint("src_id", "dst_id", name=op.f("uq_lineage_edges_src_id_dst_id")),
    )
    op.create_index("ix_lineage_edges_dst_src", "lineage_edges", ["dst_id", "src_id"], unique=False)
    op.create_table(
        "processes",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("namespace", sa.String(length=500), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owners", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source_code", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sql", sa.Text(), nullable=True),
        sa.Column("latest_run_state", sa.String(length=16), nullable=True),
        sa.Column("latest_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_processes_org_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processes")),
        sa.UniqueConstraint("namespace", "name", name=op.f("uq_processes_namespace_name")),
    )
    op.create_index("ix_processes_org", "processes", ["org_id"], unique=False)
    op.create_table(
        "column_edges",
        sa.Column("output_dataset_id", sa.UUID(), nullable=False),
        sa.Column("output_field", sa.String(length=300), nullable=False),
        sa.Column("input_dataset_id", sa.UUID(), nullable=False),
        sa.Column("input_field", sa.String(length=300), nullable=False),
        sa.Column("process_id", sa.UUID(), nullable=True),
        sa.Column("transformation_type", sa.String(length=40), nullable=True),
        sa.Column("transformation_subtype", sa.String(length=60), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["input_dataset_id"],
            ["datasets.id"],
            name=op.f("fk_column_edges_input_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["output_dataset_id"],
            ["datasets.id"],
            name=op.f("fk_column_edges_output_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["processes.id"],
            name=op.f("fk_column_edges_process_id_processes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_column_edges")),
        sa.UniqueConstraint(
            "output_dataset_id",
            "output_field",
            "input_dataset_id",
            "input_field",
            name=op.f(
                "uq_column_edges_output_dataset_id_output_field_input_dataset_id_input_field"
            ),
        ),
    )
    op.create_index(
        "ix_column_edges_input", "column_edges", ["input_dataset_id", "input_field"], unique=False
    )
    op.create_table(
        "runs",
        sa.Column("process_id", sa.UUID(), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("facets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["processes.id"],
            name=op.f("fk_runs_process_id_processes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("process_id", "run_id", name=op.f("uq_runs_process_id_run_id")),
    )
    op.create_index("ix_runs_process_time", "runs", ["process_id", "event_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_runs_process_time", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_column_edges_input", table_name="column_edges")
    op.drop_table("column_edges")
    op.drop_index("ix_processes_org", table_name="processes")
    op.drop_table("processes")
    op.drop_index("ix_lineage_edges_dst_src", table_name="lineage_edges")
    op.drop_table("lineage_edges")
    op.drop_table("ingested_events")
    op.drop_table("graph_cursors")
