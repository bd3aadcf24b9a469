"""The risks API's views. Thin: parse, call a service or selector, shape the answer."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.compliance.api.views import EXPORT_RESPONSES, FILE_FORMAT_PARAM, IMPORT_RESPONSES
from apps.core.api import ReasonSerializer, SelectorViewSetMixin, error_responses, organization_for_create
from apps.core.tabular import CsvExportMixin, table_response
from apps.risks import selectors
from apps.risks.api import filters
from apps.risks.api import serializers as s
from apps.risks.exports import risk_rows
from apps.risks.models import (
    SCORE_FIELDS,
    KeyRiskIndicator,
    Mitigation,
    Risk,
    RiskMatrix,
    RiskRegister,
)
from apps.risks.services import imports as import_services
from apps.risks.services import indicators as kri_services
from apps.risks.services import matrices as matrix_services
from apps.risks.services import registers as register_services
from apps.risks.services import risks as risk_services


class RiskMatrixViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Matrices are data: labels and level thresholds change without a migration."""

    queryset = RiskMatrix.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.RiskMatrixSerializer
    filterset_class = filters.RiskMatrixFilter

    list_selector, get_selector = selectors.risk_matrix_list, selectors.risk_matrix_get

    @extend_schema(
        request=s.RiskMatrixCreateSerializer, responses={201: s.RiskMatrixSerializer, **error_responses(400, 403, 404)}
    )
    def create(self, request):
        serializer = s.RiskMatrixCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = organization_for_create(request, data.pop("organization", None))
        matrix = matrix_services.risk_matrix_create(organization=organization, by=request.user, **data)
        return Response(s.RiskMatrixSerializer(matrix).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.RiskMatrixUpdateSerializer,
        responses={200: s.RiskMatrixSerializer, **error_responses(400, 403, 404, 409)},
    )
    def partial_update(self, request, pk=None):
        matrix = self.get_object()
        serializer = s.RiskMatrixUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        matrix = matrix_services.risk_matrix_update(matrix=matrix, by=request.user, **serializer.validated_data)
        return Response(s.RiskMatrixSerializer(matrix).data)


@extend_schema_view(
    list=extend_schema(
        summary="List risk registers",
        description="The risk registers of your organizations, newest first.",
    ),
    create=extend_schema(
        summary="Create a risk register",
        description=(
            "Adds a risk register to an organization, scored on a risk matrix (the organization's default when "
            "none is named)."
        ),
    ),
    retrieve=extend_schema(
        summary="Get a risk register",
        description="One risk register and its matrix.",
    ),
    partial_update=extend_schema(
        summary="Update a risk register",
        description="Changes a register's name, description or matrix; the fields left out keep their values.",
    ),
)
class RiskRegisterViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = RiskRegister.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.RiskRegisterSerializer
    filterset_class = filters.RiskRegisterFilter

    list_selector, get_selector = selectors.risk_register_list, selectors.risk_register_get

    def _matrix(self, pk):
        if pk is None:
            return None
        return selectors.risk_matrix_get(user=self.request.user, pk=pk)

    def _reloaded(self, register) -> dict:
        return s.RiskRegisterSerializer(selectors.risk_register_get(user=self.request.user, pk=register.pk)).data

    @extend_schema(
        request=s.RiskRegisterCreateSerializer,
        responses={201: s.RiskRegisterSerializer, **error_responses(400, 403, 404)},
    )
    def create(self, request):
        serializer = s.RiskRegisterCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organization = organization_for_create(request, data.pop("organization", None))
        data["matrix"] = self._matrix(data["matrix"])
        register = register_services.risk_register_create(organization=organization, by=request.user, **data)
        return Response(self._reloaded(register), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.RiskRegisterUpdateSerializer,
        responses={200: s.RiskRegisterSerializer, **error_responses(400, 403, 404, 409)},
    )
    def partial_update(self, request, pk=None):
        register = self.get_object()
        serializer = s.RiskRegisterUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "matrix" in data:
            data["matrix"] = self._matrix(data["matrix"])
        register = register_services.risk_register_update(register=register, by=request.user, **data)
        return Response(self._reloaded(register))

    @extend_schema(
        parameters=[OpenApiParameter("include_closed", bool, default=False)],
        responses={200: s.HeatMapSerializer, **error_responses(404)},
    )
    @action(detail=True, methods=["get"], url_path="heat-map")
    def heat_map(self, request, pk=None):
        """Risks per matrix cell, inherent vs. current vs. residual."""
        include_closed = request.query_params.get("include_closed", "").lower() in {"1", "true", "yes"}
        data = selectors.risk_heat_map(register=self.get_object(), include_closed=include_closed)
        return Response(s.HeatMapSerializer(data).data)

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


RISK_TRANSITION_SCHEMA = extend_schema(
    request=None, responses={200: s.RiskDetailSerializer, **error_responses(403, 404, 409)}
)


RISK_REASON_SCHEMA = extend_schema(
    request=ReasonSerializer, responses={200: s.RiskDetailSerializer, **error_responses(400, 403, 404, 409)}
)


class RiskViewSet(
    SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Risks: open -> treating -> accepted (with approver and expiry) or closed. Scores must fit the matrix."""

    queryset = Risk.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.RiskSerializer
    filterset_class = filters.RiskFilter
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

    list_selector, get_selector = selectors.risk_list, selectors.risk_get

    def get_serializer_class(self):
        return s.RiskDetailSerializer if self.action == "retrieve" else s.RiskSerializer

    def _reloaded(self, risk) -> dict:
        risk = selectors.risk_get(user=self.request.user, pk=risk.pk)
        return s.RiskDetailSerializer(risk, context=self.get_serializer_context()).data

    @extend_schema(
        request=s.RiskCreateSerializer, responses={201: s.RiskDetailSerializer, **error_responses(400, 403, 404)}
    )
    def create(self, request):
        serializer = s.RiskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        register = selectors.risk_register_get(user=request.user, pk=data.pop("register"))
        risk = risk_services.risk_create(register=register, by=request.user, **data)
        return Response(self._reloaded(risk), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.RiskUpdateSerializer, responses={200: s.RiskDetailSerializer, **error_responses(400, 403, 404, 409)}
    )
    def partial_update(self, request, pk=None):
        risk = self.get_object()
        serializer = s.RiskUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        risk = risk_services.risk_update(risk=risk, by=request.user, **serializer.validated_data)
        return Response(self._reloaded(risk))

    @RISK_TRANSITION_SCHEMA
    @action(detail=True, methods=["post"], url_path="start-treatment")
    def start_treatment(self, request, pk=None):
        risk = risk_services.risk_start_treatment(risk=self.get_object(), by=request.user)
        return Response(self._reloaded(risk))

    @extend_schema(
        request=s.RiskAcceptSerializer, responses={200: s.RiskDetailSerializer, **error_responses(400, 403, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """The caller (owner or compliance) is the approver."""
        risk = self.get_object()
        serializer = s.RiskAcceptSerializer(data=request.data)
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
        request=s.RiskReviewCreateSerializer,
        responses={201: s.RiskReviewSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """Records a review, optionally rescoring the current likelihood and impact; sets the next review date."""
        risk = self.get_object()
        serializer = s.RiskReviewCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        review = risk_services.risk_review(risk=risk, by=request.user, **serializer.validated_data)
        return Response(s.RiskReviewSerializer(review).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.RiskScoreSnapshotSerializer(many=True), **error_responses(404)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, pk=None):
        """The score after every change, oldest first: the series to chart."""
        history = selectors.risk_score_history(risk=self.get_object())
        return Response(s.RiskScoreSnapshotSerializer(history, many=True).data)


@extend_schema_view(
    list=extend_schema(
        summary="List mitigations",
        description="The mitigations of your organizations' risks, newest first.",
    ),
    create=extend_schema(
        summary="Create a mitigation",
        description="Adds a mitigation to a risk: what is done about it, by whom, by when.",
    ),
    retrieve=extend_schema(
        summary="Get a mitigation",
        description="One mitigation of a risk.",
    ),
    partial_update=extend_schema(
        summary="Update a mitigation",
        description=(
            "Changes a mitigation's description, owner, due date or status; the fields left out keep their values."
        ),
    ),
)
class MitigationViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Mitigation.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.MitigationSerializer
    filterset_class = filters.MitigationFilter

    list_selector, get_selector = selectors.mitigation_list, selectors.mitigation_get

    @extend_schema(
        request=s.MitigationCreateSerializer, responses={201: s.MitigationSerializer, **error_responses(400, 403, 404)}
    )
    def create(self, request):
        serializer = s.MitigationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        risk = selectors.risk_get(user=request.user, pk=data.pop("risk"))
        mitigation = risk_services.mitigation_create(risk=risk, by=request.user, **data)
        return Response(s.MitigationSerializer(mitigation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.MitigationUpdateSerializer, responses={200: s.MitigationSerializer, **error_responses(400, 403, 404)}
    )
    def partial_update(self, request, pk=None):
        mitigation = self.get_object()
        serializer = s.MitigationUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        mitigation = risk_services.mitigation_update(
            mitigation=mitigation, by=request.user, **serializer.validated_data
        )
        return Response(s.MitigationSerializer(mitigation).data)


class KeyRiskIndicatorViewSet(
    SelectorViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Indicators that flag a risk when a KPI or compute metric crosses a threshold (evaluated by Celery beat)."""

    queryset = KeyRiskIndicator.objects.none()  # for the schema; requests use the scoped selector
    serializer_class = s.KeyRiskIndicatorSerializer
    filterset_class = filters.KeyRiskIndicatorFilter

    list_selector, get_selector = selectors.kri_list, selectors.kri_get

    @extend_schema(
        request=s.KeyRiskIndicatorCreateSerializer,
        responses={201: s.KeyRiskIndicatorSerializer, **error_responses(400, 403, 404)},
    )
    def create(self, request):
        serializer = s.KeyRiskIndicatorCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        risk = selectors.risk_get(user=request.user, pk=data.pop("risk"))
        indicator = kri_services.kri_create(risk=risk, by=request.user, **data)
        return Response(s.KeyRiskIndicatorSerializer(indicator).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.KeyRiskIndicatorUpdateSerializer,
        responses={200: s.KeyRiskIndicatorSerializer, **error_responses(400, 403, 404)},
    )
    def partial_update(self, request, pk=None):
        indicator = self.get_object()
        serializer = s.KeyRiskIndicatorUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        indicator = kri_services.kri_update(indicator=indicator, by=request.user, **serializer.validated_data)
        return Response(s.KeyRiskIndicatorSerializer(indicator).data)

    @extend_schema(responses={204: None, **error_responses(403, 404)})
    def destroy(self, request, pk=None):
        kri_services.kri_delete(indicator=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: s.KriEventSerializer(many=True), **error_responses(404)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def events(self, request, pk=None):
        """Breaches and clearings, newest first."""
        return Response(s.KriEventSerializer(selectors.kri_event_list(indicator=self.get_object()), many=True).data)
