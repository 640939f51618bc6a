"""monitoring: freshness SLAs on datasets

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_slas",
        sa.Column("dataset_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.String(length=5), nullable=True),
        sa.Column("hours", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_complete_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('daily_by','max_age')", name=op.f("ck_dataset_slas_kind")),
        sa.CheckConstraint(
            "state IN ('ok','breached','unknown')", name=op.f("ck_dataset_slas_state")
        ),
        sa.CheckConstraint(
            "(kind = 'daily_by' AND at IS NOT NULL AND hours IS NULL) OR "
            "(kind = 'max_age' AND hours IS NOT NULL AND at IS NULL)",
            name=op.f("ck_dataset_slas_shape"),
        ),
        sa.CheckConstraint(
            "hours IS NULL OR hours BETWEEN 1 AND 8760", name=op.f("ck_dataset_slas_hours")
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_slas_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_dataset_slas_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_dataset_slas_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_dataset_slas")),
    )
    op.create_index("ix_dataset_slas_org", "dataset_slas", ["org_id"], unique=False)
    op.create_index("ix_dataset_slas_state", "dataset_slas", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dataset_slas_state", table_name="dataset_slas")
    op.drop_index("ix_dataset_slas_org", table_name="dataset_slas")
    op.drop_table("dataset_slas")
