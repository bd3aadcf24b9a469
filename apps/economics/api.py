"""The economics API: rate cards, cost attributions, the compute economics of a window, the roadmap (phases,
initiatives, the template) and the success metrics with their scorecard. Thin: parse, call, shape."""

import datetime as dt

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import (
    ActionStateSerializer,
    SelectorViewSetMixin,
    actions_data,
    error_responses,
    organization_for_create,
    resolve_for_field,
)
from apps.core.canonical import normalize
from apps.core.errors import ValidationFailed
from apps.economics import selectors, services
from apps.economics.costing import compute_economics
from apps.economics.machines import INITIATIVES
from apps.economics.models import (
    CostAttribution,
    Initiative,
    MetricDirection,
    MetricSource,
    RateCard,
    RateCardKind,
    RoadmapPhase,
    SuccessMetric,
)

WRITE_ERRORS = error_responses(400, 403, 404)
TRANSITION_ERRORS = error_responses(400, 403, 404, 409)
MAX_WINDOW_DAYS = 400


def _parsed(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- rate cards and attributions ------------------------------------------------------------------------------


class RateCardSerializer(serializers.ModelSerializer):
    class Meta:
        model = RateCard
        fields = [
            "id",
            "organization",
            "name",
            "kind",
            "source",
            "device_selector",
            "currency",
            "provider",
            "region",
            "price_per_gpu_hour",
            "purchase_price",
            "lifetime_days",
            "power_price_per_kwh",
            "valid_from",
            "created_at",
        ]


class RateCardInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=RateCardKind.choices)
    source = serializers.UUIDField(required=False, allow_null=True)
    device_selector = serializers.DictField(child=serializers.CharField(max_length=200), required=False)
    currency = serializers.CharField(max_length=3)
    provider = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    region = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    price_per_gpu_hour = serializers.DecimalField(max_digits=18, decimal_places=6, required=False, allow_null=True)
    purchase_price = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, allow_null=True)
    lifetime_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10000)
    power_price_per_kwh = serializers.DecimalField(max_digits=18, decimal_places=6, required=False, allow_null=True)
    valid_from = serializers.DateField()


class RateCardViewSet(SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Prices of compute. A price change is a new card version (same name, later valid_from); none is edited."""

    queryset = RateCard.objects.none()
    serializer_class = RateCardSerializer
    filterset_fields = ["organization", "kind", "source"]
    list_selector, get_selector = selectors.rate_card_list, selectors.rate_card_get

    @extend_schema(request=RateCardInput, responses={201: RateCardSerializer, **WRITE_ERRORS})
    def create(self, request):
        from apps.compute.selectors import source_get

        data = _parsed(RateCardInput, request)
        organization = organization_for_create(request, data.pop("organization", None))
        data["source"] = resolve_for_field(source_get, request, data.get("source"), field="source")
        card = services.rate_card_create(organization=organization, by=request.user, **data)
        return Response(RateCardSerializer(card).data, status=status.HTTP_201_CREATED)


class CostAttributionSerializer(serializers.ModelSerializer):
    class Meta:
        model = CostAttribution
        fields = ["id", "organization", "name", "device_selector", "budget_line", "created_at"]


class CostAttributionInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    device_selector = serializers.DictField(child=serializers.CharField(max_length=200))
    budget_line = serializers.UUIDField()


class CostAttributionViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Devices carrying the labels bill their compute cost to the budget line."""

    queryset = CostAttribution.objects.none()
    serializer_class = CostAttributionSerializer
    filterset_fields = ["organization", "budget_line"]
    list_selector, get_selector = selectors.cost_attribution_list, selectors.cost_attribution_get

    @extend_schema(request=CostAttributionInput, responses={201: CostAttributionSerializer, **WRITE_ERRORS})
    def create(self, request):
        from apps.funding.selectors import budget_line_get

        data = _parsed(CostAttributionInput, request)
        line = resolve_for_field(budget_line_get, request, data.pop("budget_line"), field="budget_line")
        rule = services.cost_attribution_create(
            organization=line.organization, by=request.user, budget_line=line, **data
        )
        return Response(CostAttributionSerializer(rule).data, status=status.HTTP_201_CREATED)


# --- the economics of a window ------------------------------------------------------------------------------------

Figures = {
    "provisioned_hours": serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True),
    "used_hours": serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True),
    "idle_hours": serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True),
    "energy_kwh": serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True),
    "compute_cost": serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True),
    "energy_cost": serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True),
    "idle_cost": serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True),
    "total_cost": serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True),
}
EconomicsSerializer = inline_serializer(
    name="ComputeEconomics",
    fields={
        "start": serializers.DateTimeField(),
        "end": serializers.DateTimeField(),
        "currencies": serializers.ListField(child=serializers.CharField()),
        "totals": inline_serializer(
            name="ComputeEconomicsTotals",
            fields={
                **Figures,
                "gpu_utilization_pct": serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True),
                "devices": serializers.IntegerField(),
                "unpriced_devices": serializers.IntegerField(),
            },
        ),
        "operations": serializers.DecimalField(max_digits=30, decimal_places=6),
        "cost_per_operation": serializers.DecimalField(max_digits=30, decimal_places=9, allow_null=True),
        "trend": inline_serializer(
            name="ComputeEconomicsDay", fields={"day": serializers.DateField(), **Figures}, many=True
        ),
        "budget_lines": inline_serializer(
            name="ComputeEconomicsLine",
            many=True,
            fields={
                "budget_line": serializers.UUIDField(),
                "name": serializers.CharField(),
                "category": serializers.CharField(),
                "grant": serializers.UUIDField(allow_null=True),
                "investment": serializers.UUIDField(allow_null=True),
                "devices": serializers.IntegerField(),
                **Figures,
            },
        ),
        "biggest_idle": serializers.ListField(child=serializers.DictField()),
        "devices": serializers.ListField(child=serializers.DictField()),
    },
)


class ComputeEconomicsView(APIView):
    """GPU-hours provisioned and used, idle cost, energy and cost per device, day and budget line over a window
    (default: the last 30 days), from the per-minute rollups and the rate cards."""

    @extend_schema(
        parameters=[
            OpenApiParameter("organization", str, required=False),
            OpenApiParameter("start", dt.datetime, required=False, description="ISO 8601; default 30 days ago."),
            OpenApiParameter("end", dt.datetime, required=False, description="ISO 8601; default now."),
        ],
        responses={200: EconomicsSerializer, **error_responses(400, 404)},
    )
    def get(self, request):
        organization = organization_for_create(request, request.query_params.get("organization"))
        default_start, default_end = selectors.economics_window()
        start = _moment(request.query_params.get("start"), "start", default_start)
        end = _moment(request.query_params.get("end"), "end", default_end)
        if end <= start:
            raise ValidationFailed.for_field("end", "The window ends before it starts.")
        if end - start > dt.timedelta(days=MAX_WINDOW_DAYS):
            raise ValidationFailed.for_field("end", f"A window is at most {MAX_WINDOW_DAYS} days long.")
        return Response(normalize(compute_economics(organization=organization, start=start, end=end)))


def _moment(value, field: str, default: dt.datetime) -> dt.datetime:
    if value in (None, ""):
        return default
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ValidationFailed.for_field(field, "Give an ISO 8601 date and time with a time zone.") from None


# --- roadmap ------------------------------------------------------------------------------------------------------


class InitiativeSerializer(serializers.ModelSerializer):
    allowed_actions = serializers.SerializerMethodField()

    class Meta:
        model = Initiative
        fields = [
            "id",
            "organization",
            "phase",
            "title",
            "description",
            "owner",
            "due_date",
            "status",
            "status_reason",
            "milestones",
            "risks",
            "compute_sources",
            "kpis",
            "completed_at",
            "allowed_actions",
        ]

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, initiative) -> list[dict]:
        return actions_data(INITIATIVES, initiative, self.context)


class RoadmapPhaseSerializer(serializers.ModelSerializer):
    initiatives = InitiativeSerializer(many=True, read_only=True)

    class Meta:
        model = RoadmapPhase
        fields = ["id", "organization", "name", "description", "start", "end", "position", "initiatives"]


class RoadmapPhaseInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    start = serializers.DateField()
    end = serializers.DateField()
    position = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1000)


class TemplateInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    template = serializers.CharField(max_length=60, required=False, default="seed-strategy")
    start = serializers.DateField(required=False, help_text="Where the first phase starts; default today.")


class RoadmapPhaseViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The scaling roadmap: phases with their date ranges and initiatives."""

    queryset = RoadmapPhase.objects.none()
    serializer_class = RoadmapPhaseSerializer
    filterset_fields = ["organization"]
    list_selector, get_selector = selectors.roadmap_phase_list, selectors.roadmap_phase_get

    @extend_schema(request=RoadmapPhaseInput, responses={201: RoadmapPhaseSerializer, **WRITE_ERRORS})
    def create(self, request):
        data = _parsed(RoadmapPhaseInput, request)
        organization = organization_for_create(request, data.pop("organization", None))
        phase = services.roadmap_phase_create(organization=organization, by=request.user, **data)
        return Response(RoadmapPhaseSerializer(phase, context=self.get_serializer_context()).data, status=201)

    @extend_schema(request=TemplateInput, responses={201: RoadmapPhaseSerializer(many=True), **TRANSITION_ERRORS})
    @action(detail=False, methods=["post"], url_path="from-template", pagination_class=None, filter_backends=[])
    def from_template(self, request):
        """Fills an empty roadmap (and the success metrics) from a template, e.g. 'seed-strategy'."""
        data = _parsed(TemplateInput, request)
        organization = organization_for_create(request, data.pop("organization", None))
        loaded = services.roadmap_template_load(organization=organization, by=request.user, **data)
        phases = selectors.roadmap_phase_list(user=request.user).filter(pk__in=[p.pk for p in loaded["phases"]])
        context = self.get_serializer_context()
        return Response(RoadmapPhaseSerializer(phases, many=True, context=context).data, status=201)


class InitiativeInput(serializers.Serializer):
    phase = serializers.UUIDField()
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    owner = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1)
    due_date = serializers.DateField()
    milestones = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=200)
    risks = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=200)
    compute_sources = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=200)
    kpis = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, max_length=20
    )


class InitiativeActionInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=[(name, name) for name in INITIATIVES.by_name])
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


def _many(selector, request, ids, field):
    return [resolve_for_field(selector, request, pk, field=field) for pk in ids]


@extend_schema_view(
    list=extend_schema(
        summary="List initiatives",
        description="The roadmap's initiatives of your organizations, newest first.",
    ),
    create=extend_schema(
        summary="Create an initiative",
        description="Adds an initiative to a roadmap phase of an organization.",
    ),
    retrieve=extend_schema(
        summary="Get an initiative",
        description="One initiative with its phase and success metrics.",
    ),
)
class InitiativeViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Initiative.objects.none()
    serializer_class = InitiativeSerializer
    filterset_fields = ["organization", "phase", "status"]
    list_selector, get_selector = selectors.initiative_list, selectors.initiative_get

    def _answer(self, initiative, code=200):
        fresh = selectors.initiative_get(user=self.request.user, pk=initiative.pk)
        return Response(InitiativeSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=InitiativeInput, responses={201: InitiativeSerializer, **WRITE_ERRORS})
    def create(self, request):
        from apps.compute.selectors import source_get
        from apps.funding.selectors import milestone_get
        from apps.risks.selectors import risk_get

        data = _parsed(InitiativeInput, request)
        phase = resolve_for_field(selectors.roadmap_phase_get, request, data.pop("phase"), field="phase")
        owner_id = data.pop("owner", None)
        owner = None
        if owner_id is not None:
            from django.contrib.auth import get_user_model

            owner = get_user_model().objects.filter(pk=owner_id).first()
            if owner is None:
                raise ValidationFailed.for_field("owner", "Not a member of this organization.")
        initiative = services.initiative_create(
            phase=phase,
            by=request.user,
            owner=owner,
            milestones=_many(milestone_get, request, data.pop("milestones"), "milestones"),
            risks=_many(risk_get, request, data.pop("risks"), "risks"),
            compute_sources=_many(source_get, request, data.pop("compute_sources"), "compute_sources"),
            **data,
        )
        return self._answer(initiative, 201)

    @extend_schema(request=InitiativeActionInput, responses={200: InitiativeSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def act(self, request, pk=None):
        """Moves the initiative: start, block (with a reason), unblock, complete, drop (with a reason)."""
        data = _parsed(InitiativeActionInput, request)
        return self._answer(services.initiative_act(initiative=self.get_object(), by=request.user, **data))


# --- success metrics and the scorecard ----------------------------------------------------------------------------


class SuccessMetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = SuccessMetric
        fields = [
            "id",
            "organization",
            "key",
            "name",
            "source",
            "kpi_metric",
            "compute_figure",
            "growth",
            "direction",
            "target",
            "at_risk_margin_pct",
            "unit",
            "position",
        ]


class SuccessMetricInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    key = serializers.SlugField(max_length=60)
    name = serializers.CharField(max_length=200)
    source = serializers.ChoiceField(choices=MetricSource.choices)
    kpi_metric = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    compute_figure = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    growth = serializers.BooleanField(required=False, default=False)
    direction = serializers.ChoiceField(choices=MetricDirection.choices)
    target = serializers.DecimalField(max_digits=24, decimal_places=6)
    at_risk_margin_pct = serializers.DecimalField(max_digits=6, decimal_places=2, required=False, default=5)
    unit = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    position = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1000)


ScorecardSerializer = inline_serializer(
    name="ScorecardEntry",
    many=True,
    fields={
        "metric": SuccessMetricSerializer(),
        "value": serializers.DecimalField(max_digits=30, decimal_places=9, allow_null=True),
        "status": serializers.ChoiceField(choices=["on_target", "at_risk", "off_target", "no_data"]),
        "label": serializers.CharField(),
        "trend": inline_serializer(
            name="ScorecardPoint",
            many=True,
            fields={
                "at": serializers.DateField(),
                "value": serializers.DecimalField(max_digits=30, decimal_places=9, allow_null=True),
            },
        ),
    },
)


@extend_schema_view(
    list=extend_schema(
        summary="List success metrics",
        description="The success metrics the scorecard tracks, newest first.",
    ),
    create=extend_schema(
        summary="Create a success metric",
        description="Adds a success metric with its target; the scorecard compares it with the readings of its source.",
    ),
)
class SuccessMetricViewSet(SelectorViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = SuccessMetric.objects.none()
    serializer_class = SuccessMetricSerializer
    filterset_fields = ["organization", "source"]
    list_selector = selectors.success_metric_list

    @extend_schema(request=SuccessMetricInput, responses={201: SuccessMetricSerializer, **WRITE_ERRORS})
    def create(self, request):
        data = _parsed(SuccessMetricInput, request)
        organization = organization_for_create(request, data.pop("organization", None))
        metric = services.success_metric_create(organization=organization, by=request.user, **data)
        return Response(SuccessMetricSerializer(metric).data, status=201)

    @extend_schema(
        parameters=[OpenApiParameter("organization", str, required=False)],
        responses={200: ScorecardSerializer, **error_responses(400, 404)},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def scorecard(self, request):
        """Each metric's latest value, on target / at risk / off target, and its trend."""
        organization = organization_for_create(request, request.query_params.get("organization"))
        rows = selectors.scorecard(organization=organization)
        return Response([normalize({**row, "metric": SuccessMetricSerializer(row["metric"]).data}) for row in rows])
