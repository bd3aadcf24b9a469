from django.contrib import admin

from apps.audit.models import AuditEvent
from apps.core.admin import SupportModelAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(SupportModelAdmin):
    """Read-only: the audit trail is append-only everywhere (the database refuses UPDATE and DELETE too)."""

    list_display = ["occurred_at", "organization", "seq", "actor_repr", "action", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "object_repr", "actor_repr", "request_id"]
