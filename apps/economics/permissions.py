"""Who may do what with compute economics, the roadmap and the success metrics; each returns (allowed, reason)."""

from apps.tenancy.models import Organization, Role
from apps.tenancy.permissions import Decision, role_in

PRICE_KEEPERS = frozenset({Role.OWNER, Role.FINANCE})
ROADMAP_KEEPERS = frozenset({Role.OWNER, Role.FINANCE, Role.ENGINEER})


def can_manage_rates(user, organization: Organization) -> Decision:
    return role_in(user, organization, PRICE_KEEPERS, "keep rate cards and cost attributions")


def can_manage_roadmap(user, organization: Organization) -> Decision:
    return role_in(user, organization, ROADMAP_KEEPERS, "keep the roadmap and its success metrics")


def can_work_on_initiative(user, initiative) -> Decision:
    """The initiative's owner may move it whatever their role; otherwise the roadmap's keepers."""
    if getattr(user, "pk", None) is not None and initiative.owner_id == user.pk:
        return True, ""
    return can_manage_roadmap(user, initiative.organization)
