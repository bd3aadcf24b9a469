from django.db import models

from apps.core.models import BaseModel


class WebhookEvent(models.TextChoices):
    GRANT_STATUS_CHANGED = "grant.status_changed", "Grant status changed"
    INVESTMENT_STATUS_CHANGED = "investment.status_changed", "Investment status changed"
    MILESTONE_SUBMITTED = "milestone.submitted", "Milestone submitted"
    MILESTONE_VERIFIED = "milestone.verified", "Milestone verified"
    MILESTONE_RELEASED = "milestone.released", "Milestone released"
    MILESTONE_MISSED = "milestone.missed", "Milestone missed"
    MILESTONE_DISPUTED = "milestone.disputed", "Milestone disputed"
    DISBURSEMENT_RECORDED = "disbursement.recorded", "Disbursement recorded"


class WebhookEndpoint(BaseModel):
    """An organization's receiver. `secret` signs each delivery (HMAC-SHA256); it is shown once at creation."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Event types to send; empty means all.")
    # Kept readable because signing needs it; the database and its backups are the boundary that guards it.
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return self.is_active and (not self.events or event_type in self.events)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(BaseModel):
    """One event to one endpoint, with its attempts. The payload is fixed when the event happens."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(help_text="Same for every endpoint receiving this event; receivers dedupe on it.")
    event_type = models.CharField(max_length=50, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"
