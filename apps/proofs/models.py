"""Proof links: a funder's way to show anyone, without an account, why one released milestone was paid."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel

TOKEN_BYTES = 32  # 256 random bits, URL-safe base64: 43 characters


def new_proof_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class ProofLink(BaseModel):
    """An unguessable, revocable link to the proof page of one released milestone. The token is the only key:
    whoever holds the link sees that milestone's proof and nothing else; once revoked the page answers 410."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="proof_links")
    milestone = models.ForeignKey("funding.Milestone", on_delete=models.PROTECT, related_name="proof_links")
    token = models.CharField(max_length=64, unique=True, default=new_proof_token, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    report_data_sha256 = models.CharField(
        max_length=64, blank=True, help_text="Data hash of the latest grant report PDF that printed this link."
    )
    report_generated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_by__isnull=False), name="proof_link_revoked_by_whom"
            ),
        ]

    def __str__(self) -> str:
        return f"proof of {self.milestone_id}{' (revoked)' if self.revoked_at else ''}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
