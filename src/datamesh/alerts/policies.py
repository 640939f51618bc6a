"""Who may own, see and change alert rules.

Anyone signed in as a person owns personal rules (API keys own none). Org rules belong to an
organization and are made, seen and changed by its admins and stewards: a channel URL (a Slack
incoming webhook above all) is a credential of sorts, so other members do not read them. What
a rule may not see answers 404.
"""

from __future__ import annotations

from datamesh.auth.principal import Principal
from datamesh.models.alerts import AlertRule

GOVERNING = ("admin", "steward")


def can_own_personal(p: Principal) -> bool:
    return p.kind == "user" and p.user_id is not None


def can_make_org_rule(p: Principal) -> bool:
    return p.role in GOVERNING or p.is_platform_admin


def can_see(p: Principal, rule: AlertRule) -> bool:
    if rule.owner_id is not None:
        return p.kind == "user" and p.user_id == rule.owner_id
    return p.org_id == rule.org_id and p.role in GOVERNING


can_change = can_see
