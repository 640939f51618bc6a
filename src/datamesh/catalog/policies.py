"""Who may do what to a dataset (visibility itself is the repository's ``readable``)."""

from __future__ import annotations

import uuid

from datamesh.auth.principal import Principal


def can_publish(p: Principal) -> bool:
    return p.role in ("admin", "producer")


def can_edit(p: Principal, org_id: uuid.UUID, owner_ids: set[uuid.UUID]) -> bool:
    """Owners, and the owning org's admins, stewards and producers."""
    if p.user_id is not None and p.user_id in owner_ids and p.kind == "user":
        return True
    return p.org_id == org_id and p.role in ("admin", "steward", "producer")


def can_govern(p: Principal, org_id: uuid.UUID, owner_ids: set[uuid.UUID]) -> bool:
    """Visibility changes and deprecation: owners, and the owning org's admins and stewards."""
    if p.user_id is not None and p.user_id in owner_ids and p.kind == "user":
        return True
    return p.org_id == org_id and p.role in ("admin", "steward")


def can_read(
    p: Principal | None, visibility: str, org_id: uuid.UUID, owner_ids: set[uuid.UUID]
) -> bool:
    """The rule of ``repository.readable`` for one loaded dataset (the live stream filters
    events in memory); a test checks that both agree on every case."""
    if p is None:
        return False
    if visibility == "public":
        return True
    if visibility == "internal":
        return p.org_id == org_id
    if p.kind == "user" and p.user_id is not None and p.user_id in owner_ids:
        return True
    return p.role in ("admin", "steward") and p.org_id == org_id


def can_list_deprecated(p: Principal) -> bool:
    return p.role in ("admin", "steward")
