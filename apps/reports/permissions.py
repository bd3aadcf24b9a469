"""Who may export grant and investment reports. Each question returns (allowed, reason); see apps/tenancy."""

from apps.tenancy.models import Organization
from apps.tenancy.permissions import ALL_ROLES, Decision, role_in


def can_export_report(user, organization: Organization) -> Decision:
    # Investors and grant officers are viewers: the report is written for them.
    return role_in(user, organization, ALL_ROLES, "export a report")
