"""Privacy audits, findings and records of processing over the API. Thin: parse, call a service or selector, shape."""

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse

from apps.compliance import selectors
from apps.compliance.exports import finding_rows, processing_activity_rows
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
from apps.compliance.services import audits as audit_services
from apps.compliance.services import findings as finding_services
from apps.compliance.services import imports as import_services
from apps.compliance.services import ropa as ropa_services
from apps.core.api import ActionStateSerializer, ErrorSerializer, ReasonSerializer, actions_data, error_responses
from apps.core.errors import NotFound, ValidationFailed
from apps.core.tabular import CONTENT_TYPES, FORMATS, CsvExportMixin, table_response
from apps.core.uploads import EVIDENCE_CONTENT_TYPES, evidence_response
from apps.tenancy.selectors import organization_get

# --- shared pieces ----------------------------------------------------------------------------------------------

FILE_FORMAT_PARAM = OpenApiParameter(
    "file_format", str, enum=list(FORMATS), default="csv", description="csv or xlsx; both import back unchanged."
)
EXPORT_RESPONSES = {
    (200, CONTENT_TYPES["csv"].split(";")[0]): OpenApiTypes.BINARY,
    (200, CONTENT_TYPES["xlsx"]): OpenApiTypes.BINARY,
    **error_responses(400),
}
ImportResultSerializer = inline_serializer(
    name="ImportResult",
    fields={
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
    },
)
IMPORT_RESPONSES = {
    200: ImportResultSerializer,
    400: OpenApiResponse(
        ErrorSerializer,
        description='Bad file or rows: `extra.rows` lists each {"line", "field", "message"}; nothing was written.',
    ),
    **error_responses(403, 404),
}


class UsernameField(serializers.CharField):
    """A user given and shown by username."""


def username_of(user) -> str | None:
    return user.username if user is not None else None


# --- frameworks -------------------------------------------------------------------------------------------------


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


class FrameworkVersionFilter(filters.FilterSet):
    framework = filters.CharFilter(field_name="framework__slug")

    class Meta:
        model = FrameworkVersion
        fields = ["framework", "is_current"]


class FrameworkVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Frameworks are reference data shared by every organization, loaded by `manage.py load_frameworks`."""

    queryset = FrameworkVersion.objects.none()  # for the schema; requests use the selector
    serializer_class = FrameworkVersionSerializer
    filterset_class = FrameworkVersionFilter

    def get_queryset(self):
        return selectors.framework_version_list()

    @extend_schema(responses={200: FrameworkVersionDetailSerializer, **error_responses(404)})
    def retrieve(self, request, pk=None):
        return Response(FrameworkVersionDetailSerializer(selectors.framework_version_get(pk=pk)).data)


# --- audits -----------------------------------------------------------------------------------------------------


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
    organization = serializers.UUIDField()
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


class PrivacyAuditFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")
    framework = filters.CharFilter(field_name="framework_version__framework__slug")

    class Meta:
        model = PrivacyAudit
        fields = ["organization", "framework", "status", "auditor_type"]


AUDIT_TRANSITION_SCHEMA = extend_schema(
    request=None, responses={200: PrivacyAuditDetailSerializer, **error_responses(403, 404, 409)}
)


class PrivacyAuditViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Privacy audits: planned -> fieldwork -> reporting -> closed. Owners and compliance write; members read."""

    queryset = PrivacyAudit.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = PrivacyAuditSerializer
    filterset_class = PrivacyAuditFilter
    http_method_names = ["get", "post", "patch"]

    def get_queryset(self):
        return selectors.privacy_audit_list(user=self.request.user)

    def get_object(self):
        return selectors.privacy_audit_get(user=self.request.user, pk=self.kwargs["pk"])

    def get_serializer_class(self):
        return PrivacyAuditDetailSerializer if self.action == "retrieve" else PrivacyAuditSerializer

    def _reloaded(self, audit) -> dict:
        audit = selectors.privacy_audit_get(user=self.request.user, pk=audit.pk)
        return PrivacyAuditDetailSerializer(audit, context=self.get_serializer_context()).data

    @extend_schema(
        request=PrivacyAuditCreateSerializer,
        responses={201: PrivacyAuditDetailSerializer, **error_responses(400, 403, 404)},
    )
    def create(self, request):
        serializer = PrivacyAuditCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = organization_get(user=request.user, pk=data.pop("organization"))
        slug, version_id = data.pop("framework"), data.pop("framework_version", None)
        versions = FrameworkVersion.objects.filter(framework__slug=slug)
        version = versions.filter(pk=version_id).first() if version_id else versions.filter(is_current=True).first()
        if version is None:
            raise ValidationFailed.for_field(
                "framework_version" if version_id else "framework", f"No such version of framework '{slug}'."
            )
        audit = audit_services.privacy_audit_create(
            organization=organization, framework_version=version, by=request.user, **data
        )
        return Response(self._reloaded(audit), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=PrivacyAuditUpdateSerializer,
        responses={200: PrivacyAuditDetailSerializer, **error_responses(400, 403, 404, 409)},
    )
    def partial_update(self, request, pk=None):
        audit = self.get_object()
        serializer = PrivacyAuditUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        audit = audit_services.privacy_audit_update(audit=audit, by=request.user, **serializer.validated_data)
        return Response(self._reloaded(audit))

    @AUDIT_TRANSITION_SCHEMA
    @action(detail=True, methods=["post"], url_path="start-fieldwork")
    def start_fieldwork(self, request, pk=None):
        audit = audit_services.privacy_audit_start_fieldwork(audit=self.get_object(), by=request.user)
        return Response(self._reloaded(audit))

    @AUDIT_TRANSITION_SCHEMA
    @action(detail=True, methods=["post"], url_path="start-reporting")
    def start_reporting(self, request, pk=None):
        """Needs every control assessed (not_applicable counts as assessed)."""
        audit = audit_services.privacy_audit_start_reporting(audit=self.get_object(), by=request.user)
        return Response(self._reloaded(audit))

    @AUDIT_TRANSITION_SCHEMA
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Closes the audit and records its score for the trend."""
        audit = audit_services.privacy_audit_close(audit=self.get_object(), by=request.user)
        return Response(self._reloaded(audit))

    @extend_schema(responses={200: AuditScoreSerializer, **error_responses(404)})
    @action(detail=True, methods=["get"])
    def score(self, request, pk=None):
        """compliant=1, partially=0.5, non_compliant=0, weighted by control weight; not_applicable left out."""
        return Response(AuditScoreSerializer(selectors.audit_score(self.get_object())).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("organization", OpenApiTypes.UUID),
            OpenApiParameter("framework", str, description="Framework slug."),
        ],
        responses={200: FrameworkTrendSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def trend(self, request):
        """Scores of closed audits per framework, oldest period first."""
        trend = selectors.audit_score_trend(
            user=request.user,
            organization_id=_uuid_param(request, "organization"),
            framework=request.query_params.get("framework") or None,
        )
        return Response(FrameworkTrendSerializer(trend, many=True).data)

    @extend_schema(
        request={"multipart/form-data": inline_serializer("FindingImport", {"file": serializers.FileField()})},
        responses=IMPORT_RESPONSES,
    )
    @action(detail=True, methods=["post"], url_path="import-findings", parser_classes=[MultiPartParser])
    def import_findings(self, request, pk=None):
        """Imports findings into this audit from CSV or XLSX (the columns of the findings export)."""
        result = import_services.findings_import(
            audit=self.get_object(), upload=request.FILES.get("file"), by=request.user
        )
        return Response(result.as_dict())


def _uuid_param(request, name: str):
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return serializers.UUIDField().to_internal_value(value)
    except serializers.ValidationError:
        raise ValidationFailed.for_field(name, "Must be a valid UUID.") from None


# --- assessments ------------------------------------------------------------------------------------------------


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


class ControlAssessmentFilter(filters.FilterSet):
    audit = filters.UUIDFilter(field_name="audit_id")
    section = filters.CharFilter(field_name="control__section")

    class Meta:
        model = ControlAssessment
        fields = ["audit", "result", "section"]


class ControlAssessmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One assessment per control of an audit; recorded during fieldwork and reporting."""

    queryset = ControlAssessment.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = ControlAssessmentSerializer
    filterset_class = ControlAssessmentFilter
    http_method_names = ["get", "post", "patch"]

    def get_queryset(self):
        return selectors.control_assessment_list(user=self.request.user)

    def get_object(self):
        return selectors.control_assessment_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        request=ControlAssessmentUpdateSerializer,
        responses={200: ControlAssessmentSerializer, **error_responses(400, 403, 404, 409)},
    )
    def partial_update(self, request, pk=None):
        serializer = ControlAssessmentUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        audit_services.control_assessment_record(
            assessment=self.get_object(), by=request.user, **serializer.validated_data
        )
        return Response(ControlAssessmentSerializer(self.get_object(), context={"request": request}).data)

    @extend_schema(
        request={"multipart/form-data": inline_serializer("EvidenceUpload", {"file": serializers.FileField()})},
        responses={201: AssessmentEvidenceSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def evidence(self, request, pk=None):
        evidence = audit_services.assessment_evidence_add(
            assessment=self.get_object(), file=request.FILES.get("file"), by=request.user
        )
        return Response(
            AssessmentEvidenceSerializer(evidence, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class AssessmentEvidenceViewSet(viewsets.GenericViewSet):
    """Control assessment evidence files, to members of the audit's organization only."""

    queryset = AssessmentEvidence.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = AssessmentEvidenceSerializer

    @extend_schema(
        responses={
            **{(200, content_type): OpenApiTypes.BINARY for content_type in EVIDENCE_CONTENT_TYPES},
            **error_responses(404),
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The file as uploaded, as an attachment of the type it was checked to be (any member may read it)."""
        evidence = selectors.assessment_evidence_get(user=request.user, pk=pk)
        return evidence_response(
            file=evidence.file, filename=evidence.name, content_type=evidence.content_type, sha256=evidence.sha256
        )


# --- findings ---------------------------------------------------------------------------------------------------


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


FINDING_TRANSITION_SCHEMA = extend_schema(
    request=None, responses={200: FindingDetailSerializer, **error_responses(403, 404, 409)}
)


class FindingViewSet(CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Findings: open -> remediating -> resolved -> verified, or risk_accepted until an expiry date."""

    queryset = Finding.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = FindingSerializer
    filterset_class = FindingFilter
    csv_filename = "findings.csv"
    csv_columns = [
        ("id", "id"),
        ("audit", "audit_id"),
        ("ref", "ref"),
        ("title", "title"),
        ("severity", "severity"),
        ("status", "status"),
        ("owner", lambda finding: finding.owner.username if finding.owner_id else None),
        ("due_date", "due_date"),
        ("resolved_at", "resolved_at"),
        ("verified_at", "verified_at"),
    ]
    http_method_names = ["get", "post", "patch"]

    def get_queryset(self):
        return selectors.finding_list(user=self.request.user)

    def get_object(self):
        return selectors.finding_get(user=self.request.user, pk=self.kwargs["pk"])

    def get_serializer_class(self):
        return FindingDetailSerializer if self.action == "retrieve" else FindingSerializer

    def _reloaded(self, finding) -> dict:
        finding = selectors.finding_get(user=self.request.user, pk=finding.pk)
        return FindingDetailSerializer(finding, context=self.get_serializer_context()).data

    @extend_schema(
        request=FindingCreateSerializer, responses={201: FindingDetailSerializer, **error_responses(400, 403, 404)}
    )
    def create(self, request):
        serializer = FindingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        audit = selectors.privacy_audit_get(user=request.user, pk=data.pop("audit"))
        finding = finding_services.finding_create(audit=audit, by=request.user, **data)
        return Response(self._reloaded(finding), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=FindingUpdateSerializer, responses={200: FindingDetailSerializer, **error_responses(400, 403, 404, 409)}
    )
    def partial_update(self, request, pk=None):
        finding = self.get_object()
        serializer = FindingUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        finding = finding_services.finding_update(finding=finding, by=request.user, **serializer.validated_data)
        return Response(self._reloaded(finding))

    @FINDING_TRANSITION_SCHEMA
    @action(detail=True, methods=["post"], url_path="start-remediation")
    def start_remediation(self, request, pk=None):
        finding = finding_services.finding_start_remediation(finding=self.get_object(), by=request.user)
        return Response(self._reloaded(finding))

    @FINDING_TRANSITION_SCHEMA
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        finding = finding_services.finding_resolve(finding=self.get_object(), by=request.user)
        return Response(self._reloaded(finding))

    @FINDING_TRANSITION_SCHEMA
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """By owner or compliance, and not by the person who resolved it."""
        finding = finding_services.finding_verify(finding=self.get_object(), by=request.user)
        return Response(self._reloaded(finding))

    @extend_schema(
        request=ReasonSerializer, responses={200: FindingDetailSerializer, **error_responses(400, 403, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """The reason, if given, is kept in the audit trail."""
        finding = self.get_object()
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        finding = finding_services.finding_reopen(finding=finding, by=request.user, **serializer.validated_data)
        return Response(self._reloaded(finding))

    @extend_schema(
        request=FindingAcceptSerializer, responses={200: FindingDetailSerializer, **error_responses(400, 403, 404, 409)}
    )
    @action(detail=True, methods=["post"], url_path="accept-risk")
    def accept_risk(self, request, pk=None):
        finding = self.get_object()
        serializer = FindingAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        finding = finding_services.finding_accept_risk(finding=finding, by=request.user, **serializer.validated_data)
        return Response(self._reloaded(finding))

    @extend_schema(parameters=[FILE_FORMAT_PARAM], responses=EXPORT_RESPONSES)
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request):
        """Findings matching the list filters, as CSV or XLSX (raw values; imports back unchanged)."""
        headers, rows = finding_rows(self.filter_queryset(self.get_queryset()))
        return table_response(
            rows, headers=headers, file_format=request.query_params.get("file_format", "csv"), filename="findings"
        )


# --- remediation actions ----------------------------------------------------------------------------------------


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


class RemediationActionFilter(filters.FilterSet):
    finding = filters.UUIDFilter(field_name="finding_id")

    class Meta:
        model = RemediationAction
        fields = ["finding", "status"]


class RemediationActionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = RemediationAction.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = RemediationActionSerializer
    filterset_class = RemediationActionFilter

    def get_queryset(self):
        return selectors.remediation_action_list(user=self.request.user)

    def get_object(self):
        return selectors.remediation_action_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        request=RemediationActionCreateSerializer,
        responses={201: RemediationActionSerializer, **error_responses(400, 403, 404, 409)},
    )
    def create(self, request):
        serializer = RemediationActionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        finding = selectors.finding_get(user=request.user, pk=data.pop("finding"))
        action_ = finding_services.remediation_action_create(finding=finding, by=request.user, **data)
        return Response(RemediationActionSerializer(action_).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: RemediationActionSerializer, **error_responses(403, 404, 409)})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        action_ = finding_services.remediation_action_complete(action=self.get_object(), by=request.user)
        return Response(RemediationActionSerializer(action_).data)


# --- records of processing --------------------------------------------------------------------------------------


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
    organization = serializers.UUIDField()


class ProcessingActivityFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")

    class Meta:
        model = ProcessingActivity
        fields = ["organization", "lawful_basis", "role", "special_categories"]


class ProcessingActivityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The record of processing activities (GDPR Art. 30)."""

    queryset = ProcessingActivity.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = ProcessingActivitySerializer
    filterset_class = ProcessingActivityFilter
    http_method_names = ["get", "post", "patch"]

    def get_queryset(self):
        return selectors.processing_activity_list(user=self.request.user)

    def get_object(self):
        return selectors.processing_activity_get(user=self.request.user, pk=self.kwargs["pk"])

    def _audits(self, ids):
        if ids is None:
            return None
        audits = list(selectors.privacy_audit_list(user=self.request.user).filter(pk__in=ids))
        if len(audits) != len(set(ids)):
            raise NotFound("Privacy audit not found.")
        return audits

    def _reloaded(self, activity) -> dict:
        return ProcessingActivitySerializer(
            selectors.processing_activity_get(user=self.request.user, pk=activity.pk)
        ).data

    @extend_schema(
        request=ProcessingActivityCreateSerializer,
        responses={201: ProcessingActivitySerializer, **error_responses(400, 403, 404)},
    )
    def create(self, request):
        serializer = ProcessingActivityCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = organization_get(user=request.user, pk=data.pop("organization"))
        audits = self._audits(data.pop("audits", None))
        activity = ropa_services.processing_activity_create(
            organization=organization, by=request.user, audits=audits, **data
        )
        return Response(self._reloaded(activity), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ProcessingActivityWriteSerializer,
        responses={200: ProcessingActivitySerializer, **error_responses(400, 403, 404)},
    )
    def partial_update(self, request, pk=None):
        activity = self.get_object()
        serializer = ProcessingActivityWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        audits = self._audits(data.pop("audits", None))
        activity = ropa_services.processing_activity_update(activity=activity, by=request.user, audits=audits, **data)
        return Response(self._reloaded(activity))

    @extend_schema(parameters=[FILE_FORMAT_PARAM], responses=EXPORT_RESPONSES)
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request):
        """Processing activities matching the list filters, as CSV or XLSX (lists joined by "; ")."""
        headers, rows = processing_activity_rows(self.filter_queryset(self.get_queryset()))
        return table_response(
            rows,
            headers=headers,
            file_format=request.query_params.get("file_format", "csv"),
            filename="processing-activities",
        )

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ProcessingActivityImport", {"organization": serializers.UUIDField(), "file": serializers.FileField()}
            )
        },
        responses=IMPORT_RESPONSES,
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_file(self, request):
        """Imports processing activities (matched by name) from CSV or XLSX."""
        organization_id = request.data.get("organization")
        if not organization_id:
            raise ValidationFailed.for_field("organization", "Name the organization to import into.")
        organization = organization_get(user=request.user, pk=organization_id)
        result = import_services.processing_activities_import(
            organization=organization, upload=request.FILES.get("file"), by=request.user
        )
        return Response(result.as_dict())


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


class DpiaFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")
    processing_activity = filters.UUIDFilter(field_name="processing_activity_id")

    class Meta:
        model = Dpia
        fields = ["organization", "processing_activity", "status"]


class DpiaViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Data protection impact assessments (GDPR Art. 35) of processing activities."""

    queryset = Dpia.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = DpiaSerializer
    filterset_class = DpiaFilter
    http_method_names = ["get", "post", "patch"]

    def get_queryset(self):
        return selectors.dpia_list(user=self.request.user)

    def get_object(self):
        return selectors.dpia_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(request=DpiaCreateSerializer, responses={201: DpiaSerializer, **error_responses(400, 403, 404)})
    def create(self, request):
        serializer = DpiaCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        activity = selectors.processing_activity_get(user=request.user, pk=data.pop("processing_activity"))
        dpia = ropa_services.dpia_create(activity=activity, by=request.user, **data)
        return Response(DpiaSerializer(dpia).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DpiaUpdateSerializer, responses={200: DpiaSerializer, **error_responses(400, 403, 404)})
    def partial_update(self, request, pk=None):
        dpia = self.get_object()
        serializer = DpiaUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        dpia = ropa_services.dpia_update(dpia=dpia, by=request.user, **serializer.validated_data)
        return Response(DpiaSerializer(dpia).data)
