"""Webhooks in the support window: read-only (endpoints change through the API, deliveries are the outbox)."""

from django.contrib import admin

from apps.core.admin import SupportModelAdmin
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(SupportModelAdmin):
    list_display = ["url", "organization", "is_active", "created_at"]
    list_filter = ["is_active"]
    exclude = ["secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(SupportModelAdmin):
    list_display = ["event_type", "endpoint", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event_type"]
