"""Reads about a user's second factor and the organizations that require one."""

from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.identity.models import RecoveryCode, TwoFactorPolicy
from apps.tenancy.models import Organization, Role


def totp_device_confirmed(*, user) -> TOTPDevice | None:
    """The authenticator the user signs in with, if they set one up."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("created_at").first()


def two_factor_enabled(*, user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def organizations_requiring_two_factor(*, user) -> list[Organization]:
    """The user's organizations whose owners made a second factor mandatory (by name)."""
    return list(Organization.objects.filter(memberships__user=user, two_factor_policy__required=True).order_by("name"))


def recovery_codes_left(*, user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def two_factor_policy_of(*, organization: Organization) -> TwoFactorPolicy:
    """The organization's policy; an organization that never set one has an optional second factor."""
    policy = TwoFactorPolicy.objects.filter(organization=organization).select_related("changed_by").first()
    return policy or TwoFactorPolicy(organization=organization, required=False)


def organizations_owned_with_policy(*, user) -> list[Organization]:
    """The organizations the user owns, each with `two_factor_required` read from its policy (one query)."""
    owned = (
        Organization.objects.filter(memberships__user=user, memberships__role=Role.OWNER)
        .select_related("two_factor_policy")
        .order_by("name")
    )
    for organization in owned:
        policy = getattr(organization, "two_factor_policy", None)
        organization.two_factor_required = bool(policy and policy.required)
    return list(owned)
