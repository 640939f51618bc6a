"""Who may do what with platform profiles and Connect (which profiles one *sees* is the
repository's ``readable``)."""

from __future__ import annotations

from datamesh.auth.principal import Principal
from datamesh.models.connect import PlatformProfile

TESTING_ROLES = ("producer", "steward", "admin")


def can_manage_org_profiles(p: Principal) -> bool:
    """Org-wide profiles are set up by the organization's admins."""
    return p.is_org_admin or p.is_platform_admin


def can_edit(p: Principal, profile: PlatformProfile) -> bool:
    """Your own profiles; the org-wide ones of your organization if you administer it."""
    if profile.scope == "user":
        return p.user_id is not None and profile.owner_id == p.user_id
    return profile.org_id == p.org_id and can_manage_org_profiles(p)


def can_run_tests(p: Principal) -> bool:
    """Live connection tests from Connect: producers, stewards and admins, not viewers."""
    return p.role in TESTING_ROLES or p.is_platform_admin
