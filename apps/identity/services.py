"""Two-factor sign-in: enrolment, the second step after the password, recovery codes and the owner's policy.

Every change writes an audit event: a user's own second factor on the global chain (like API tokens), an
organization's policy on the organization's chain.
"""

import hashlib
import re
import secrets

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.services import audit_record
from apps.core.errors import ValidationFailed
from apps.identity import selectors
from apps.identity.models import RECOVERY_CODE_COUNT, OidcIdentity, RecoveryCode, TwoFactorPolicy
from apps.tenancy import permissions
from apps.tenancy.models import Invitation, Organization
from apps.tenancy.services import require

# No 0/o, 1/l/i: a code read off paper is typed back right. 10 of 31 symbols is about 49 bits.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 10
WRONG_CODE = "That code is not right (or was already used). Enter the current code from your authenticator app."


def recovery_code_hash(code: str) -> str:
    return hashlib.sha256(_normalized(code).encode("ascii", "ignore")).hexdigest()


def _normalized(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _new_recovery_codes(*, user) -> list[str]:
    """Replaces the user's recovery codes with fresh ones and returns them: the only time they are seen."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create([RecoveryCode(user=user, code_hash=recovery_code_hash(code)) for code in codes])
    return codes


def _totp_accepts(device: TOTPDevice, code: str) -> bool:
    """Checks a six-digit code on the locked device row; a failure's throttle count is committed, not rolled back."""
    digits = _normalized(code)
    if not (digits.isdigit() and len(digits) == device.digits):
        return False
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        return locked.verify_token(digits)  # django-otp refuses a code already used and throttles guessing


def totp_enrolment_start(*, user) -> TOTPDevice:
    """The authenticator secret to scan: the user's unconfirmed device, made once and kept until confirmed."""
    with transaction.atomic():
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("created_at").first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)
    return device


def totp_enrolment_confirm(*, user, code: str) -> list[str]:
    """The first right code from the app turns two-factor on; returns the recovery codes, shown this once."""
    if selectors.two_factor_enabled(user=user):
        raise ValidationFailed("Two-factor sign-in is already on. Turn it off first to set up another app.")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("created_at").first()
    if device is None:
        raise ValidationFailed("Start the set-up again: there is no authenticator waiting to be confirmed.")
    if not _totp_accepts(device, code):
        raise ValidationFailed.for_field("code", WRONG_CODE)
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        codes = _new_recovery_codes(user=user)
        audit_record(
            action="two_factor.enrolled",
            actor=user,
            obj=device,
            after={"method": "totp", "recovery_codes": len(codes)},
            object_repr=f"two-factor sign-in of {user.get_username()}",
        )
    return codes


def second_factor_check(*, user, code: str) -> str:
    """Accepts a current authenticator code or an unused recovery code; returns which ("totp" or "recovery")."""
    device = selectors.totp_device_confirmed(user=user)
    if device is None:
        raise ValidationFailed("Two-factor sign-in is not set up for this account.")
    if _totp_accepts(device, code):
        return "totp"
    if len(_normalized(code)) == RECOVERY_CODE_LENGTH:
        with transaction.atomic():
            # One UPDATE claims the code, so two requests with the same code cannot both pass.
            used = RecoveryCode.objects.filter(
                user=user, code_hash=recovery_code_hash(code), used_at__isnull=True
            ).update(used_at=timezone.now())
            if used:
                audit_record(
                    action="two_factor.recovery_code_used",
                    actor=user,
                    obj=device,
                    after={"recovery_codes_left": selectors.recovery_codes_left(user=user)},
                    object_repr=f"two-factor sign-in of {user.get_username()}",
                )
                return "recovery"
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        raise ValidationFailed.for_field("code", "Too many wrong codes: wait a few seconds, then try again.")
    raise ValidationFailed.for_field("code", WRONG_CODE)


def recovery_codes_regenerate(*, user, code: str) -> list[str]:
    """New recovery codes (the old ones stop working), after a code proves the user still holds a factor."""
    second_factor_check(user=user, code=code)
    with transaction.atomic():
        codes = _new_recovery_codes(user=user)
        audit_record(
            action="two_factor.recovery_codes_regenerated",
            actor=user,
            after={"recovery_codes": len(codes)},
            object_repr=f"two-factor sign-in of {user.get_username()}",
        )
    return codes


def two_factor_disable(*, user, code: str) -> None:
    """Turns two-factor off after a code; under an organization's policy the user must set it up again next."""
    second_factor_check(user=user, code=code)
    with transaction.atomic():
        devices = list(TOTPDevice.objects.filter(user=user).values_list("pk", flat=True))
        TOTPDevice.objects.filter(pk__in=devices).delete()
        RecoveryCode.objects.filter(user=user).delete()
        audit_record(
            action="two_factor.disabled",
            actor=user,
            before={"method": "totp"},
            after={"required_by": [org.name for org in selectors.organizations_requiring_two_factor(user=user)]},
            object_repr=f"two-factor sign-in of {user.get_username()}",
        )


def two_factor_policy_set(*, organization: Organization, required: bool, by) -> TwoFactorPolicy:
    """An owner makes a second factor mandatory (or optional) for every member of the organization."""
    require(permissions.can_set_two_factor_policy(by, organization))
    if required and not selectors.two_factor_enabled(user=by):
        raise ValidationFailed.for_field(
            "required", "Turn on two-factor sign-in for your own account first (Account security page)."
        )
    with transaction.atomic():
        Organization.objects.select_for_update().filter(pk=organization.pk).first()  # parent before child
        policy, _ = TwoFactorPolicy.objects.select_for_update().get_or_create(organization=organization)
        before = policy.required
        if before != required:
            policy.required, policy.changed_by = required, by
            policy.save(update_fields=["required", "changed_by", "updated_at"])
            audit_record(
                action="organization.two_factor_policy_changed",
                actor=by,
                organization=organization,
                obj=policy,
                before={"two_factor_required": before},
                after={"two_factor_required": required},
            )
    return policy


def password_reset_record(*, user) -> None:
    """The audit event of a password set through an emailed reset link (the caller's transaction)."""
    audit_record(
        action="password.reset",
        actor=user,
        after={"via": "email link"},
        object_repr=f"password of {user.get_username()}",
    )


def _free_username(preferred: str, subject: str) -> str:
    base = re.sub(r"[^\w.@+-]", "", preferred)[:120] or "sso-" + hashlib.sha256(subject.encode()).hexdigest()[:10]
    users = get_user_model().objects
    candidate, n = base, 1
    # A name an owner invited is not handed to a newcomer: the invitation by username was meant for someone else.
    while (
        users.filter(username__iexact=candidate).exists()
        or Invitation.objects.filter(username__iexact=candidate).exists()
    ):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def oidc_user_for(*, issuer: str, subject: str, email: str, email_verified: bool, preferred_username: str):
    """The account of a provider's subject; the first sign-in makes one, with no membership and no password.

    An existing local account is never taken over by a matching email address, and only an address the provider
    says it verified is kept (an invitation to an address is accepted by the account that has it).
    """
    identity = OidcIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    if identity is not None:
        return identity.user
    try:
        with transaction.atomic():
            user = get_user_model()(username=_free_username(preferred_username, subject))
            user.email = email.strip().lower() if email_verified else ""
            user.set_unusable_password()
            user.save()
            identity = OidcIdentity.objects.create(user=user, issuer=issuer, subject=subject)
            audit_record(
                action="user.created_by_single_sign_on",
                actor=user,
                obj=identity,
                after={"username": user.username, "issuer": issuer, "email_verified": bool(user.email)},
                object_repr=f"account {user.username}",
            )
    except IntegrityError:  # the same subject's first sign-in in two tabs at once
        return OidcIdentity.objects.select_related("user").get(issuer=issuer, subject=subject).user
    return user
