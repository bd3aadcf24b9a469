"""Who may do what. Each question is a function returning (allowed, reason).

The reason is what a refused user reads in the 403, so it names the role needed.
Apps add their questions here, built from `role_in`, so the rules live in one module.
"""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS

from apps.tenancy.models import ApiToken, Membership, Organization, Role, TokenScope

Decision = tuple[bool, str]

ALL_ROLES = frozenset(Role.values)
WRITERS = frozenset({Role.OWNER, Role.FINANCE, Role.COMPLIANCE, Role.ENGINEER})


def role_of(user, organization: Organization) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    cache = getattr(user, "_govtrack_roles", None)
    if cache is None:
        cache = dict(Membership.objects.filter(user=user).values_list("organization_id", "role"))
        user._govtrack_roles = cache
    return cache.get(organization.pk)


def forget_roles(user) -> None:
    """Drops the per-request role cache after memberships change."""
    if hasattr(user, "_govtrack_roles"):
        del user._govtrack_roles


def role_in(user, organization: Organization, roles: set[str] | frozenset[str], action: str) -> Decision:
    role = role_of(user, organization)
    if role is None:
        return False, f"You are not a member of {organization.name}."
    if role in roles:
        return True, ""
    allowed = ", ".join(sorted(roles))
    return False, f"To {action} you need one of the roles: {allowed}. Your role in {organization.name} is {role}."


# --- organization and members ---------------------------------------------------------


def can_view_organization(user, organization: Organization) -> Decision:
    return role_in(user, organization, ALL_ROLES, "view this organization")


def can_manage_members(user, organization: Organization) -> Decision:
    return role_in(user, organization, {Role.OWNER}, "manage members")


def can_set_two_factor_policy(user, organization: Organization) -> Decision:
    return role_in(user, organization, {Role.OWNER}, "require two-factor sign-in for members")


def can_verify_audit_chain(user, organization: Organization) -> Decision:
    return role_in(user, organization, {Role.OWNER, Role.COMPLIANCE}, "verify the audit trail")


def can_create_organization(user) -> Decision:
    if settings.ORGANIZATION_CREATE == "anyone" or getattr(user, "is_staff", False):
        return True, ""
    return False, "Only platform staff create organizations here; ask your operator to create one and invite you."


def can_invite_members(user, organization: Organization) -> Decision:
    return role_in(user, organization, {Role.OWNER}, "invite members")


# --- API tokens -------------------------------------------------------------------------


def can_create_api_token(user, *, via_token: ApiToken | None) -> Decision:
    if via_token is not None:
        return False, (
            "API tokens are created from a signed-in session (the dashboard or the browsable API), "
            "not with another API token."
        )
    return True, ""


def can_use_token_for(token: ApiToken, method: str) -> Decision:
    if method in SAFE_METHODS or token.scope == TokenScope.READ_WRITE:
        return True, ""
    return False, (
        f"API token '{token.name}' has the {token.scope} scope: it may only read (GET, HEAD, OPTIONS). "
        f"Use a {TokenScope.READ_WRITE} token to change data."
    )
