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


def criterion_approval_decision(criterion, milestone, user) -> Decision:
    """Whether `user` may approve this manual criterion now: a named role, the milestone in progress or submitted,
    not already approved by them, and not their own submission (separation of duties)."""
    if criterion.kind != "manual":
        return False, "Only manual criteria are approved by people; the others are evaluated from data."
    allowed, reason = can_approve_criterion(
        user, milestone.organization, criterion.config.get("approver_roles", ["owner"])
    )
    if not allowed:
        return False, reason
    if milestone.status not in ("in_progress", "submitted"):
        return False, "Criteria are approved while the milestone is in progress or submitted."
    if milestone.submitted_by_id is not None and milestone.submitted_by_id == getattr(user, "pk", None):
        return False, "You submitted this milestone: another person must approve its criteria (separation of duties)."
    if any(a.criterion_id == criterion.pk and a.user_id == user.pk for a in criterion.approvals.all()):
        return False, "You have already approved this criterion."
    return True, ""


def can_pay_outside_escrow(user, organization: Organization) -> Decision:
    return role_in(user, organization, RELEASE_APPROVERS, "pay a milestone outside escrow (owner and finance together)")


def can_resolve_conflict(user, organization: Organization) -> Decision:
    return role_in(
        user, organization, frozenset({Role.OWNER}), "accept the escrow contract's approval of a milestone in conflict"
    )


def can_void_disbursement(user, organization: Organization) -> Decision:
    return role_in(user, organization, FUNDING_MANAGERS, "void a disbursement")


def can_change_policy(user, organization: Organization) -> Decision:
    return role_in(user, organization, frozenset({Role.OWNER}), "change the organization's funding policy")


# --- budget lines and reporting periods ---------------------------------------------------------------------
# The funder (an investor, a grant officer) is a viewer of the organization it funds: approving a re-allocation
# that needs its word, and approving or returning a period's report, are the funder's acts, so only viewers take
# them; the grantee side (owner, finance) keeps the budget and writes and submits the reports.
FUNDER_ROLES = frozenset({Role.VIEWER})


def can_manage_budget(user, organization: Organization) -> Decision:
    return role_in(user, organization, FUNDING_MANAGERS, "keep budget lines, expenses and reporting schedules")


def can_decide_as_funder(user, organization: Organization) -> Decision:
    return role_in(user, organization, FUNDER_ROLES, "give the funder's decision")


def can_submit_period_report(user, organization: Organization) -> Decision:
    return role_in(user, organization, FUNDING_MANAGERS, "write and submit a period's report")
