"""Two-factor sign-in: an organization's policy and each user's one-time recovery codes.

The TOTP secret itself lives in django-otp's TOTPDevice (one confirmed device per user); a recovery code is
kept only as its SHA-256, like API tokens: the codes are random enough that a slow hash adds nothing.
"""

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel
from apps.tenancy.models import Organization

RECOVERY_CODE_COUNT = 10


class TwoFactorPolicy(BaseModel):
    """An owner's rule for the organization: members must sign in with a second factor."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="two_factor_policy")
    required = models.BooleanField(default=False)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        verbose_name_plural = "two-factor policies"

    def __str__(self) -> str:
        return f"{self.organization}: two-factor {'required' if self.required else 'optional'}"


class RecoveryCode(BaseModel):
    """One code that stands in for the authenticator once; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user} ({'used' if self.used_at else 'unused'})"


class OidcIdentity(BaseModel):
    """The account an OpenID Connect provider's subject signs in to: matched on (issuer, sub), never on email."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique_subject")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
