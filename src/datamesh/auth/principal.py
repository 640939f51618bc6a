"""Who is calling: a signed-in user or an API key, with their org and role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from datamesh.kit.context import Actor

Role = Literal["admin", "steward", "producer", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "steward", "producer", "viewer")

# Which roles a holder of a role may hand out (to users in their org or to API keys).
GRANTABLE: dict[str, frozenset[str]] = {
    "admin": frozenset(ROLES),
    "steward": frozenset({"steward", "viewer"}),
    "producer": frozenset({"producer", "viewer"}),
    "viewer": frozenset({"viewer"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["user", "api_key"]
    id: uuid.UUID
    name: str
    org_id: uuid.UUID
    role: Role
    email: str | None = None
    is_platform_admin: bool = False
    session_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None  # the user; for an API key, its creator

    def actor(self) -> Actor:
        return Actor(kind=self.kind, id=self.id, name=self.email or self.name, org_id=self.org_id)

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def is_org_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_govern(self) -> bool:
        """Admins and stewards see private assets and the audit log of their org."""
        return self.role in ("admin", "steward") or self.is_platform_admin

    def can_grant(self, role: str) -> bool:
        return self.is_platform_admin or role in GRANTABLE[self.role]


class _User(Protocol):
    """What a principal is made of: a user row (``models.identity.User``) as it is now."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def org_id(self) -> uuid.UUID: ...
    @property
    def role(self) -> str: ...
    @property
    def is_platform_admin(self) -> bool: ...


def for_user(user: _User, session_id: uuid.UUID | None = None) -> Principal:
    """The principal of a signed-in user (or of a rule's owner acting for them)."""
    return Principal(
        kind="user",
        id=user.id,
        name=user.name,
        email=user.email,
        org_id=user.org_id,
        role=cast(Role, user.role),
        is_platform_admin=user.is_platform_admin,
        session_id=session_id,
        user_id=user.id,
    )
