from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.errors import NotFound
from apps.tenancy.models import ApiToken, Invitation, Membership, Organization, Role
from apps.tenancy.scoping import get_scoped, scope_to_user


def organization_list(*, user) -> QuerySet:
    return scope_to_user(Organization.objects.all(), user=user, org_field="pk").order_by("name")


def organization_get(*, user, pk) -> Organization:
    return get_scoped(Organization.objects.all(), user=user, org_field="pk", pk=pk)


def membership_list(*, user, organization: Organization) -> QuerySet:
    return (
        scope_to_user(Membership.objects.all(), user=user)
        .filter(organization=organization)
        .select_related("user", "organization")
        .order_by("user__username")
    )


def membership_get(*, user, pk) -> Membership:
    return get_scoped(Membership.objects.select_related("user", "organization"), user=user, pk=pk)


def memberships_of(*, user) -> QuerySet:
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def api_token_list(*, user) -> QuerySet:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def api_token_get(*, user, pk) -> ApiToken:
    """Tokens belong to a user, not an organization: another user's token is not found."""
    try:
        return ApiToken.objects.get(user=user, pk=pk)
    except (ApiToken.DoesNotExist, ValidationError, ValueError):
        raise NotFound("API token not found.") from None


# --- invitations -------------------------------------------------------------------------------


def invitation_list(*, user, organization: Organization | None = None) -> QuerySet:
    """The invitations of the organizations the user owns (others' invitations are not theirs to see)."""
    invitations = scope_to_user(Invitation.objects.all(), user=user, roles=[Role.OWNER])
    if organization is not None:
        invitations = invitations.filter(organization=organization)
    return invitations.select_related("organization", "invited_by").order_by("-created_at")


def invitation_get(*, user, pk) -> Invitation:
    """An invitation of one of the user's organizations (the services check that the user is an owner)."""
    return get_scoped(Invitation.objects.select_related("organization", "invited_by"), user=user, pk=pk)


def _addressed_to(user, token: str | None = None) -> Q:
    """Invitations naming the user by username or account email, or (email invitations) whose secret they hold."""
    from apps.tenancy.services import token_hash  # the hash is the services' to define

    addressed = Q(pk__in=[])
    if getattr(user, "is_authenticated", False):
        addressed = ~Q(username="") & Q(username=user.get_username())
        if user.email:
            addressed |= ~Q(email="") & Q(email__iexact=user.email)
    if token:
        addressed |= ~Q(email="") & Q(token_hash=token_hash(token))
    return addressed


def invitations_for_invitee(*, user) -> QuerySet:
    """The user's pending invitations: what they may accept or decline."""
    return (
        Invitation.objects.filter(
            _addressed_to(user),
            accepted_at__isnull=True,
            declined_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("organization", "invited_by")
        .order_by("-created_at")
    )


def invitation_get_for_invitee(*, user, pk, token: str | None = None) -> Invitation:
    """An invitation addressed to the user; anyone else's is not found, whether or not it exists."""
    try:
        return Invitation.objects.select_related("organization").get(_addressed_to(user, token), pk=pk)
    except (Invitation.DoesNotExist, ValidationError, ValueError):
        raise NotFound("Invitation not found.") from None
