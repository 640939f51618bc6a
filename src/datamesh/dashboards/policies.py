"""Who may do what to a dashboard: the catalog's rules, with the creator as the only owner.

Reading follows datasets exactly (public: every signed-in user; internal: the owning org;
private: the creator and the org's admins and stewards); editing is the catalog's "govern".
"""

from __future__ import annotations

import uuid

from datamesh.auth.principal import Principal
from datamesh.catalog import policies as catalog

CREATORS = ("admin", "steward", "producer")


def _owners(created_by: uuid.UUID | None) -> set[uuid.UUID]:
    return {created_by} if created_by is not None else set()


def can_create(p: Principal) -> bool:
    return p.role in CREATORS


def can_read(
    p: Principal | None, visibility: str, org_id: uuid.UUID, created_by: uuid.UUID | None
) -> bool:
    """The rule of ``repository.readable`` for one loaded dashboard (a test checks both agree)."""
    return catalog.can_read(p, visibility, org_id, _owners(created_by))


def can_edit(p: Principal, org_id: uuid.UUID, created_by: uuid.UUID | None) -> bool:
    """The creator, and the owning org's admins and stewards."""
    return catalog.can_govern(p, org_id, _owners(created_by))
