"""Who may do what with funding. Each question returns (allowed, reason); see apps/tenancy/permissions.py."""

from apps.tenancy.models import Organization, Role
from apps.tenancy.permissions import Decision, role_in

FUNDING_MANAGERS = frozenset({Role.OWNER, Role.FINANCE})
MILESTONE_WORKERS = frozenset({Role.OWNER, Role.FINANCE, Role.ENGINEER})
RELEASE_APPROVERS = frozenset({Role.OWNER, Role.FINANCE})
# A funder (investor, grant officer) is a viewer of the organization: contesting a milestone is their voice.
DISPUTERS = frozenset({Role.OWNER, Role.VIEWER})
KPI_REPORTERS = frozenset({Role.OWNER, Role.FINANCE, Role.ENGINEER})


def can_manage_funding(user, organization: Organization) -> Decision:
    return role_in(user, organization, FUNDING_MANAGERS, "manage funders, grants, investments and milestones")


def can_change_grant_status(user, organization: Organization) -> Decision:
    return role_in(user, organization, FUNDING_MANAGERS, "change a grant's status")


def can_change_investment_status(user, organization: Organization) -> Decision:
    return role_in(user, organization, FUNDING_MANAGERS, "change an investment's status")


def can_work_on_milestone(user, organization: Organization) -> Decision:
    return role_in(user, organization, MILESTONE_WORKERS, "work on a milestone or add evidence")


def can_verify_milestone(user, organization: Organization) -> Decision:
    return role_in(user, organization, FUNDING_MANAGERS, "verify a milestone")


def can_approve_release(user, organization: Organization) -> Decision:
    return role_in(user, organization, RELEASE_APPROVERS, "approve the release of funds")


def can_dispute_milestone(user, organization: Organization) -> Decision:
    return role_in(user, organization, DISPUTERS, "contest a milestone")


def can_record_disbursement(user, organization: Organization) -> Decision:
    return role_in(user, organization, FUNDING_MANAGERS, "record a disbursement")


def can_report_kpi(user, organization: Organization) -> Decision:
    return role_in(user, organization, KPI_REPORTERS, "report KPI readings")


def can_approve_criterion(user, organization: Organization, roles: list[str]) -> Decision:
    return role_in(user, organization, frozenset(roles), "approve this criterion")
