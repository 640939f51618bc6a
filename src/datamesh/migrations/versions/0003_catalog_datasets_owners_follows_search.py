"""catalog: datasets, owners, follows, search

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# IMMUTABLE helpers so the search document and the short name can be generated columns.
SEARCH_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION datamesh_split_identifier(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT trim(regexp_replace(
    regexp_replace(coalesce(value, ''), '([a-z0-9])([A-Z])', '\1 \2', 'g'),
    '[^[:alnum:]]+', ' ', 'g'))
$$;
CREATE OR REPLACE FUNCTION datamesh_short_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT lower(CASE
    WHEN coalesce(name, '') LIKE '%/%'
      THEN regexp_replace(regexp_replace(name, '^.*/', ''), '\.[A-Za-z0-9]{1,10}$', '')
    ELSE regexp_replace(coalesce(name, ''), '^.*[.:]', '')
  END)
$$;
CREATE OR REPLACE FUNCTION datamesh_dataset_document(
  name text, display_name text, tags varchar[], fields jsonb, domain text, description text
) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT
    setweight(to_tsvector('english'::regconfig,
      datamesh_split_identifier(name) || ' ' || datamesh_split_identifier(display_name)), 'A')
    || setweight(to_tsvector('english'::regconfig,
      coalesce(array_to_string(tags, ' '), '') || ' ' ||
      datamesh_split_identifier(coalesce((
        SELECT string_agg(f ->> 'name', ' ')
        FROM jsonb_array_elements(
          CASE WHEN jsonb_typeof(fields) = 'array' THEN fields ELSE '[]'::jsonb END) AS f), ''))
      || ' ' || coalesce(domain, '')), 'B')
    || setweight(to_tsvector('english'::regconfig, left(coalesce(description, ''), 100000)), 'C')
$$;
"""


def upgrade() -> None:
    for statement in SEARCH_FUNCTIONS.split("$$;")[:-1]:  # asyncpg runs one statement at a time
        op.execute(statement + "$$")
    op.create_table(
        "datasets",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("namespace", sa.String(length=500), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("domain", sa.String(length=100), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("node_id", sa.UUID(), nullable=True),
        sa.Column("source_database", sa.String(length=300), nullable=True),
        sa.Column("source_schema", sa.String(length=300), nullable=True),
        sa.Column("source_table", sa.String(length=300), nullable=True),
        sa.Column("source_path", sa.String(length=2000), nullable=True),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
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
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("updated_by", sa.UUID(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "short_name",
            sa.Text(),
            sa.Computed("datamesh_short_name(name)", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "search",
            postgresql.TSVECTOR(),
            sa.Computed(
                "datamesh_dataset_document(name, display_name, tags, fields, domain, description)",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.CheckConstraint("status IN ('active','deprecated')", name=op.f("ck_datasets_status")),
        sa.CheckConstraint(
            "visibility IN ('public','internal','private')", name=op.f("ck_datasets_visibility")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_datasets_org_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("namespace", "name", name=op.f("uq_datasets_namespace_name")),
    )
    op.create_index(
        "ix_datasets_org_visibility", "datasets", ["org_id", "visibility"], unique=False
    )
    op.create_index("ix_datasets_platform", "datasets", ["platform"], unique=False)
    op.create_index(
        "ix_datasets_search", "datasets", ["search"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_datasets_short_name_prefix",
        "datasets",
        ["short_name"],
        unique=False,
        postgresql_ops={"short_name": "text_pattern_ops"},
    )
    op.create_index(
        "ix_datasets_short_name_trgm",
        "datasets",
        ["short_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"short_name": "gin_trgm_ops"},
    )
    op.create_index("ix_datasets_tags", "datasets", ["tags"], unique=False, postgresql_using="gin")
    op.create_index("ix_datasets_updated", "datasets", ["updated_at", "id"], unique=False)
    op.create_table(
        "dataset_owners",
        sa.Column("dataset_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_owners_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_dataset_owners_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "user_id", name=op.f("pk_dataset_owners")),
    )
    op.create_index("ix_dataset_owners_user", "dataset_owners", ["user_id"], unique=False)
    op.create_table(
        "follows",
        sa.Column("dataset_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_follows_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_follows_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dataset_id", "user_id", name=op.f("pk_follows")),
    )
    op.create_index("ix_follows_user", "follows", ["user_id", "created_at"], unique=False)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS follows, dataset_owners, datasets CASCADE")
    for fn in (
        "datamesh_dataset_document(text, text, varchar[], jsonb, text, text)",
        "datamesh_short_name(text)",
        "datamesh_split_identifier(text)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    return
    op.drop_index("ix_follows_user", table_name="follows")
    op.drop_table("follows")
    op.drop_index("ix_dataset_owners_user", table_name="dataset_owners")
    op.drop_table("dataset_owners")
    op.drop_index("ix_datasets_updated", table_name="datasets")
    op.drop_index("ix_datasets_tags", table_name="datasets", postgresql_using="gin")
    op.drop_index(
        "ix_datasets_short_name_trgm",
        table_name="datasets",
        postgresql_using="gin",
        postgresql_ops={"short_name": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_datasets_short_name_prefix",
        table_name="datasets",
        postgresql_ops={"short_name": "text_pattern_ops"},
    )
    op.drop_index("ix_datasets_search", table_name="datasets", postgresql_using="gin")
    op.drop_index("ix_datasets_platform", table_name="datasets")
    op.drop_index("ix_datasets_org_visibility", table_name="datasets")
    op.drop_table("datasets")
