"""Read-only admin pages: changes go through the services (role checks and the audit trail), i.e. the API."""

from django.contrib import admin

from apps.risks.models import (
    KeyRiskIndicator,
    KriEvent,
    Mitigation,
    Risk,
    RiskMatrix,
    RiskRegister,
    RiskReview,
    RiskScoreSnapshot,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RiskMatrix)
class RiskMatrixAdmin(ReadOnlyAdmin):
    list_display = ["name", "organization", "likelihood_size", "impact_size"]


@admin.register(RiskRegister)
class RiskRegisterAdmin(ReadOnlyAdmin):
    list_display = ["name", "organization", "program", "matrix", "review_cadence_days"]
    search_fields = ["name", "program"]


class MitigationInline(ReadOnlyInline):
    model = Mitigation
    fields = ["title", "owner", "status", "due_date", "completed_at"]


class IndicatorInline(ReadOnlyInline):
    model = KeyRiskIndicator
    fields = ["name", "source", "metric", "aggregation", "window", "comparison", "threshold", "state", "last_value"]


@admin.register(Risk)
class RiskAdmin(ReadOnlyAdmin):
    list_display = ["ref", "title", "register", "category", "status", "owner", "flagged_at", "next_review_on"]
    list_filter = ["status", "category", "treatment"]
    search_fields = ["ref", "title"]
    inlines = [MitigationInline, IndicatorInline]


@admin.register(RiskReview)
class RiskReviewAdmin(ReadOnlyAdmin):
    list_display = ["risk", "reviewed_by", "next_review_on", "created_at"]


@admin.register(RiskScoreSnapshot)
class RiskScoreSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["risk", "recorded_at", "reason", "current_likelihood", "current_impact", "current_level"]


@admin.register(KeyRiskIndicator)
class KeyRiskIndicatorAdmin(ReadOnlyAdmin):
    list_display = ["name", "risk", "source", "metric", "state", "last_value", "last_evaluated_at"]
    list_filter = ["source", "state"]


@admin.register(KriEvent)
class KriEventAdmin(ReadOnlyAdmin):
    list_display = ["indicator", "kind", "value", "threshold", "occurred_at", "notified"]
    list_filter = ["kind"]
