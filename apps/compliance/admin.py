"""Read-only admin pages: changes go through the services (role checks and the audit trail), i.e. the API."""

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


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ControlInline(admin.TabularInline):
    model = Control
    fields = ["ref", "section", "article", "title", "weight"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Framework)
class FrameworkAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "jurisdiction"]


@admin.register(FrameworkVersion)
class FrameworkVersionAdmin(ReadOnlyAdmin):
    list_display = ["framework", "version", "is_current", "source", "created_at"]
    list_filter = ["framework", "is_current"]
    inlines = [ControlInline]


class AssessmentInline(admin.TabularInline):
    model = ControlAssessment
    fields = ["control", "result", "notes", "assessed_by", "assessed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PrivacyAudit)
class PrivacyAuditAdmin(ReadOnlyAdmin):
    list_display = ["title", "organization", "framework_version", "status", "score", "period_end"]
    list_filter = ["status", "auditor_type", "framework_version__framework"]
    search_fields = ["title", "auditor_name"]
    inlines = [AssessmentInline]


@admin.register(AssessmentEvidence)
class AssessmentEvidenceAdmin(ReadOnlyAdmin):
    list_display = ["name", "assessment", "size", "sha256", "created_at"]


class RemediationActionInline(admin.TabularInline):
    model = RemediationAction
    fields = ["description", "owner", "due_date", "status", "completed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ["ref", "title", "organization", "severity", "status", "owner", "due_date"]
    list_filter = ["status", "severity"]
    search_fields = ["ref", "title"]
    inlines = [RemediationActionInline]


@admin.register(ProcessingActivity)
class ProcessingActivityAdmin(ReadOnlyAdmin):
    list_display = ["name", "organization", "lawful_basis", "role", "special_categories"]
    list_filter = ["lawful_basis", "role", "special_categories"]
    search_fields = ["name", "purpose"]


@admin.register(Dpia)
class DpiaAdmin(ReadOnlyAdmin):
    list_display = ["title", "organization", "processing_activity", "status", "high_residual_risk"]
    list_filter = ["status", "high_residual_risk"]
