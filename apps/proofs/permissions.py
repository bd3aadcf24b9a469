"""Who may share proof links. Each question returns (allowed, reason); see apps/tenancy/permissions.py."""

from apps.tenancy.models import Organization, Role
from apps.tenancy.permissions import ALL_ROLES, Decision, role_in

PROOF_SHARERS = frozenset({Role.OWNER, Role.FINANCE})


def can_view_proof_links(user, organization: Organization) -> Decision:
    return role_in(user, organization, ALL_ROLES, "see the proof links of milestones")


def can_share_proof(user, organization: Organization) -> Decision:
    return role_in(user, organization, PROOF_SHARERS, "create or revoke a milestone's proof link")
