"""Who may do what with risk registers. Each question returns (allowed, reason).

Owners and the compliance role manage matrices, registers and every risk. An engineer may update the
risks they own (scores, description, mitigations, reviews, starting treatment), because they see the
infrastructure the risk is about; accepting or closing a risk stays with owners and compliance, since
it is a decision for the company, not for the person who carries the risk. Every member reads.
"""

from apps.tenancy.models import Organization, Role
from apps.tenancy.permissions import ALL_ROLES, Decision, role_in

RISK_MANAGERS = frozenset({Role.OWNER, Role.COMPLIANCE})


def can_view_risks(user, organization: Organization) -> Decision:
    return role_in(user, organization, ALL_ROLES, "view the risk register")


def can_manage_registers(user, organization: Organization) -> Decision:
    return role_in(user, organization, RISK_MANAGERS, "manage risk registers and matrices")


def can_create_risk(user, organization: Organization) -> Decision:
    return role_in(user, organization, RISK_MANAGERS, "add risks to a register")


def can_update_risk(user, risk) -> Decision:
    if risk.owner_id == getattr(user, "pk", None):
        return role_in(user, risk.organization, RISK_MANAGERS | {Role.ENGINEER}, "update a risk you own")
    return role_in(user, risk.organization, RISK_MANAGERS, "update a risk owned by someone else")


def can_decide_risk(user, risk) -> Decision:
    """Accepting, closing and reopening a risk."""
    return role_in(user, risk.organization, RISK_MANAGERS, "accept, close or reopen a risk")


def can_manage_indicators(user, risk) -> Decision:
    return can_update_risk(user, risk)
