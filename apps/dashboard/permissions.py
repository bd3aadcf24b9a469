"""Who may do the dashboard's own things. Each question returns (allowed, reason)."""

from apps.tenancy.models import Organization, Role
from apps.tenancy.permissions import ALL_ROLES, Decision, role_in


def can_comment(user, organization: Organization) -> Decision:
    return role_in(user, organization, ALL_ROLES, "comment")


def can_read_audit_log(user, organization: Organization) -> Decision:
    """The organization's whole trail, with its verification: owners and compliance."""
    return role_in(user, organization, {Role.OWNER, Role.COMPLIANCE}, "read the organization's audit log")
