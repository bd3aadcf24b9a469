"""Compliance in the support window: read-only; changes go through the services (role checks and the audit
trail), i.e. the dashboard and the API."""

from django.contrib import admin

from apps.compliance.models import (
    AssessmentEvidence,
    Control,
    ControlAssessment,
    Dpia,
    Finding,
    Framework,
    FrameworkVersion,
    PrivacyAudit,
    ProcessingActivity,
    RemediationAction,
)
from apps.core.admin import SupportInline, SupportModelAdmin


class ControlInline(SupportInline):
    model = Control
    fields = ["ref", "section", "article", "title", "weight"]


@admin.register(Framework)
class FrameworkAdmin(SupportModelAdmin):
    list_display = ["slug", "name", "jurisdiction"]


@admin.register(FrameworkVersion)
class FrameworkVersionAdmin(SupportModelAdmin):
    list_display = ["framework", "version", "is_current", "source", "created_at"]
    list_filter = ["framework", "is_current"]
    inlines = [ControlInline]


class AssessmentInline(SupportInline):
    model = ControlAssessment
    fields = ["control", "result", "notes", "assessed_by", "assessed_at"]


@admin.register(PrivacyAudit)
class PrivacyAuditAdmin(SupportModelAdmin):
    list_display = ["title", "organization", "framework_version", "status", "score", "period_end"]
    list_filter = ["status", "auditor_type", "framework_version__framework"]
    search_fields = ["title", "auditor_name"]
    inlines = [AssessmentInline]


@admin.register(AssessmentEvidence)
class AssessmentEvidenceAdmin(SupportModelAdmin):
    list_display = ["name", "assessment", "size", "sha256", "created_at"]


class RemediationActionInline(SupportInline):
    model = RemediationAction
    fields = ["description", "owner", "due_date", "status", "completed_at"]


@admin.register(Finding)
class FindingAdmin(SupportModelAdmin):
    list_display = ["ref", "title", "organization", "severity", "status", "owner", "due_date"]
    list_filter = ["status", "severity"]
    search_fields = ["ref", "title"]
    inlines = [RemediationActionInline]


@admin.register(ProcessingActivity)
class ProcessingActivityAdmin(SupportModelAdmin):
    list_display = ["name", "organization", "lawful_basis", "role", "special_categories"]
    list_filter = ["lawful_basis", "role", "special_categories"]
    search_fields = ["name", "purpose"]


@admin.register(Dpia)
class DpiaAdmin(SupportModelAdmin):
    list_display = ["title", "organization", "processing_activity", "status", "high_residual_risk"]
    list_filter = ["status", "high_residual_risk"]
