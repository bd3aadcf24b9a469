"""The compliance API's serializers: what its operations take and answer."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.reverse import reverse

from apps.compliance import selectors
from apps.compliance.machines import AUDITS, FINDINGS
from apps.compliance.models import (
    AssessmentEvidence,
    AssessmentResult,
    AuditorType,
    AuditStatus,
    Control,
    ControlAssessment,
    Dpia,
    DpiaStatus,
    Finding,
    FrameworkVersion,
    LawfulBasis,
    PrivacyAudit,
    ProcessingActivity,
    ProcessingRole,
    RemediationAction,
    Severity,
)
from apps.core.api import ActionStateSerializer, actions_data

ImportResultSerializer = inline_serializer(
    name="ImportResult",
    fields={
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
    },
)


class UsernameField(serializers.CharField):
    """A user given and shown by username."""


def username_of(user) -> str | None:
    return user.username if user is not None else None


class ControlSerializer(serializers.ModelSerializer):
    class Meta:
        model = Control
        fields = ["id", "ref", "section", "article", "title", "text", "weight", "position"]
        read_only_fields = fields


class FrameworkVersionSerializer(serializers.ModelSerializer):
    framework = serializers.CharField(source="framework.slug", read_only=True)
    name = serializers.CharField(source="framework.name", read_only=True)
    jurisdiction = serializers.CharField(source="framework.jurisdiction", read_only=True)
    control_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = FrameworkVersion
        fields = ["id", "framework", "name", "jurisdiction", "version", "is_current", "control_count", "created_at"]
        read_only_fields = fields


class FrameworkVersionDetailSerializer(FrameworkVersionSerializer):
    controls = ControlSerializer(many=True, read_only=True)

    class Meta(FrameworkVersionSerializer.Meta):
        fields = [*FrameworkVersionSerializer.Meta.fields, "controls"]
        read_only_fields = fields


class PrivacyAuditSerializer(serializers.ModelSerializer):
    framework = serializers.CharField(source="framework_version.framework.slug", read_only=True)
    framework_version_label = serializers.CharField(source="framework_version.version", read_only=True)
    auditor = serializers.SerializerMethodField()
    control_count = serializers.IntegerField(read_only=True)
    assessed_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = PrivacyAudit
        fields = [
            "id",
            "organization",
            "framework",
            "framework_version",
            "framework_version_label",
            "title",
            "scope",
            "period_start",
            "period_end",
            "auditor_type",
            "auditor_name",
            "auditor",
            "status",
            "score",
            "closed_at",
            "control_count",
            "assessed_count",
            "created_at",
        ]
        read_only_fields = fields

    def get_auditor(self, audit) -> str | None:
        return username_of(audit.auditor)


class PrivacyAuditDetailSerializer(PrivacyAuditSerializer):
    allowed_actions = serializers.SerializerMethodField()

    class Meta(PrivacyAuditSerializer.Meta):
        fields = [*PrivacyAuditSerializer.Meta.fields, "allowed_actions"]
        read_only_fields = fields

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, audit) -> list[dict]:
        return actions_data(AUDITS, audit, self.context)


class PrivacyAuditCreateSerializer(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    framework = serializers.SlugField(help_text="Framework slug; the audit uses its current version.")
    framework_version = serializers.UUIDField(required=False, help_text="A specific version instead of the current.")
    title = serializers.CharField(max_length=200)
    scope = serializers.CharField(required=False, allow_blank=True, default="")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    auditor_type = serializers.ChoiceField(choices=AuditorType.choices, default=AuditorType.INTERNAL)
    auditor_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    auditor = UsernameField(required=False, allow_null=True, default=None, help_text="Username (internal auditor).")


class PrivacyAuditUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    scope = serializers.CharField(required=False, allow_blank=True)
    period_start = serializers.DateField(required=False)
    period_end = serializers.DateField(required=False)
    auditor_type = serializers.ChoiceField(choices=AuditorType.choices, required=False)
    auditor_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    auditor = UsernameField(required=False, allow_null=True)


class ScoreCountsSerializer(serializers.Serializer):
    score = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True, help_text="0-100, or null.")
    controls = serializers.IntegerField()
    assessed = serializers.IntegerField()
    coverage = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField())


class SectionScoreSerializer(ScoreCountsSerializer):
    section = serializers.CharField()


class AuditScoreSerializer(ScoreCountsSerializer):
    audit = serializers.UUIDField()
    status = serializers.ChoiceField(choices=AuditStatus.choices)
    frozen_score = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True, help_text="The score recorded when the audit closed."
    )
    sections = SectionScoreSerializer(many=True)


class TrendPointSerializer(serializers.Serializer):
    audit = serializers.UUIDField()
    title = serializers.CharField()
    organization = serializers.UUIDField()
    framework_version = serializers.CharField()
    period_end = serializers.DateField()
    score = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)


class FrameworkTrendSerializer(serializers.Serializer):
    framework = serializers.CharField()
    name = serializers.CharField()
    latest_score = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    points = TrendPointSerializer(many=True)


class AssessmentEvidenceSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = AssessmentEvidence
        fields = ["id", "name", "content_type", "size", "sha256", "download_url", "uploaded_by", "created_at"]
        read_only_fields = fields

    def get_uploaded_by(self, evidence) -> str | None:
        return username_of(evidence.uploaded_by)

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, evidence) -> str:
        """The file's authenticated download (members of the organization only)."""
        return reverse("assessment-evidence-download", args=[evidence.pk], request=self.context.get("request"))


class ControlAssessmentSerializer(serializers.ModelSerializer):
    control_ref = serializers.CharField(source="control.ref", read_only=True)
    control_title = serializers.CharField(source="control.title", read_only=True)
    section = serializers.CharField(source="control.section", read_only=True)
    article = serializers.CharField(source="control.article", read_only=True)
    weight = serializers.DecimalField(source="control.weight", max_digits=5, decimal_places=2, read_only=True)
    assessed_by = serializers.SerializerMethodField()
    evidence = AssessmentEvidenceSerializer(many=True, read_only=True)

    class Meta:
        model = ControlAssessment
        fields = [
            "id",
            "audit",
            "control",
            "control_ref",
            "control_title",
            "section",
            "article",
            "weight",
            "result",
            "notes",
            "assessed_by",
            "assessed_at",
            "evidence",
        ]
        read_only_fields = fields

    def get_assessed_by(self, assessment) -> str | None:
        return username_of(assessment.assessed_by)


class ControlAssessmentUpdateSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=AssessmentResult.choices, required=False)
    notes = serializers.CharField(required=False, allow_blank=True)


class FindingSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    control = serializers.SerializerMethodField()
    accepted_by = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    acceptance_expired = serializers.SerializerMethodField()
    open_actions = serializers.IntegerField(read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "organization",
            "audit",
            "ref",
            "title",
            "description",
            "severity",
            "status",
            "owner",
            "due_date",
            "overdue",
            "control",
            "open_actions",
            "resolved_at",
            "verified_at",
            "accepted_by",
            "accepted_at",
            "acceptance_reason",
            "acceptance_expires_on",
            "acceptance_expired",
            "last_reminded_on",
            "created_at",
        ]
        read_only_fields = fields

    def get_control(self, finding) -> str | None:
        return finding.control.ref if finding.control else None

    def get_accepted_by(self, finding) -> str | None:
        return username_of(finding.accepted_by)

    def get_overdue(self, finding) -> bool:
        return selectors.is_overdue(finding)

    def get_acceptance_expired(self, finding) -> bool:
        return selectors.is_acceptance_expired(finding)


class FindingDetailSerializer(FindingSerializer):
    allowed_actions = serializers.SerializerMethodField()

    class Meta(FindingSerializer.Meta):
        fields = [*FindingSerializer.Meta.fields, "allowed_actions"]
        read_only_fields = fields

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, finding) -> list[dict]:
        return actions_data(FINDINGS, finding, self.context)


class FindingCreateSerializer(serializers.Serializer):
    audit = serializers.UUIDField()
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    severity = serializers.ChoiceField(choices=Severity.choices)
    owner = UsernameField(help_text="Username of a member.")
    due_date = serializers.DateField()
    control = serializers.CharField(required=False, allow_null=True, default=None, help_text="Control ref.")
    ref = serializers.CharField(required=False, allow_blank=True, max_length=30, help_text="Default F-0001, ...")


class FindingUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    owner = UsernameField(required=False)
    due_date = serializers.DateField(required=False)
    control = serializers.CharField(required=False, allow_null=True)


class FindingAcceptSerializer(serializers.Serializer):
    reason = serializers.CharField()
    expires_on = serializers.DateField(help_text="At most a year ahead; the finding reopens after it.")


class RemediationActionSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    completed_by = serializers.SerializerMethodField()

    class Meta:
        model = RemediationAction
        fields = [
            "id",
            "finding",
            "description",
            "owner",
            "due_date",
            "status",
            "completed_at",
            "completed_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_completed_by(self, action) -> str | None:
        return username_of(action.completed_by)


class RemediationActionCreateSerializer(serializers.Serializer):
    finding = serializers.UUIDField()
    description = serializers.CharField()
    owner = UsernameField()
    due_date = serializers.DateField(required=False, allow_null=True, default=None)


class ProcessingActivitySerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()
    audits = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    dpias = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = ProcessingActivity
        fields = [
            "id",
            "organization",
            "name",
            "purpose",
            "role",
            "lawful_basis",
            "data_categories",
            "special_categories",
            "data_subjects",
            "recipients",
            "transfers",
            "retention",
            "owner",
            "audits",
            "dpias",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_owner(self, activity) -> str | None:
        return username_of(activity.owner)


class ProcessingActivityWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    purpose = serializers.CharField()
    role = serializers.ChoiceField(choices=ProcessingRole.choices, default=ProcessingRole.CONTROLLER)
    lawful_basis = serializers.ChoiceField(choices=LawfulBasis.choices)
    data_categories = serializers.ListField(child=serializers.CharField(max_length=200))
    special_categories = serializers.BooleanField(default=False)
    data_subjects = serializers.ListField(child=serializers.CharField(max_length=200))
    recipients = serializers.ListField(child=serializers.CharField(max_length=200), default=list)
    transfers = serializers.ListField(child=serializers.CharField(max_length=200), default=list)
    retention = serializers.CharField(max_length=200)
    owner = UsernameField(required=False, allow_null=True, default=None)
    audits = serializers.ListField(child=serializers.UUIDField(), required=False, help_text="Linked audit ids.")


class ProcessingActivityCreateSerializer(ProcessingActivityWriteSerializer):
    organization = serializers.UUIDField(required=False)


class DpiaSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dpia
        fields = [
            "id",
            "organization",
            "processing_activity",
            "title",
            "status",
            "high_residual_risk",
            "conclusion",
            "completed_on",
            "created_at",
        ]
        read_only_fields = ["id", "organization", "created_at"]


class DpiaUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    status = serializers.ChoiceField(choices=DpiaStatus.choices, required=False)
    high_residual_risk = serializers.BooleanField(required=False)
    conclusion = serializers.CharField(required=False, allow_blank=True)
    completed_on = serializers.DateField(required=False, allow_null=True)


class DpiaCreateSerializer(DpiaUpdateSerializer):
    processing_activity = serializers.UUIDField()
    title = serializers.CharField(max_length=200)
