from django.contrib.auth import get_user_model

from apps.core.errors import ValidationFailed
from apps.tenancy.models import Membership, Organization


def member_by_username(organization: Organization, username: str | None, *, field: str, required: bool = True):
    """The member of `organization` called `username`, or a 400 naming `field`."""
    username = (username or "").strip()
    if not username:
        if required:
            raise ValidationFailed.for_field(field, "Name a member of the organization (username).")
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not Membership.objects.filter(organization=organization, user=user).exists():
        raise ValidationFailed.for_field(field, f"{username} is not a member of {organization.name}.")
    return user
