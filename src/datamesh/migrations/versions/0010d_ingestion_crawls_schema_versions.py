"""ingestion: node crawls, dataset schema versions, dataset kind/properties, status removed

Revision ID: 0010d
Revises: 0010f
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010d"
down_revision: str | None = "0010f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("kind", sa.String(32), nullable=True))
    op.add_column(
        "datasets",
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
    )
    op.drop_constraint(op.f("ck_datasets_status"), "datasets", type_="check")
    op.create_check_constraint("status", "datasets", "status IN ('active','deprecated','removed')")
    op.add_column("nodes", sa.Column("crawl_interval_minutes", sa.Integer(), nullable=True))
    op.add_column("nodes", sa.Column("next_crawl_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        "crawl_interval",
        "nodes",
        "crawl_interval_minutes IS NULL OR crawl_interval_minutes > 0",
    )
    op.create_index(
        "ix_nodes_crawl_due",
        "nodes",
        ["next_crawl_at"],
        postgresql_where=sa.text("crawl_interval_minutes IS NOT NULL"),
    )
    op.create_table(
        "node_crawls",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("node_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("requested_by_name", sa.String(320), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("progress", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued','running','succeeded','partial','failed')",
            name=op.f("ck_node_crawls_status"),
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_node_crawls_node_id_nodes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_node_crawls_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_node_crawls_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_crawls")),
    )
    op.create_index(
        "uq_node_crawls_active",
        "node_crawls",
        ["node_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('queued','running')"),
    )
    op.create_index("ix_node_crawls_node_created", "node_crawls", ["node_id", "created_at", "id"])
    op.create_index(
        "ix_node_crawls_due",
        "node_crawls",
        ["lease_until"],
        postgresql_where=sa.text("status IN ('queued','running')"),
    )
    op.create_table(
        "dataset_schema_versions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("dataset_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("diff", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("breaking", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("source_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_schema_versions_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_schema_versions")),
        sa.UniqueConstraint(
            "dataset_id", "version", name=op.f("uq_dataset_schema_versions_dataset_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("dataset_schema_versions")
    op.drop_index("ix_node_crawls_due", table_name="node_crawls")
    op.drop_index("ix_node_crawls_node_created", table_name="node_crawls")
    op.drop_index("uq_node_crawls_active", table_name="node_crawls")
    op.drop_table("node_crawls")
    op.drop_index("ix_nodes_crawl_due", table_name="nodes")
    op.drop_constraint(op.f("ck_nodes_crawl_interval"), "nodes", type_="check")
    op.drop_column("nodes", "next_crawl_at")
    op.drop_column("nodes", "crawl_interval_minutes")
    # Lossless: a removed dataset comes back as deprecated (still hidden from default search).
    op.execute("UPDATE datasets SET status = 'deprecated' WHERE status = 'removed'")
    op.drop_constraint(op.f("ck_datasets_status"), "datasets", type_="check")
    op.create_check_constraint("status", "datasets", "status IN ('active','deprecated')")
    op.drop_column("datasets", "properties")
    op.drop_column("datasets", "kind")
