"""The compliance API's list filters."""

from django_filters import rest_framework as filters

from apps.compliance import selectors
from apps.compliance.models import (
    ControlAssessment,
    Dpia,
    Finding,
    FrameworkVersion,
    PrivacyAudit,
    ProcessingActivity,
    RemediationAction,
)


class FrameworkVersionFilter(filters.FilterSet):
    framework = filters.CharFilter(field_name="framework__slug")

    class Meta:
        model = FrameworkVersion
        fields = ["framework", "is_current"]


class PrivacyAuditFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")
    framework = filters.CharFilter(field_name="framework_version__framework__slug")

    class Meta:
        model = PrivacyAudit
        fields = ["organization", "framework", "status", "auditor_type"]


class ControlAssessmentFilter(filters.FilterSet):
    audit = filters.UUIDFilter(field_name="audit_id")
    section = filters.CharFilter(field_name="control__section")

    class Meta:
        model = ControlAssessment
        fields = ["audit", "result", "section"]


class FindingFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")
    audit = filters.UUIDFilter(field_name="audit_id")
    owner = filters.CharFilter(field_name="owner__username")
    overdue = filters.BooleanFilter(method="filter_overdue")

    class Meta:
        model = Finding
        fields = ["organization", "audit", "status", "severity", "owner", "overdue"]

    def filter_overdue(self, queryset, name, value):
        condition = selectors.overdue_condition()
        return queryset.filter(condition) if value else queryset.exclude(condition)


class RemediationActionFilter(filters.FilterSet):
    finding = filters.UUIDFilter(field_name="finding_id")

    class Meta:
        model = RemediationAction
        fields = ["finding", "status"]


class ProcessingActivityFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")

    class Meta:
        model = ProcessingActivity
        fields = ["organization", "lawful_basis", "role", "special_categories"]


class DpiaFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")
    processing_activity = filters.UUIDFilter(field_name="processing_activity_id")

    class Meta:
        model = Dpia
        fields = ["organization", "processing_activity", "status"]
