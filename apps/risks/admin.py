"""Risks in the support window: read-only; changes go through the services (role checks and the audit trail),
i.e. the dashboard and the API."""

from django.contrib import admin

from apps.core.admin import SupportInline, SupportModelAdmin
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


@admin.register(RiskMatrix)
class RiskMatrixAdmin(SupportModelAdmin):
    list_display = ["name", "organization", "likelihood_size", "impact_size"]


@admin.register(RiskRegister)
class RiskRegisterAdmin(SupportModelAdmin):
    list_display = ["name", "organization", "program", "matrix", "review_cadence_days"]
    search_fields = ["name", "program"]


class MitigationInline(SupportInline):
    model = Mitigation
    fields = ["title", "owner", "status", "due_date", "completed_at"]


class IndicatorInline(SupportInline):
    model = KeyRiskIndicator
    fields = ["name", "source", "metric", "aggregation", "window", "comparison", "threshold", "state", "last_value"]


@admin.register(Risk)
class RiskAdmin(SupportModelAdmin):
    list_display = ["ref", "title", "register", "category", "status", "owner", "flagged_at", "next_review_on"]
    list_filter = ["status", "category", "treatment"]
    search_fields = ["ref", "title"]
    inlines = [MitigationInline, IndicatorInline]


@admin.register(RiskReview)
class RiskReviewAdmin(SupportModelAdmin):
    list_display = ["risk", "reviewed_by", "next_review_on", "created_at"]


@admin.register(RiskScoreSnapshot)
class RiskScoreSnapshotAdmin(SupportModelAdmin):
    list_display = ["risk", "recorded_at", "reason", "current_likelihood", "current_impact", "current_level"]


@admin.register(KeyRiskIndicator)
class KeyRiskIndicatorAdmin(SupportModelAdmin):
    list_display = ["name", "risk", "source", "metric", "state", "last_value", "last_evaluated_at"]
    list_filter = ["source", "state"]


@admin.register(KriEvent)
class KriEventAdmin(SupportModelAdmin):
    list_display = ["indicator", "kind", "value", "threshold", "occurred_at", "notified"]
    list_filter = ["kind"]
