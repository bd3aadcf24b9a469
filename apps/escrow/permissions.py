"""Who may do what with escrow. Each question returns (allowed, reason); see apps/tenancy/permissions.py."""

from apps.tenancy.models import Organization, Role
from apps.tenancy.permissions import ALL_ROLES, Decision, role_in

ESCROW_MANAGERS = frozenset({Role.OWNER, Role.FINANCE})


def can_view_escrow(user, organization: Organization) -> Decision:
    return role_in(user, organization, ALL_ROLES, "view escrow agreements and transactions")


def can_manage_escrow(user, organization: Organization) -> Decision:
    return role_in(user, organization, ESCROW_MANAGERS, "put milestones in escrow or refund them")


def can_attest_milestone(user, organization: Organization) -> Decision:
    return role_in(user, organization, ESCROW_MANAGERS, "attest a milestone on chain")


def can_retry_chain_tx(user, organization: Organization) -> Decision:
    return role_in(user, organization, ESCROW_MANAGERS, "retry a chain transaction")
