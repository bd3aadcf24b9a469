"""Organizations, memberships, invitations and API tokens: every change checked, audited, in one transaction."""

import datetime as dt
import hashlib
import logging
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import audit_record
from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.core.outbox import outbox_nudge
from apps.tenancy import permissions
from apps.tenancy.models import ApiToken, Invitation, InvitationStatus, Membership, Organization, Role, TokenScope

TOKEN_PREFIX = "gt_"  # noqa: S105 - a public marker, not a secret
INVITATION_TOKEN_PREFIX = "gti_"  # noqa: S105 - a public marker, not a secret

logger = logging.getLogger(__name__)


def require(decision: permissions.Decision) -> None:
    """Raises the 403 with the permission module's reason when a decision is a refusal."""
    allowed, reason = decision
    if not allowed:
        raise PermissionDenied(reason)


def organization_create(
    *, name: str, created_by, slug: str | None = None, default_currency: str = "USD"
) -> Organization:
    """Creates an organization with its creator as owner (who may: settings.ORGANIZATION_CREATE)."""
    require(permissions.can_create_organization(created_by))
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
    """An owner adds a user without asking them: for operators' commands (seed_demo). The API invites instead."""
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


def api_token_create(
    *,
    user,
    name: str,
    expires_in_days: int | None = None,
    scope: str = TokenScope.READ_ONLY,
    via_token: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Creates a token and returns it with its secret, which is never stored and cannot be shown again.

    `via_token` is the token the request was authenticated with, if any: a token cannot mint tokens, or a leaked
    one could outlive its own revocation through the tokens it made.
    """
    require(permissions.can_create_api_token(user, via_token=via_token))
    if scope not in TokenScope.values:
        raise ValidationFailed.for_field(
            "scope", f"Unknown scope '{scope}'. Choose one of: {', '.join(TokenScope.values)}."
        )
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
                scope=scope,
                expires_at=timezone.now() + dt.timedelta(days=days),
            )
            audit_record(
                action="api_token.created",
                actor=user,
                obj=token,
                after={"name": name, "prefix": prefix, "scope": scope, "expires_at": token.expires_at},
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


# --- invitations -------------------------------------------------------------------------------


def invitation_create(*, organization: Organization, by, role: str, username: str = "", email: str = "") -> Invitation:
    """An owner invites someone by username or email address; nothing changes until the invitee accepts.

    The answer is the same whether or not an account with that username or address exists, so inviting does not
    tell who has an account. The secret that lets the invitee accept goes to their email address only.
    """
    require(permissions.can_invite_members(by, organization))
    username, email = (username or "").strip(), (email or "").strip().lower()
    if bool(username) == bool(email):
        message = "Name the invitee by username or by email address (one of the two)."
        raise ValidationFailed.for_fields({"username": message, "email": message}, message)
    if role not in Role.values:
        raise ValidationFailed.for_field("role", f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}.")
    raw = f"{INVITATION_TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        # One invitation at a time per invitee: the organization row serializes invitations to it.
        Organization.objects.select_for_update().get(pk=organization.pk)
        if username and Membership.objects.filter(organization=organization, user__username=username).exists():
            raise Conflict(f"{username} is already a member of {organization.name}.")
        pending = _open_invitations(organization).filter(username=username, email=email).first()
        if pending is not None:
            raise Conflict(
                f"An invitation to {pending.invitee} is pending until {pending.expires_at:%Y-%m-%d %H:%M} UTC; "
                "revoke it to send a new one."
            )
        invitation = Invitation.objects.create(
            organization=organization,
            invited_by=by,
            username=username,
            email=email,
            role=role,
            token_hash=token_hash(raw),
            expires_at=timezone.now() + dt.timedelta(days=settings.INVITATION_TTL_DAYS),
        )
        audit_record(
            action="invitation.created",
            actor=by,
            organization=organization,
            obj=invitation,
            after={"invitee": invitation.invitee, "role": role, "expires_at": invitation.expires_at},
        )
        from apps.tenancy.tasks import invitation_send_email

        # The secret is not stored, so no sweep can resend this mail: a lost nudge leaves the invitation to be seen
        # at sign-in (or revoked and sent again).
        outbox_nudge(invitation_send_email, str(invitation.pk), raw)
    return invitation


def _open_invitations(organization: Organization):
    return Invitation.objects.filter(
        organization=organization,
        accepted_at__isnull=True,
        declined_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )


def invitation_email_send(*, invitation_id: str, token: str) -> bool:
    """Mails the invitation to its address, or to the invited account's; False when there is no address."""
    invitation = Invitation.objects.select_related("organization", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.status != InvitationStatus.PENDING:
        return False
    address = invitation.email
    if not address:
        user = get_user_model().objects.filter(username=invitation.username, is_active=True).first()
        address = user.email if user is not None else ""
    if not address:
        logger.info("Invitation %s has no email address to go to; the invitee sees it on sign-in", invitation.pk)
        return False
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "An owner"
    body = (
        f"{inviter} invited you to join {invitation.organization.name} on govtrack as {invitation.role}.\n\n"
        f"Sign in, then accept (or decline) the invitation {invitation.pk} before "
        f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC:\n"
        f'  POST /api/invitations/{invitation.pk}/accept/  with  {{"token": "{token}"}}\n\n'
        "If you did not expect this, ignore it: nothing changes unless you accept."
    )
    send_mail(f"Invitation to {invitation.organization.name}", body, settings.DEFAULT_FROM_EMAIL, [address])
    return True


def invitation_revoke(*, invitation: Invitation, by) -> Invitation:
    require(permissions.can_invite_members(by, invitation.organization))
    with transaction.atomic():
        invitation = _locked_pending(invitation)
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at", "updated_at"])
        audit_record(
            action="invitation.revoked",
            actor=by,
            organization=invitation.organization,
            obj=invitation,
            before={"status": InvitationStatus.PENDING},
            after={"status": InvitationStatus.REVOKED},
        )
    return invitation


def invitation_accept(*, invitation: Invitation, by) -> Membership:
    """The invitee (found by the invitee selector) joins with the invitation's role."""
    organization = invitation.organization
    with transaction.atomic():
        invitation = _locked_pending(invitation)
        if Membership.objects.filter(organization=organization, user=by).exists():
            raise Conflict(f"You are already a member of {organization.name}.")
        membership = Membership.objects.create(organization=organization, user=by, role=invitation.role)
        invitation.accepted_at, invitation.accepted_by = timezone.now(), by
        invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
        audit_record(
            action="invitation.accepted",
            actor=by,
            organization=organization,
            obj=invitation,
            before={"status": InvitationStatus.PENDING},
            after={"status": InvitationStatus.ACCEPTED, "user": by.get_username()},
        )
        audit_record(
            action="membership.added",
            actor=by,
            organization=organization,
            obj=membership,
            after={"user": by.get_username(), "role": membership.role, "invitation": str(invitation.pk)},
        )
    permissions.forget_roles(by)
    return membership


def invitation_decline(*, invitation: Invitation, by) -> Invitation:
    with transaction.atomic():
        invitation = _locked_pending(invitation)
        invitation.declined_at = timezone.now()
        invitation.save(update_fields=["declined_at", "updated_at"])
        audit_record(
            action="invitation.declined",
            actor=by,
            organization=invitation.organization,
            obj=invitation,
            before={"status": InvitationStatus.PENDING},
            after={"status": InvitationStatus.DECLINED},
        )
    return invitation


def _locked_pending(invitation: Invitation) -> Invitation:
    invitation = Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
    status = invitation.status
    if status == InvitationStatus.EXPIRED:
        raise Conflict(f"This invitation expired on {invitation.expires_at:%Y-%m-%d}; ask an owner for a new one.")
    if status != InvitationStatus.PENDING:
        raise Conflict(f"This invitation was already {status}.")
    return invitation


def user_create(*, username: str, password: str | None, email: str = "", **extra):
    User = get_user_model()
    user = User(username=username, email=email, **extra)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user
