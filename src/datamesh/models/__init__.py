"""All ORM models, one module per domain; importing this package registers every table."""

from datamesh.models.audit import AuditEntry
from datamesh.models.base import Base
from datamesh.models.events import Event

__all__ = ["AuditEntry", "Base", "Event"]
