"""All ORM models, one module per domain; importing this package registers every table."""

from datamesh.models.audit import AuditEntry
from datamesh.models.base import Base
from datamesh.models.catalog import Dataset, DatasetOwner, Follow
from datamesh.models.events import Event
from datamesh.models.identity import (
    ApiKey,
    AuthSession,
    LoginThrottle,
    Organization,
    RefreshToken,
    User,
)

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuthSession",
    "Base",
    "Dataset",
    "DatasetOwner",
    "Event",
    "Follow",
    "LoginThrottle",
    "Organization",
    "RefreshToken",
    "User",
]
