"""The event types the product writes to the outbox, by what they are about.

Alert rules are validated against :data:`ALERTABLE`; a test reads every ``events.emit`` call in
the source and fails when one writes a type missing here, so the list stays the real one.
"""

from __future__ import annotations

ALERTABLE: tuple[str, ...] = (
    # pipeline health and operations
    "process.run_failed",
    "dataset.sla_breached",
    "dataset.sla_recovered",
    "node.status_changed",
    # what changes under someone's feet
    "dataset.schema_changed",
    "dataset.assertion_failed",
    "dataset.deprecated",
    "dataset.removed",
    "dataset.restored",
    "dataset.visibility_changed",
    "dataset.updated",
    "dataset.published",
    "dataset.refreshed",
    "lineage.changed",
    "process.updated",
    "dashboard.created",
    "dashboard.updated",
    "dashboard.deleted",
)
"""Types an alert rule may ask for: events about datasets, processes, nodes and dashboards."""

OTHER: tuple[str, ...] = (
    "dataset.followed",
    "dataset.unfollowed",
    "dataset.connected",
    "dataset.sla_set",
    "dataset.sla_deleted",
    "node.created",
    "node.updated",
    "node.deleted",
    "node.crawled",
    "platform_profile.created",
    "platform_profile.updated",
    "platform_profile.deleted",
    "user.created",
    "user.updated",
    "user.disabled",
    "org.created",
    "org.updated",
    "org.deleted",
    "api_key.created",
    "api_key.revoked",
    "alert.created",
    "alert.updated",
    "alert.deleted",
    "alert.disabled",
)
"""Types written but not offered to alert rules (personal actions, administration, alerts')."""

ALL: frozenset[str] = frozenset(ALERTABLE + OTHER)
