"""connect: platform profiles

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_profiles",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secrets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
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
        sa.CheckConstraint(
            "(scope = 'user') = (owner_id IS NOT NULL)", name=op.f("ck_platform_profiles_owner")
        ),
        sa.CheckConstraint("scope IN ('user','org')", name=op.f("ck_platform_profiles_scope")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_platform_profiles_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_platform_profiles_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_platform_profiles_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_profiles")),
    )
    op.create_index(
        "ix_platform_profiles_org_scope_platform",
        "platform_profiles",
        ["org_id", "scope", "platform"],
        unique=False,
    )
    op.create_index(
        "uq_platform_profiles_org_default",
        "platform_profiles",
        ["org_id", "platform"],
        unique=True,
        postgresql_where=sa.text("is_default AND scope = 'org'"),
    )
    op.create_index(
        "uq_platform_profiles_org_name",
        "platform_profiles",
        ["org_id", sa.literal_column("lower(name)")],
        unique=True,
        postgresql_where=sa.text("scope = 'org'"),
    )
    op.create_index(
        "uq_platform_profiles_user_default",
        "platform_profiles",
        ["owner_id", "platform"],
        unique=True,
        postgresql_where=sa.text("is_default AND scope = 'user'"),
    )
    op.create_index(
        "uq_platform_profiles_user_name",
        "platform_profiles",
        ["owner_id", sa.literal_column("lower(name)")],
        unique=True,
        postgresql_where=sa.text("scope = 'user'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_platform_profiles_user_name",
        table_name="platform_profiles",
        postgresql_where=sa.text("scope = 'user'"),
    )
    op.drop_index(
        "uq_platform_profiles_user_default",
        table_name="platform_profiles",
        postgresql_where=sa.text("is_default AND scope = 'user'"),
    )
    op.drop_index(
        "uq_platform_profiles_org_name",
        table_name="platform_profiles",
        postgresql_where=sa.text("scope = 'org'"),
    )
    op.drop_index(
        "uq_platform_profiles_org_default",
        table_name="platform_profiles",
        postgresql_where=sa.text("is_default AND scope = 'org'"),
    )
    op.drop_index("ix_platform_profiles_org_scope_platform", table_name="platform_profiles")
    op.drop_table("platform_profiles")
