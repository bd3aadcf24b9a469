"""Who may do what with compute sources, devices and verification. See apps/tenancy/permissions.py."""

from apps.tenancy.models import Organization, Role
from apps.tenancy.permissions import ALL_ROLES, Decision, role_in

COMPUTE_MANAGERS = frozenset({Role.OWNER, Role.ENGINEER})
# Evaluating a criterion now only reads evidence; whoever works on milestones may ask for it.
EVALUATORS = frozenset({Role.OWNER, Role.FINANCE, Role.ENGINEER})


def can_view_compute(user, organization: Organization) -> Decision:
    return role_in(user, organization, ALL_ROLES, "view compute sources and devices")


def can_manage_sources(user, organization: Organization) -> Decision:
    return role_in(user, organization, COMPUTE_MANAGERS, "manage compute sources")


def can_manage_devices(user, organization: Organization) -> Decision:
    return role_in(user, organization, COMPUTE_MANAGERS, "manage devices and their tokens")


def can_evaluate_criterion(user, organization: Organization) -> Decision:
    return role_in(user, organization, EVALUATORS, "evaluate a compute criterion")
