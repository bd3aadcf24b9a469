"""Risk matrices, registers, risks, mitigations and key risk indicators over the API. Thin interfaces."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.compliance.api import EXPORT_RESPONSES, FILE_FORMAT_PARAM, IMPORT_RESPONSES, username_of
from apps.core.api import ActionStateSerializer, ReasonSerializer, actions_data, error_responses
from apps.core.serializer_fields import JSONObjectField
from apps.core.tabular import CsvExportMixin, table_response
from apps.risks import selectors
from apps.risks.exports import risk_rows
from apps.risks.machines import RISKS
from apps.risks.models import (
    SCORE_FIELDS,
    Aggregation,
    Comparison,
    IndicatorSource,
    KeyRiskIndicator,
    KriEvent,
    Mitigation,
    MitigationStatus,
    Risk,
    RiskMatrix,
    RiskRegister,
    RiskReview,
    RiskScoreSnapshot,
    Treatment,
)
from apps.risks.services import imports as import_services
from apps.risks.services import indicators as kri_services
from apps.risks.services import matrices as matrix_services
from apps.risks.services import registers as register_services
from apps.risks.services import risks as risk_services
from apps.tenancy.selectors import organization_get

# --- matrices ---------------------------------------------------------------------------------------------------


class LevelSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    min_score = serializers.IntegerField(min_value=1)


class RiskMatrixSerializer(serializers.ModelSerializer):
    likelihood_labels = serializers.ListField(child=serializers.CharField())
    impact_labels = serializers.ListField(child=serializers.CharField())
    levels = LevelSerializer(many=True)
    likelihood_size = serializers.IntegerField(read_only=True)
    impact_size = serializers.IntegerField(read_only=True)

    class Meta:
        model = RiskMatrix
        fields = [
            "id",
            "organization",
            "name",
            "likelihood_labels",
            "impact_labels",
            "levels",
            "likelihood_size",
            "impact_size",
            "created_at",
        ]
        read_only_fields = fields


class RiskMatrixUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    likelihood_labels = serializers.ListField(child=serializers.CharField(), required=False)
    impact_labels = serializers.ListField(child=serializers.CharField(), required=False)
    levels = serializers.ListField(child=JSONObjectField(), required=False)


class RiskMatrixCreateSerializer(RiskMatrixUpdateSerializer):
    organization = serializers.UUIDField()
    name = serializers.CharField(max_length=100)
    preset = serializers.ChoiceField(
        choices=sorted(matrix_services.PRESETS), required=False, help_text="Start from a 5x5 or 3x3 default."
    )


class OrganizationFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")


class RiskMatrixFilter(OrganizationFilter):
    class Meta:
        model = RiskMatrix
        fields = ["organization"]


class RiskMatrixViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Matrices are data: labels and level thresholds change without a migration."""

    queryset = RiskMatrix.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = RiskMatrixSerializer
    filterset_class = RiskMatrixFilter

    def get_queryset(self):
        return selectors.risk_matrix_list(user=self.request.user)

    def get_object(self):
        return selectors.risk_matrix_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        request=RiskMatrixCreateSerializer, responses={201: RiskMatrixSerializer, **error_responses(400, 403, 404)}
    )
    def create(self, request):
        serializer = RiskMatrixCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = organization_get(user=request.user, pk=data.pop("organization"))
        matrix = matrix_services.risk_matrix_create(organization=organization, by=request.user, **data)
        return Response(RiskMatrixSerializer(matrix).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=RiskMatrixUpdateSerializer, responses={200: RiskMatrixSerializer, **error_responses(400, 403, 404, 409)}
    )
    def partial_update(self, request, pk=None):
        matrix = self.get_object()
        serializer = RiskMatrixUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        matrix = matrix_services.risk_matrix_update(matrix=matrix, by=request.user, **serializer.validated_data)
        return Response(RiskMatrixSerializer(matrix).data)


# --- registers --------------------------------------------------------------------------------------------------


class RiskRegisterSerializer(serializers.ModelSerializer):
    matrix_name = serializers.CharField(source="matrix.name", read_only=True)
    risk_count = serializers.IntegerField(read_only=True, help_text="Risks not closed.")
    flagged_count = serializers.IntegerField(read_only=True, help_text="Risks with a breached indicator.")

    class Meta:
        model = RiskRegister
        fields = [
            "id",
            "organization",
            "name",
            "program",
            "description",
            "matrix",
            "matrix_name",
            "categories",
            "review_cadence_days",
            "risk_count",
            "flagged_count",
            "created_at",
        ]
        read_only_fields = fields


class RiskRegisterUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    program = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    matrix = serializers.UUIDField(required=False)
    categories = serializers.ListField(child=serializers.CharField(max_length=60), required=False)
    review_cadence_days = serializers.IntegerField(min_value=1, max_value=3660, required=False)


class RiskRegisterCreateSerializer(RiskRegisterUpdateSerializer):
    organization = serializers.UUIDField()
    name = serializers.CharField(max_length=200)
    matrix = serializers.UUIDField()
    template = serializers.CharField(
        required=False, help_text="Fill the register from a starter template, e.g. 'seed-strategy'."
    )


class HeatMapCellSerializer(serializers.Serializer):
    likelihood = serializers.IntegerField()
    impact = serializers.IntegerField()
    score = serializers.IntegerField()
    level = serializers.CharField(allow_null=True)
    inherent = serializers.IntegerField()
    current = serializers.IntegerField()
    residual = serializers.IntegerField()


class HeatMapSerializer(serializers.Serializer):
    register = serializers.UUIDField()
    matrix = inline_serializer(
        "HeatMapMatrix",
        {
            "id": serializers.UUIDField(),
            "name": serializers.CharField(),
            "likelihood_labels": serializers.ListField(child=serializers.CharField()),
            "impact_labels": serializers.ListField(child=serializers.CharField()),
            "levels": LevelSerializer(many=True),
        },
    )
    total = serializers.IntegerField()
    cells = HeatMapCellSerializer(many=True)
    grids = serializers.DictField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.IntegerField())),
        help_text="inherent/current/residual: [likelihood-1][impact-1] -> count.",
    )


class RiskRegisterFilter(OrganizationFilter):
    class Meta:
        model = RiskRegister
        fields = ["organization", "program"]


class RiskRegisterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = RiskRegister.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = RiskRegisterSerializer
    filterset_class = RiskRegisterFilter

    def get_queryset(self):
        return selectors.risk_register_list(user=self.request.user)

    def get_object(self):
        return selectors.risk_register_get(user=self.request.user, pk=self.kwargs["pk"])

    def _matrix(self, pk):
        if pk is None:
            return None
        return selectors.risk_matrix_get(user=self.request.user, pk=pk)

    def _reloaded(self, register) -> dict:
        return RiskRegisterSerializer(selectors.risk_register_get(user=self.request.user, pk=register.pk)).data

    @extend_schema(
        request=RiskRegisterCreateSerializer, responses={201: RiskRegisterSerializer, **error_responses(400, 403, 404)}
    )
    def create(self, request):
        serializer = RiskRegisterCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = organization_get(user=request.user, pk=data.pop("organization"))
        data["matrix"] = self._matrix(data["matrix"])
        register = register_services.risk_register_create(organization=organization, by=request.user, **data)
        return Response(self._reloaded(register), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=RiskRegisterUpdateSerializer,
        responses={200: RiskRegisterSerializer, **error_responses(400, 403, 404, 409)},
    )
    def partial_update(self, request, pk=None):
        register = self.get_object()
        serializer = RiskRegisterUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "matrix" in data:
            data["matrix"] = self._matrix(data["matrix"])
        register = register_services.risk_register_update(register=register, by=request.user, **data)
        return Response(self._reloaded(register))

    @extend_schema(
        parameters=[OpenApiParameter("include_closed", bool, default=False)],
        responses={200: HeatMapSerializer, **error_responses(404)},
    )
    @action(detail=True, methods=["get"], url_path="heat-map")
    def heat_map(self, request, pk=None):
        """Risks per matrix cell, inherent vs. current vs. residual."""
        include_closed = request.query_params.get("include_closed", "").lower() in {"1", "true", "yes"}
        data = selectors.risk_heat_map(register=self.get_object(), include_closed=include_closed)
        return Response(HeatMapSerializer(data).data)

    @extend_schema(parameters=[FILE_FORMAT_PARAM], responses=EXPORT_RESPONSES)
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """This register's risks as CSV or XLSX (raw values; imports back unchanged)."""
        register = self.get_object()
        headers, rows = risk_rows(selectors.risk_list(user=request.user).filter(register=register))
        return table_response(
            rows, headers=headers, file_format=request.query_params.get("file_format", "csv"), filename="risks"
        )

    @extend_schema(
        request={"multipart/form-data": inline_serializer("RiskImport", {"file": serializers.FileField()})},
        responses=IMPORT_RESPONSES,
    )
    @action(detail=True, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_file(self, request, pk=None):
        """Imports risks (matched by ref) into this register from CSV or XLSX."""
        result = import_services.risks_import(
            register=self.get_object(), upload=request.FILES.get("file"), by=request.user
        )
        return Response(result.as_dict())


# --- risks ------------------------------------------------------------------------------------------------------


class RiskSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    accepted_by = serializers.SerializerMethodField()
    inherent_level = serializers.SerializerMethodField()
    current_level = serializers.SerializerMethodField()
    residual_level = serializers.SerializerMethodField()
    acceptance_expired = serializers.SerializerMethodField()
    review_overdue = serializers.SerializerMethodField()
    flagged = serializers.SerializerMethodField()
    open_mitigations = serializers.IntegerField(read_only=True)
    breached_indicators = serializers.IntegerField(read_only=True)

    class Meta:
        model = Risk
        fields = [
            "id",
            "organization",
            "register",
            "ref",
            "title",
            "description",
            "category",
            "owner",
            *SCORE_FIELDS,
            "inherent_level",
            "current_level",
            "residual_level",
            "treatment",
            "status",
            "due_date",
            "accepted_by",
            "accepted_at",
            "acceptance_reason",
            "acceptance_expires_on",
            "acceptance_expired",
            "review_cadence_days",
            "next_review_on",
            "last_reviewed_at",
            "review_overdue",
            "flagged",
            "flagged_at",
            "open_mitigations",
            "breached_indicators",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _level(self, risk, stage: str) -> str | None:
        return risk.register.matrix.level_of(getattr(risk, f"{stage}_likelihood"), getattr(risk, f"{stage}_impact"))

    def get_inherent_level(self, risk) -> str | None:
        return self._level(risk, "inherent")

    def get_current_level(self, risk) -> str | None:
        return self._level(risk, "current")

    def get_residual_level(self, risk) -> str | None:
        return self._level(risk, "residual")

    def get_accepted_by(self, risk) -> str | None:
        return username_of(risk.accepted_by)

    def get_acceptance_expired(self, risk) -> bool:
        return selectors.is_acceptance_expired(risk)

    def get_review_overdue(self, risk) -> bool:
        return selectors.is_review_overdue(risk)

    def get_flagged(self, risk) -> bool:
        return risk.flagged_at is not None


class RiskDetailSerializer(RiskSerializer):
    allowed_actions = serializers.SerializerMethodField()

    class Meta(RiskSerializer.Meta):
        fields = [*RiskSerializer.Meta.fields, "allowed_actions"]
        read_only_fields = fields

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, risk) -> list[dict]:
        return actions_data(RISKS, risk, self.context)


def _score_field(**kwargs):
    return serializers.IntegerField(min_value=1, **kwargs)


class RiskUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.CharField(max_length=60, required=False)
    owner = serializers.CharField(required=False, help_text="Username of a member.")
    inherent_likelihood = _score_field(required=False)
    inherent_impact = _score_field(required=False)
    current_likelihood = _score_field(required=False)
    current_impact = _score_field(required=False)
    residual_likelihood = _score_field(required=False)
    residual_impact = _score_field(required=False)
    treatment = serializers.ChoiceField(choices=Treatment.choices, required=False)
    due_date = serializers.DateField(required=False, allow_null=True)
    review_cadence_days = serializers.IntegerField(min_value=1, max_value=3660, required=False)
    next_review_on = serializers.DateField(required=False)


class RiskCreateSerializer(RiskUpdateSerializer):
    register = serializers.UUIDField()
    ref = serializers.CharField(max_length=30, required=False, allow_blank=True, help_text="Default R-001, ...")
    title = serializers.CharField(max_length=200)
    category = serializers.CharField(max_length=60)
    owner = serializers.CharField(help_text="Username of a member.")
    inherent_likelihood = _score_field()
    inherent_impact = _score_field()
    next_review_on = None


class RiskAcceptSerializer(serializers.Serializer):
    reason = serializers.CharField()
    expires_on = serializers.DateField(help_text="At most a year ahead; expired acceptances are flagged and reminded.")


class RiskReviewSerializer(serializers.ModelSerializer):
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True)

    class Meta:
        model = RiskReview
        fields = ["id", "risk", "reviewed_by", "notes", "next_review_on", "created_at"]
        read_only_fields = fields


class RiskReviewCreateSerializer(serializers.Serializer):
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    current_likelihood = _score_field(required=False)
    current_impact = _score_field(required=False)


class RiskScoreSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskScoreSnapshot
        fields = ["recorded_at", "reason", *SCORE_FIELDS, "current_level"]
        read_only_fields = fields


class RiskFilter(OrganizationFilter):
    register = filters.UUIDFilter(field_name="register_id")
    owner = filters.CharFilter(field_name="owner__username")
    flagged = filters.BooleanFilter(field_name="flagged_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Risk
        fields = ["organization", "register", "category", "status", "treatment", "owner", "flagged"]


RISK_TRANSITION_SCHEMA = extend_schema(
    request=None, responses={200: RiskDetailSerializer, **error_responses(403, 404, 409)}
)
RISK_REASON_SCHEMA = extend_schema(
    request=ReasonSerializer, responses={200: RiskDetailSerializer, **error_responses(400, 403, 404, 409)}
)


class RiskViewSet(CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Risks: open -> treating -> accepted (with approver and expiry) or closed. Scores must fit the matrix."""

    queryset = Risk.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = RiskSerializer
    filterset_class = RiskFilter
    csv_filename = "risks.csv"
    csv_columns = [
        ("id", "id"),
        ("register", "register_id"),
        ("ref", "ref"),
        ("title", "title"),
        ("category", "category"),
        ("owner", lambda risk: risk.owner.username if risk.owner_id else None),
        *((name, name) for name in SCORE_FIELDS),
        ("treatment", "treatment"),
        ("status", "status"),
        ("due_date", "due_date"),
    ]

    def get_queryset(self):
        return selectors.risk_list(user=self.request.user)

    def get_object(self):
        return selectors.risk_get(user=self.request.user, pk=self.kwargs["pk"])

    def get_serializer_class(self):
        return RiskDetailSerializer if self.action == "retrieve" else RiskSerializer

    def _reloaded(self, risk) -> dict:
        risk = selectors.risk_get(user=self.request.user, pk=risk.pk)
        return RiskDetailSerializer(risk, context=self.get_serializer_context()).data

    @extend_schema(
        request=RiskCreateSerializer, responses={201: RiskDetailSerializer, **error_responses(400, 403, 404)}
    )
    def create(self, request):
        serializer = RiskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        register = selectors.risk_register_get(user=request.user, pk=data.pop("register"))
        risk = risk_services.risk_create(register=register, by=request.user, **data)
        return Response(self._reloaded(risk), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=RiskUpdateSerializer, responses={200: RiskDetailSerializer, **error_responses(400, 403, 404, 409)}
    )
    def partial_update(self, request, pk=None):
        risk = self.get_object()
        serializer = RiskUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        risk = risk_services.risk_update(risk=risk, by=request.user, **serializer.validated_data)
        return Response(self._reloaded(risk))

    @RISK_TRANSITION_SCHEMA
    @action(detail=True, methods=["post"], url_path="start-treatment")
    def start_treatment(self, request, pk=None):
        risk = risk_services.risk_start_treatment(risk=self.get_object(), by=request.user)
        return Response(self._reloaded(risk))

    @extend_schema(
        request=RiskAcceptSerializer, responses={200: RiskDetailSerializer, **error_responses(400, 403, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """The caller (owner or compliance) is the approver."""
        risk = self.get_object()
        serializer = RiskAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        risk = risk_services.risk_accept(risk=risk, by=request.user, **serializer.validated_data)
        return Response(self._reloaded(risk))

    @RISK_REASON_SCHEMA
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """The reason, if given, is kept in the audit trail."""
        risk = self.get_object()
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        risk = risk_services.risk_close(risk=risk, by=request.user, **serializer.validated_data)
        return Response(self._reloaded(risk))

    @RISK_REASON_SCHEMA
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """The reason, if given, is kept in the audit trail."""
        risk = self.get_object()
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        risk = risk_services.risk_reopen(risk=risk, by=request.user, **serializer.validated_data)
        return Response(self._reloaded(risk))

    @extend_schema(
        request=RiskReviewCreateSerializer, responses={201: RiskReviewSerializer, **error_responses(400, 403, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """Records a review, optionally rescoring the current likelihood and impact; sets the next review date."""
        risk = self.get_object()
        serializer = RiskReviewCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        review = risk_services.risk_review(risk=risk, by=request.user, **serializer.validated_data)
        return Response(RiskReviewSerializer(review).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: RiskScoreSnapshotSerializer(many=True), **error_responses(404)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, pk=None):
        """The score after every change, oldest first: the series to chart."""
        history = selectors.risk_score_history(risk=self.get_object())
        return Response(RiskScoreSnapshotSerializer(history, many=True).data)


# --- mitigations ------------------------------------------------------------------------------------------------


class MitigationSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = Mitigation
        fields = ["id", "risk", "title", "owner", "status", "due_date", "completed_at", "created_at"]
        read_only_fields = fields


class MitigationUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False)
    owner = serializers.CharField(required=False, help_text="Username of a member.")
    status = serializers.ChoiceField(choices=MitigationStatus.choices, required=False)
    due_date = serializers.DateField(required=False, allow_null=True)


class MitigationCreateSerializer(serializers.Serializer):
    risk = serializers.UUIDField()
    title = serializers.CharField(max_length=300)
    owner = serializers.CharField(help_text="Username of a member.")
    due_date = serializers.DateField(required=False, allow_null=True, default=None)


class MitigationFilter(filters.FilterSet):
    risk = filters.UUIDFilter(field_name="risk_id")

    class Meta:
        model = Mitigation
        fields = ["risk", "status"]


class MitigationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Mitigation.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = MitigationSerializer
    filterset_class = MitigationFilter

    def get_queryset(self):
        return selectors.mitigation_list(user=self.request.user)

    def get_object(self):
        return selectors.mitigation_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        request=MitigationCreateSerializer, responses={201: MitigationSerializer, **error_responses(400, 403, 404)}
    )
    def create(self, request):
        serializer = MitigationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        risk = selectors.risk_get(user=request.user, pk=data.pop("risk"))
        mitigation = risk_services.mitigation_create(risk=risk, by=request.user, **data)
        return Response(MitigationSerializer(mitigation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=MitigationUpdateSerializer, responses={200: MitigationSerializer, **error_responses(400, 403, 404)}
    )
    def partial_update(self, request, pk=None):
        mitigation = self.get_object()
        serializer = MitigationUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        mitigation = risk_services.mitigation_update(
            mitigation=mitigation, by=request.user, **serializer.validated_data
        )
        return Response(MitigationSerializer(mitigation).data)


# --- key risk indicators ----------------------------------------------------------------------------------------


class KeyRiskIndicatorSerializer(serializers.ModelSerializer):
    class Meta:
        model = KeyRiskIndicator
        fields = [
            "id",
            "risk",
            "name",
            "source",
            "metric",
            "aggregation",
            "window",
            "comparison",
            "threshold",
            "state",
            "last_value",
            "last_evaluated_at",
            "last_error",
            "breached_since",
            "created_at",
        ]
        read_only_fields = fields


class KeyRiskIndicatorUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    source = serializers.ChoiceField(choices=IndicatorSource.choices, required=False)
    metric = serializers.CharField(max_length=100, required=False)
    aggregation = serializers.ChoiceField(choices=Aggregation.choices, required=False)
    window = serializers.DurationField(required=False, help_text='e.g. "01:00:00" for an hour, "7 00:00:00".')
    comparison = serializers.ChoiceField(choices=Comparison.choices, required=False)
    threshold = serializers.DecimalField(max_digits=20, decimal_places=6, required=False)


class KeyRiskIndicatorCreateSerializer(KeyRiskIndicatorUpdateSerializer):
    risk = serializers.UUIDField()
    name = serializers.CharField(max_length=200)
    source = serializers.ChoiceField(choices=IndicatorSource.choices)
    metric = serializers.CharField(max_length=100)
    window = serializers.DurationField()
    threshold = serializers.DecimalField(max_digits=20, decimal_places=6)


class KriEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = KriEvent
        fields = ["id", "kind", "value", "threshold", "occurred_at", "notified"]
        read_only_fields = fields


class KeyRiskIndicatorFilter(OrganizationFilter):
    risk = filters.UUIDFilter(field_name="risk_id")

    class Meta:
        model = KeyRiskIndicator
        fields = ["organization", "risk", "source", "state"]


class KeyRiskIndicatorViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Indicators that flag a risk when a KPI or compute metric crosses a threshold (evaluated by Celery beat)."""

    queryset = KeyRiskIndicator.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = KeyRiskIndicatorSerializer
    filterset_class = KeyRiskIndicatorFilter

    def get_queryset(self):
        return selectors.kri_list(user=self.request.user)

    def get_object(self):
        return selectors.kri_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        request=KeyRiskIndicatorCreateSerializer,
        responses={201: KeyRiskIndicatorSerializer, **error_responses(400, 403, 404)},
    )
    def create(self, request):
        serializer = KeyRiskIndicatorCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        risk = selectors.risk_get(user=request.user, pk=data.pop("risk"))
        indicator = kri_services.kri_create(risk=risk, by=request.user, **data)
        return Response(KeyRiskIndicatorSerializer(indicator).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=KeyRiskIndicatorUpdateSerializer,
        responses={200: KeyRiskIndicatorSerializer, **error_responses(400, 403, 404)},
    )
    def partial_update(self, request, pk=None):
        indicator = self.get_object()
        serializer = KeyRiskIndicatorUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        indicator = kri_services.kri_update(indicator=indicator, by=request.user, **serializer.validated_data)
        return Response(KeyRiskIndicatorSerializer(indicator).data)

    @extend_schema(responses={204: None, **error_responses(403, 404)})
    def destroy(self, request, pk=None):
        kri_services.kri_delete(indicator=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: KriEventSerializer(many=True), **error_responses(404)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def events(self, request, pk=None):
        """Breaches and clearings, newest first."""
        return Response(KriEventSerializer(selectors.kri_event_list(indicator=self.get_object()), many=True).data)
