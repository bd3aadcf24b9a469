"""Who may do what with privacy audits, findings and records of processing. Each question returns (allowed, reason).

Owners and the compliance role write; every member reads (investors and grant officers are told how the
company stands). The person a finding is assigned to may work on it (start remediation, resolve it, complete
their remediation actions) whatever their role, but verifying a fix and accepting a risk stay with
compliance and owners, and a fix is verified by someone other than the person who resolved it.
"""

from apps.tenancy.models import Organization, Role
from apps.tenancy.permissions import ALL_ROLES, Decision, role_in

COMPLIANCE_WRITERS = frozenset({Role.OWNER, Role.COMPLIANCE})


def can_view_compliance(user, organization: Organization) -> Decision:
    return role_in(user, organization, ALL_ROLES, "view privacy audits and records of processing")


def can_manage_audits(user, organization: Organization) -> Decision:
    return role_in(user, organization, COMPLIANCE_WRITERS, "plan and run privacy audits")


def can_manage_findings(user, organization: Organization) -> Decision:
    return role_in(user, organization, COMPLIANCE_WRITERS, "record and edit findings")


def can_work_on_finding(user, finding) -> Decision:
    if finding.owner_id == getattr(user, "pk", None):
        return role_in(user, finding.organization, ALL_ROLES, "work on this finding")
    return role_in(user, finding.organization, COMPLIANCE_WRITERS, "work on a finding assigned to someone else")


def can_complete_action(user, action) -> Decision:
    if action.owner_id == getattr(user, "pk", None):
        return role_in(user, action.finding.organization, ALL_ROLES, "complete this action")
    return role_in(user, action.finding.organization, COMPLIANCE_WRITERS, "complete an action assigned to someone else")


def can_verify_finding(user, finding) -> Decision:
    allowed, reason = role_in(user, finding.organization, COMPLIANCE_WRITERS, "verify a finding's remediation")
    if allowed and finding.resolved_by_id == user.pk:
        return False, "The remediation must be verified by someone other than the person who resolved it."
    return allowed, reason


def can_accept_finding_risk(user, finding) -> Decision:
    return role_in(user, finding.organization, COMPLIANCE_WRITERS, "accept the risk of a finding")


def can_reopen_finding(user, finding) -> Decision:
    return role_in(user, finding.organization, COMPLIANCE_WRITERS, "reopen a finding")


def can_manage_ropa(user, organization: Organization) -> Decision:
    return role_in(user, organization, COMPLIANCE_WRITERS, "maintain the records of processing and DPIAs")
