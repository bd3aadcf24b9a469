"""Compute in the support window: read-only. Device labels decide which devices count as a milestone's evidence,
and sources, devices and their tokens change only through the services (the API and dashboard)."""

from django.contrib import admin

from apps.compute import models
from apps.compute.services.sources import config_redacted
from apps.core.admin import SupportModelAdmin


@admin.register(models.ComputeSource)
class ComputeSourceAdmin(SupportModelAdmin):
    list_display = ["name", "kind", "enabled", "schedule_seconds", "last_success_at", "consecutive_failures"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    exclude = ["config"]
    readonly_fields = ["config_shown"]

    @admin.display(description="config (secrets redacted)")
    def config_shown(self, obj):
        return config_redacted(obj.config)


@admin.register(models.Device)
class DeviceAdmin(SupportModelAdmin):
    list_display = ["key", "kind", "organization", "source", "last_seen_at"]
    list_filter = ["kind"]
    search_fields = ["key"]
    exclude = ["token_hash"]


@admin.register(models.VerificationReport)
class VerificationReportAdmin(SupportModelAdmin):
    list_display = ["created_at", "milestone", "source", "passed", "value", "sha256"]
    list_filter = ["passed", "source"]
    search_fields = ["sha256"]


@admin.register(models.SampleRollup)
class SampleRollupAdmin(SupportModelAdmin):
    list_display = ["minute", "device", "metric", "avg", "min", "max", "count"]
    list_filter = ["metric"]
    raw_id_fields = ["device"]
    show_full_result_count = False
