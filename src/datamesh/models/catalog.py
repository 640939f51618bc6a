"""Dataset profiles (one concept with lineage assets), their owners and followers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from datamesh.models.base import Base, UUIDPk

VISIBILITIES = ("public", "internal", "private")
# removed: no longer in its source at the last complete crawl (kept with history and lineage)
STATUSES = ("active", "deprecated", "removed")

# The search document: name words weigh A; tags, field names and domain B; description C.
# An IMMUTABLE SQL function (created by migration 0003) so the column can be generated.
SEARCH_DOCUMENT = "datamesh_dataset_document(name, display_name, tags, fields, domain, description)"
SHORT_NAME = "datamesh_short_name(name)"


class Dataset(UUIDPk, Base):
    __tablename__ = "datasets"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    namespace: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(1000))
    display_name: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    platform: Mapped[str] = mapped_column(String(40))
    domain: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    visibility: Mapped[str] = mapped_column(String(16), default="internal")
    status: Mapped[str] = mapped_column(String(16), default="active")
    origin: Mapped[str] = mapped_column(String(16), default="manual")  # manual|lineage|import
    node_id: Mapped[uuid.UUID | None]
    source_database: Mapped[str | None] = mapped_column(String(300))
    source_schema: Mapped[str | None] = mapped_column(String(300))
    source_table: Mapped[str | None] = mapped_column(String(300))
    source_path: Mapped[str | None] = mapped_column(String(2000))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # Who wrote the description: "person" (catalog API/UI; a facet never overwrites it),
    # "openlineage" (a documentation facet) or "" (nobody yet).
    description_source: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # Owners an ownership facet named that are not users of the dataset's org (shown as text),
    # and the facet's owner list as last applied (a facet is applied again only when it changes,
    # so an owner a person removed is not added back by the next run).
    named_owners: Mapped[list[str]] = mapped_column(
        ARRAY(String(300)), default=list, server_default="{}"
    )
    facet_owners: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    # What the source says it is (table, view, materialized_view, ...) and what a crawl read
    # about it besides columns (row estimate, size, keys, the source's own comments).
    kind: Mapped[str | None] = mapped_column(String(32))
    properties: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by: Mapped[uuid.UUID | None]
    updated_by: Mapped[uuid.UUID | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    short_name: Mapped[str] = mapped_column(Text, Computed(SHORT_NAME, persisted=True))
    search: Mapped[Any] = mapped_column(TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True))

    __table_args__ = (
        # A name is unique within its org (ADR 0005): two orgs may each have a dataset called
        # (namespace, name), and neither learns of the other's. Namespace and name lead, so a
        # lookup by name alone (what lineage resolves) uses this index too.
        UniqueConstraint("namespace", "name", "org_id"),
        CheckConstraint("visibility IN ('public','internal','private')", name="visibility"),
        CheckConstraint("status IN ('active','deprecated','removed')", name="status"),
        Index("ix_datasets_search", "search", postgresql_using="gin"),
        Index(
            "ix_datasets_short_name_trgm",
            "short_name",
            postgresql_using="gin",
            postgresql_ops={"short_name": "gin_trgm_ops"},
        ),
        # Code-point order: serves `LIKE 'text%'` and the order of the name candidates at once,
        # whatever the database's collation (migration 0009).
        Index("ix_datasets_short_name_c", text('short_name COLLATE "C"')),
        Index("ix_datasets_org_visibility", "org_id", "visibility"),
        Index("ix_datasets_updated", "updated_at", "id"),
        Index("ix_datasets_tags", "tags", postgresql_using="gin"),
        Index("ix_datasets_platform", "platform"),
    )


class DatasetOwner(Base):
    __tablename__ = "dataset_owners"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_dataset_owners_user", "user_id"),)


class Follow(Base):
    __tablename__ = "follows"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_follows_user", "user_id", "created_at"),)


__all__ = ["STATUSES", "VISIBILITIES", "Dataset", "DatasetOwner", "Follow"]
