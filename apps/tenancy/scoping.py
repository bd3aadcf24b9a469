"""Organization scoping: the one place that limits a query to the user's organizations.

Every selector that reads domain rows for a user passes its queryset through `scope_to_user`.
An object of another organization is therefore simply not found (404), never a 403 that would
confirm it exists.
"""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from apps.core.errors import NotFound
from apps.tenancy.models import Membership


def user_organization_ids(user, roles=None) -> QuerySet:
    """A subquery of the ids of the user's organizations (where the user has one of `roles`, if given)."""
    if not getattr(user, "is_authenticated", False):
        return Membership.objects.none().values("organization_id")
    memberships = Membership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return memberships.values("organization_id")


def scope_to_user(queryset: QuerySet, *, user, org_field: str = "organization", roles=None) -> QuerySet:
    """Rows of `queryset` whose `org_field` is one of the user's organizations ("pk" for Organization).

    `roles` narrows to the organizations where the user holds one of those roles (e.g. audit readers).
    """
    return queryset.filter(**{f"{org_field}__in": user_organization_ids(user, roles)})


def get_scoped(queryset: QuerySet, *, user, org_field: str = "organization", **lookup):
    """One row of the user's organizations, or NotFound (404) whatever the reason it is not visible."""
    try:
        return scope_to_user(queryset, user=user, org_field=org_field).get(**lookup)
    except (queryset.model.DoesNotExist, ValidationError, ValueError):
        # A malformed id is a not-found too: nothing tells a caller whether a row exists elsewhere.
        raise NotFound(f"{queryset.model._meta.verbose_name.capitalize()} not found.") from None
