"""The compliance API's views. Thin: parse, call a service or selector, shape the answer."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.compliance import selectors
from apps.compliance.api import filters
from apps.compliance.api import serializers as s
from apps.compliance.exports import finding_rows, processing_activity_rows
from apps.compliance.models import (
    AssessmentEvidence,
    ControlAssessment,
    Dpia,
    Finding,
    FrameworkVersion,
    PrivacyAudit,
    ProcessingActivity,
    RemediationAction,
)
from apps.compliance.services import audits as audit_services
from apps.compliance.services import findings as finding_services
from apps.compliance.services import imports as import_services
from apps.compliance.services import ropa as ropa_services
from apps.core.api import (
    ErrorSerializer,
    ReasonSerializer,
    SelectorViewSetMixin,
    error_responses,
    organization_for_create,
)
from apps.core.errors import NotFound, ValidationFailed
from apps.core.tabular import CONTENT_TYPES, FORMATS, CsvExportMixin, table_response
from apps.core.uploads import EVIDENCE_CONTENT_TYPES, evidence_response

FILE_FORMAT_PARAM = OpenApiParameter(
    "file_format", str, enum=list(FORMATS), default="csv", description="csv or xlsx; both import back unchanged."
)


EXPORT_RESPONSES = {
    (200, CONTENT_TYPES["csv"].split(";")[0]): OpenApiTypes.BINARY,
    (200, CONTENT_TYPES["xlsx"]): OpenApiTypes.BINARY,
    **error_responses(400),
}


IMPORT_RESPONSES = {
    200: s.ImportResultSerializer,
    400: OpenApiResponse(
        ErrorSerializer,
        description='Bad file or rows: `extra.rows` lists each {"line", "field", "message"}; nothing was written.',
    ),
    **error_responses(403, 404),
}


class FrameworkVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Frameworks are reference data shared by every organization, loaded by `manage.py load_frameworks`."""

    queryset = FrameworkVersion.objects.none()  # for the schema; requests use the selector
    serializer_class = s.FrameworkVersionSerializer
    filterset_class = filters.FrameworkVersionFilter

    def get_queryset(self):
        return selectors.framework_version_list()

    @extend_schema(responses={200: s.FrameworkVersionDetailSerializer, **error_responses(404)})
    def retrieve(self, request, pk=None):
        return Response(s.FrameworkVersionDetailSerializer(selectors.framework_version_get(pk=pk)).data)


AUDIT_TRANSITION_SCHEMA = extend_schema(
    request=None, responses={200: s.PrivacyAuditDetailSerializer, **error_responses(403, 404, 409)}
)


class PrivacyAuditViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Privacy audits: planned -> fieldwork -> reporting -> closed. Owners and compliance write; members read."""

    queryset = PrivacyAudit.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.PrivacyAuditSerializer
    filterset_class = filters.PrivacyAuditFilter
    http_method_names = ["get", "post", "patch"]

    list_selector, get_selector = selectors.privacy_audit_list, selectors.privacy_audit_get

    def get_serializer_class(self):
        return s.PrivacyAuditDetailSerializer if self.action == "retrieve" else s.PrivacyAuditSerializer

    def _reloaded(self, audit) -> dict:
        audit = selectors.privacy_audit_get(user=self.request.user, pk=audit.pk)
        return s.PrivacyAuditDetailSerializer(audit, context=self.get_serializer_context()).data

    @extend_schema(
        request=s.PrivacyAuditCreateSerializer,
        responses={201: s.PrivacyAuditDetailSerializer, **error_responses(400, 403, 404)},
    )
    def create(self, request):
        serializer = s.PrivacyAuditCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = organization_for_create(request, data.pop("organization", None))
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
        request=s.PrivacyAuditUpdateSerializer,
        responses={200: s.PrivacyAuditDetailSerializer, **error_responses(400, 403, 404, 409)},
    )
    def partial_update(self, request, pk=None):
        audit = self.get_object()
        serializer = s.PrivacyAuditUpdateSerializer(data=request.data, partial=True)
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

    @extend_schema(responses={200: s.AuditScoreSerializer, **error_responses(404)})
    @action(detail=True, methods=["get"])
    def score(self, request, pk=None):
        """compliant=1, partially=0.5, non_compliant=0, weighted by control weight; not_applicable left out."""
        return Response(s.AuditScoreSerializer(selectors.audit_score(self.get_object())).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("organization", OpenApiTypes.UUID),
            OpenApiParameter("framework", str, description="Framework slug."),
        ],
        responses={200: s.FrameworkTrendSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def trend(self, request):
        """Scores of closed audits per framework, oldest period first."""
        trend = selectors.audit_score_trend(
            user=request.user,
            organization_id=_uuid_param(request, "organization"),
            framework=request.query_params.get("framework") or None,
        )
        return Response(s.FrameworkTrendSerializer(trend, many=True).data)

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


class ControlAssessmentViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """One assessment per control of an audit; recorded during fieldwork and reporting."""

    queryset = ControlAssessment.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.ControlAssessmentSerializer
    filterset_class = filters.ControlAssessmentFilter
    http_method_names = ["get", "post", "patch"]

    list_selector, get_selector = selectors.control_assessment_list, selectors.control_assessment_get

    @extend_schema(
        request=s.ControlAssessmentUpdateSerializer,
        responses={200: s.ControlAssessmentSerializer, **error_responses(400, 403, 404, 409)},
    )
    def partial_update(self, request, pk=None):
        serializer = s.ControlAssessmentUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        audit_services.control_assessment_record(
            assessment=self.get_object(), by=request.user, **serializer.validated_data
        )
        return Response(s.ControlAssessmentSerializer(self.get_object(), context={"request": request}).data)

    @extend_schema(
        request={"multipart/form-data": inline_serializer("EvidenceUpload", {"file": serializers.FileField()})},
        responses={201: s.AssessmentEvidenceSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def evidence(self, request, pk=None):
        evidence = audit_services.assessment_evidence_add(
            assessment=self.get_object(), file=request.FILES.get("file"), by=request.user
        )
        return Response(
            s.AssessmentEvidenceSerializer(evidence, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class AssessmentEvidenceViewSet(viewsets.GenericViewSet):
    """Control assessment evidence files, to members of the audit's organization only."""

    queryset = AssessmentEvidence.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.AssessmentEvidenceSerializer

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


FINDING_TRANSITION_SCHEMA = extend_schema(
    request=None, responses={200: s.FindingDetailSerializer, **error_responses(403, 404, 409)}
)


class FindingViewSet(
    SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Findings: open -> remediating -> resolved -> verified, or risk_accepted until an expiry date."""

    queryset = Finding.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.FindingSerializer
    filterset_class = filters.FindingFilter
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

    list_selector, get_selector = selectors.finding_list, selectors.finding_get

    def get_serializer_class(self):
        return s.FindingDetailSerializer if self.action == "retrieve" else s.FindingSerializer

    def _reloaded(self, finding) -> dict:
        finding = selectors.finding_get(user=self.request.user, pk=finding.pk)
        return s.FindingDetailSerializer(finding, context=self.get_serializer_context()).data

    @extend_schema(
        request=s.FindingCreateSerializer, responses={201: s.FindingDetailSerializer, **error_responses(400, 403, 404)}
    )
    def create(self, request):
        serializer = s.FindingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        audit = selectors.privacy_audit_get(user=request.user, pk=data.pop("audit"))
        finding = finding_services.finding_create(audit=audit, by=request.user, **data)
        return Response(self._reloaded(finding), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.FindingUpdateSerializer,
        responses={200: s.FindingDetailSerializer, **error_responses(400, 403, 404, 409)},
    )
    def partial_update(self, request, pk=None):
        finding = self.get_object()
        serializer = s.FindingUpdateSerializer(data=request.data, partial=True)
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
        request=ReasonSerializer, responses={200: s.FindingDetailSerializer, **error_responses(400, 403, 404, 409)}
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
        request=s.FindingAcceptSerializer,
        responses={200: s.FindingDetailSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"], url_path="accept-risk")
    def accept_risk(self, request, pk=None):
        finding = self.get_object()
        serializer = s.FindingAcceptSerializer(data=request.data)
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


@extend_schema_view(
    list=extend_schema(
        summary="List remediation actions",
        description="The actions that remediate your organizations' findings, newest first.",
    ),
    create=extend_schema(
        summary="Create a remediation action",
        description="Adds an action to a finding: what is done, by whom, by when.",
    ),
    retrieve=extend_schema(
        summary="Get a remediation action",
        description="One remediation action of a finding.",
    ),
    complete=extend_schema(
        summary="Complete a remediation action",
        description="Marks a remediation action done, now; audited.",
    ),
)
class RemediationActionViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = RemediationAction.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.RemediationActionSerializer
    filterset_class = filters.RemediationActionFilter

    list_selector, get_selector = selectors.remediation_action_list, selectors.remediation_action_get

    @extend_schema(
        request=s.RemediationActionCreateSerializer,
        responses={201: s.RemediationActionSerializer, **error_responses(400, 403, 404, 409)},
    )
    def create(self, request):
        serializer = s.RemediationActionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        finding = selectors.finding_get(user=request.user, pk=data.pop("finding"))
        action_ = finding_services.remediation_action_create(finding=finding, by=request.user, **data)
        return Response(s.RemediationActionSerializer(action_).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.RemediationActionSerializer, **error_responses(403, 404, 409)})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        action_ = finding_services.remediation_action_complete(action=self.get_object(), by=request.user)
        return Response(s.RemediationActionSerializer(action_).data)


class ProcessingActivityViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The record of processing activities (GDPR Art. 30)."""

    queryset = ProcessingActivity.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.ProcessingActivitySerializer
    filterset_class = filters.ProcessingActivityFilter
    http_method_names = ["get", "post", "patch"]

    list_selector, get_selector = selectors.processing_activity_list, selectors.processing_activity_get

    def _audits(self, ids):
        if ids is None:
            return None
        audits = list(selectors.privacy_audit_list(user=self.request.user).filter(pk__in=ids))
        if len(audits) != len(set(ids)):
            raise NotFound("Privacy audit not found.")
        return audits

    def _reloaded(self, activity) -> dict:
        return s.ProcessingActivitySerializer(
            selectors.processing_activity_get(user=self.request.user, pk=activity.pk)
        ).data

    @extend_schema(
        request=s.ProcessingActivityCreateSerializer,
        responses={201: s.ProcessingActivitySerializer, **error_responses(400, 403, 404)},
    )
    def create(self, request):
        serializer = s.ProcessingActivityCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = organization_for_create(request, data.pop("organization", None))
        audits = self._audits(data.pop("audits", None))
        activity = ropa_services.processing_activity_create(
            organization=organization, by=request.user, audits=audits, **data
        )
        return Response(self._reloaded(activity), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ProcessingActivityWriteSerializer,
        responses={200: s.ProcessingActivitySerializer, **error_responses(400, 403, 404)},
    )
    def partial_update(self, request, pk=None):
        activity = self.get_object()
        serializer = s.ProcessingActivityWriteSerializer(data=request.data, partial=True)
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
                "ProcessingActivityImport",
                {"organization": serializers.UUIDField(required=False), "file": serializers.FileField()},
            )
        },
        responses=IMPORT_RESPONSES,
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_file(self, request):
        """Imports processing activities (matched by name) from CSV or XLSX."""
        organization = organization_for_create(request, request.data.get("organization"))
        result = import_services.processing_activities_import(
            organization=organization, upload=request.FILES.get("file"), by=request.user
        )
        return Response(result.as_dict())


class DpiaViewSet(SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Data protection impact assessments (GDPR Art. 35) of processing activities."""

    queryset = Dpia.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.DpiaSerializer
    filterset_class = filters.DpiaFilter
    http_method_names = ["get", "post", "patch"]

    list_selector, get_selector = selectors.dpia_list, selectors.dpia_get

    @extend_schema(request=s.DpiaCreateSerializer, responses={201: s.DpiaSerializer, **error_responses(400, 403, 404)})
    def create(self, request):
        serializer = s.DpiaCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        activity = selectors.processing_activity_get(user=request.user, pk=data.pop("processing_activity"))
        dpia = ropa_services.dpia_create(activity=activity, by=request.user, **data)
        return Response(s.DpiaSerializer(dpia).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DpiaUpdateSerializer, responses={200: s.DpiaSerializer, **error_responses(400, 403, 404)})
    def partial_update(self, request, pk=None):
        dpia = self.get_object()
        serializer = s.DpiaUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        dpia = ropa_services.dpia_update(dpia=dpia, by=request.user, **serializer.validated_data)
        return Response(s.DpiaSerializer(dpia).data)
