from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from apps.core.models import BaseModel


class User(AbstractUser):
    """A person (or a finance tool acting for one). Signs in with username; email for reminders."""

    email = models.EmailField("email address", blank=True)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    FINANCE = "finance", "Finance"
    COMPLIANCE = "compliance", "Compliance"
    ENGINEER = "engineer", "Engineer"
    # An investor or grant officer is a viewer of the organization they fund.
    VIEWER = "viewer", "Viewer"


class Organization(BaseModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    default_currency = models.CharField(max_length=3, default="USD")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(BaseModel):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user_per_org"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.organization}"


class TokenScope(models.TextChoices):
    READ_ONLY = "read-only", "Read only (GET, HEAD, OPTIONS)"
    READ_WRITE = "read-write", "Read and write"


class ApiToken(BaseModel):
    """A named, expiring, revocable API token. Only the SHA-256 of the secret is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True, help_text="Shown to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    # Tokens made before scopes existed could write, so they keep that; new ones are read-only unless asked.
    scope = models.CharField(max_length=20, choices=TokenScope.choices, default=TokenScope.READ_WRITE)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="apitoken_unique_name_per_user"),
            models.CheckConstraint(condition=models.Q(scope__in=TokenScope.values), name="apitoken_scope_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class Invitation(BaseModel):
    """An owner's offer of a role in an organization; a membership exists only once the invitee accepts.

    The invitee is named by username or by email address. Only the SHA-256 of the invitation's secret is kept:
    the secret goes to the email address, and proves that whoever accepts with it received that email.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="invitations_sent"
    )
    username = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True)
    role = models.CharField(max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    declined_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="invitation_role_valid"),
            models.CheckConstraint(
                condition=~models.Q(username="") | ~models.Q(email=""), name="invitation_names_invitee"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invitee} invited as {self.role} of {self.organization}"

    @property
    def invitee(self) -> str:
        return self.username or self.email

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.declined_at is not None:
            return InvitationStatus.DECLINED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING
