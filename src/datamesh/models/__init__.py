"""All ORM models, one module per domain; importing this package registers every table."""

from datamesh.models.alerts import AlertDelivery, AlertMatch, AlertRule
from datamesh.models.audit import AuditEntry
from datamesh.models.base import Base
from datamesh.models.catalog import Dataset, DatasetOwner, Follow
from datamesh.models.connect import PlatformProfile
from datamesh.models.dashboards import Dashboard
from datamesh.models.events import Event, OutboxPosition
from datamesh.models.identity import (
    ApiKey,
    AuthSession,
    LoginThrottle,
    Organization,
    RefreshToken,
    User,
)
from datamesh.models.ingestion import NodeCrawl, SchemaVersion
from datamesh.models.lineage import (
    ColumnEdge,
    DatasetQuality,
    GraphCursor,
    IngestedEvent,
    LineageEdge,
    Process,
    Run,
)
from datamesh.models.monitoring import DatasetSla
from datamesh.models.nodes import Node, NodeCheck

__all__ = [
    "AlertDelivery",
    "AlertMatch",
    "AlertRule",
    "ApiKey",
    "AuditEntry",
    "AuthSession",
    "Base",
    "ColumnEdge",
    "Dashboard",
    "Dataset",
    "DatasetOwner",
    "DatasetQuality",
    "DatasetSla",
    "Event",
    "Follow",
    "GraphCursor",
    "IngestedEvent",
    "LineageEdge",
    "LoginThrottle",
    "Node",
    "NodeCheck",
    "NodeCrawl",
    "Organization",
    "OutboxPosition",
    "PlatformProfile",
    "Process",
    "RefreshToken",
    "Run",
    "SchemaVersion",
    "User",
]
