"""Organizations, memberships and API tokens: every change checked, audited, in one transaction."""

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import audit_record
from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.tenancy import permissions
from apps.tenancy.models import ApiToken, Membership, Organization, Role

TOKEN_PREFIX = "gt_"  # noqa: S105 - a public marker, not a secret


def require(decision: permissions.Decision) -> None:
    """Raises the 403 with the permission module's reason when a decision is a refusal."""
    allowed, reason = decision
    if not allowed:
        raise PermissionDenied(reason)


def organization_create(
    *, name: str, created_by, slug: str | None = None, default_currency: str = "USD"
) -> Organization:
    """Creates an organization with its creator as owner."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.for_field("name", "An organization needs a name.")
    slug = slugify(slug or name)[:80]
    if not slug:
        raise ValidationFailed.for_field("slug", "The slug must contain letters or digits.")
    if Organization.objects.filter(slug=slug).exists():
        raise ValidationFailed.for_field("slug", f"The slug '{slug}' is taken.")
    with transaction.atomic():
        organization = Organization.objects.create(name=name, slug=slug, default_currency=default_currency)
        Membership.objects.create(organization=organization, user=created_by, role=Role.OWNER)
        audit_record(
            action="organization.created",
            actor=created_by,
            organization=organization,
            obj=organization,
            after={"name": name, "slug": slug, "owner": created_by.get_username()},
        )
    permissions.forget_roles(created_by)
    return organization


def membership_add(*, organization: Organization, user, role: str, by) -> Membership:
    require(permissions.can_manage_members(by, organization))
    if role not in Role.values:
        raise ValidationFailed.for_field("role", f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}.")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(organization=organization, user=user, role=role)
            audit_record(
                action="membership.added",
                actor=by,
                organization=organization,
                obj=membership,
                after={"user": user.get_username(), "role": role},
            )
    except IntegrityError:
        raise Conflict(f"{user.get_username()} is already a member of {organization.name}.") from None
    permissions.forget_roles(user)
    return membership


def membership_change_role(*, membership: Membership, role: str, by) -> Membership:
    organization = membership.organization
    require(permissions.can_manage_members(by, organization))
    if role not in Role.values:
        raise ValidationFailed.for_field("role", f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}.")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == role:
            return membership
        _refuse_removing_last_owner(membership, new_role=role)
        old = membership.role
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        audit_record(
            action="membership.role_changed",
            actor=by,
            organization=organization,
            obj=membership,
            before={"role": old},
            after={"role": role},
        )
    permissions.forget_roles(membership.user)
    return membership


def membership_remove(*, membership: Membership, by) -> None:
    organization = membership.organization
    require(permissions.can_manage_members(by, organization))
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        _refuse_removing_last_owner(membership, new_role=None)
        audit_record(
            action="membership.removed",
            actor=by,
            organization=organization,
            obj=membership,
            before={"user": membership.user.get_username(), "role": membership.role},
        )
        membership.delete()
    permissions.forget_roles(membership.user)


def _refuse_removing_last_owner(membership: Membership, *, new_role: str | None) -> None:
    if membership.role != Role.OWNER or new_role == Role.OWNER:
        return
    owners = Membership.objects.select_for_update().filter(organization=membership.organization, role=Role.OWNER)
    if owners.count() <= 1:
        raise Conflict("An organization keeps at least one owner: make someone else owner first.")


# --- API tokens ------------------------------------------------------------------------------------


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_create(*, user, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Creates a token and returns it with its secret, which is never stored and cannot be shown again."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.for_field("name", "Name the token after the tool that will use it.")
    days = settings.API_TOKEN_DEFAULT_DAYS if expires_in_days is None else expires_in_days
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ValidationFailed.for_field(
            "expires_in_days", f"A token lives between 1 and {settings.API_TOKEN_MAX_DAYS} days."
        )
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user,
                name=name,
                prefix=prefix,
                key_hash=token_hash(raw),
                expires_at=timezone.now() + dt.timedelta(days=days),
            )
            audit_record(
                action="api_token.created",
                actor=user,
                obj=token,
                after={"name": name, "prefix": prefix, "expires_at": token.expires_at},
            )
    except IntegrityError:
        raise ValidationFailed.for_field("name", f"You already have a token named '{name}'.") from None
    return token, raw


def api_token_revoke(*, token: ApiToken, by) -> ApiToken:
    if token.user_id != by.pk:
        raise PermissionDenied("You can revoke only your own tokens.")
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        audit_record(
            action="api_token.revoked",
            actor=by,
            obj=token,
            before={"revoked_at": None},
            after={"revoked_at": token.revoked_at},
        )
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Records use at most once a minute, so authenticating a busy tool is not a write per request."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def user_create(*, username: str, password: str | None, email: str = "", **extra):
    User = get_user_model()
    user = User(username=username, email=email, **extra)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user
