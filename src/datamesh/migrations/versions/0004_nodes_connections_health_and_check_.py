"""nodes: connections, health and check history

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secrets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_latency_ms", sa.Float(), nullable=True),
        sa.Column("last_message", sa.Text(), nullable=True),
        sa.Column("check_interval_seconds", sa.Integer(), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
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
        sa.CheckConstraint("status IN ('ok','error','unknown')", name=op.f("ck_nodes_status")),
        sa.CheckConstraint(
            "check_interval_seconds IS NULL OR check_interval_seconds > 0",
            name=op.f("ck_nodes_check_interval"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_nodes_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_nodes_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )
    op.create_index(
        "ix_nodes_due",
        "nodes",
        ["next_check_at"],
        unique=False,
        postgresql_where=sa.text("check_interval_seconds IS NOT NULL"),
    )
    op.create_index("ix_nodes_org_status", "nodes", ["org_id", "status"], unique=False)
    op.create_index("ix_nodes_org_type", "nodes", ["org_id", "type"], unique=False)
    op.create_index("ix_nodes_org_updated", "nodes", ["org_id", "updated_at", "id"], unique=False)
    op.create_index("ix_nodes_tags", "nodes", ["tags"], unique=False, postgresql_using="gin")
    op.create_index(
        "uq_nodes_org_name_lower",
        "nodes",
        ["org_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "node_checks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("node_id", sa.UUID(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "status IN ('ok','error','unknown')", name=op.f("ck_node_checks_status")
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_node_checks_node_id_nodes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_checks")),
    )
    op.create_index(
        "ix_node_checks_node_checked", "node_checks", ["node_id", "checked_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_node_checks_node_checked", table_name="node_checks")
    op.drop_table("node_checks")
    op.drop_index("uq_nodes_org_name_lower", table_name="nodes")
    op.drop_index("ix_nodes_tags", table_name="nodes", postgresql_using="gin")
    op.drop_index("ix_nodes_org_updated", table_name="nodes")
    op.drop_index("ix_nodes_org_type", table_name="nodes")
    op.drop_index("ix_nodes_org_status", table_name="nodes")
    op.drop_index(
        "ix_nodes_due",
        table_name="nodes",
        postgresql_where=sa.text("check_interval_seconds IS NOT NULL"),
    )
    op.drop_table("nodes")
