"""Admin pages for browsing. Sources and devices change through the services (API), so state is read-only here."""

from django.contrib import admin

from apps.compute import models


@admin.register(models.ComputeSource)
class ComputeSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "enabled", "schedule_seconds", "last_success_at", "consecutive_failures"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["last_run_at", "last_success_at", "last_error", "last_sample_count", "consecutive_failures"]


@admin.register(models.Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["key", "kind", "organization", "source", "last_seen_at"]
    list_filter = ["kind"]
    search_fields = ["key"]
    readonly_fields = ["token_prefix", "token_hash", "last_seen_at"]


@admin.register(models.VerificationReport)
class VerificationReportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "milestone", "source", "passed", "value", "sha256"]
    list_filter = ["passed", "source"]
    search_fields = ["sha256"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(models.SampleRollup)
class SampleRollupAdmin(admin.ModelAdmin):
    list_display = ["minute", "device", "metric", "avg", "min", "max", "count"]
    list_filter = ["metric"]
    raw_id_fields = ["device"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
