from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from apps.core.errors import NotFound
from apps.tenancy.models import ApiToken, Membership, Organization
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
