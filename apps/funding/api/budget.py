"""The API of money against plan: budget lines (budget vs committed vs actual, also as CSV), expenses, budget
re-allocations, and reporting periods with their reports. Thin: parse, call one service or selector, shape."""

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.core.api import (
    ActionStateSerializer,
    ReasonSerializer,
    SelectorViewSetMixin,
    actions_data,
    error_responses,
    resolve_for_field,
)
from apps.core.tabular import CsvExportMixin
from apps.core.uploads import EVIDENCE_CONTENT_TYPES, evidence_response
from apps.funding import selectors
from apps.funding.api.serializers import Amount
from apps.funding.budget_machines import BUDGET_AMENDMENTS, REPORTING_PERIODS
from apps.funding.models import (
    BudgetAmendment,
    BudgetCategory,
    BudgetLine,
    Expense,
    PeriodAttachment,
    ReportingFrequency,
    ReportingPeriod,
)
from apps.funding.services import budget, reporting

WRITE_ERRORS = error_responses(400, 403, 404)
TRANSITION_ERRORS = error_responses(400, 403, 404, 409)


def _parsed(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- budget lines ---------------------------------------------------------------------------------------------


class BudgetLineSerializer(serializers.ModelSerializer):
    committed = Amount(read_only=True, help_text="Net disbursements tagged to the line.")
    actual = Amount(read_only=True, help_text="Net expenses recorded against the line.")
    remaining = serializers.SerializerMethodField(help_text="The budget less the actual.")

    class Meta:
        model = BudgetLine
        fields = [
            "id",
            "organization",
            "grant",
            "investment",
            "category",
            "name",
            "currency",
            "amount_original",
            "amount",
            "committed",
            "actual",
            "remaining",
            "created_at",
        ]
        extra_kwargs = {"amount": {"help_text": "The budget as amended by applied re-allocations."}}

    @extend_schema_field(serializers.DecimalField(max_digits=18, decimal_places=2))
    def get_remaining(self, line) -> str:
        return f"{line.amount - line.actual:.2f}"


class BudgetLineInput(serializers.Serializer):
    grant = serializers.UUIDField(required=False, allow_null=True)
    investment = serializers.UUIDField(required=False, allow_null=True)
    category = serializers.ChoiceField(choices=BudgetCategory.choices)
    name = serializers.CharField(max_length=200)
    amount = Amount()
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)


class BudgetLineFilter(filters.FilterSet):
    class Meta:
        model = BudgetLine
        fields = ["organization", "grant", "investment", "category"]


class BudgetLineViewSet(
    SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Budget vs committed vs actual per line (`?grant=` or `?investment=`; `?format=csv` for the table)."""

    queryset = BudgetLine.objects.none()
    serializer_class = BudgetLineSerializer
    filterset_class = BudgetLineFilter
    list_selector, get_selector = selectors.budget_line_list, selectors.budget_line_get
    csv_filename = "budget-lines.csv"
    csv_columns = [
        ("id", "id"),
        ("grant_id", "grant_id"),
        ("investment_id", "investment_id"),
        ("category", "category"),
        ("name", "name"),
        ("currency", "currency"),
        ("budget_original", "amount_original"),
        ("budget", "amount"),
        ("committed", "committed"),
        ("actual", "actual"),
        ("remaining", lambda line: line.amount - line.actual),
    ]

    @extend_schema(request=BudgetLineInput, responses={201: BudgetLineSerializer, **TRANSITION_ERRORS})
    def create(self, request):
        data = _parsed(BudgetLineInput, request)
        grant = resolve_for_field(selectors.grant_get, request, data.pop("grant", None), field="grant")
        investment = resolve_for_field(
            selectors.investment_get, request, data.pop("investment", None), field="investment"
        )
        if (grant is None) == (investment is None):
            from apps.core.errors import ValidationFailed

            raise ValidationFailed.for_field("grant", "Name either a grant or an investment.")
        line = budget.budget_line_add(parent=grant or investment, by=request.user, **data)
        return Response(
            BudgetLineSerializer(selectors.budget_line_get(user=request.user, pk=line.pk)).data,
            status=status.HTTP_201_CREATED,
        )


# --- expenses ------------------------------------------------------------------------------------------------


class ExpenseSerializer(serializers.ModelSerializer):
    voided_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True, help_text="The void, if voided.")

    class Meta:
        model = Expense
        fields = [
            "id",
            "organization",
            "budget_line",
            "amount",
            "currency",
            "spent_on",
            "description",
            "reference",
            "voids",
            "voided_by",
            "reason",
            "created_at",
        ]


class ExpenseInput(serializers.Serializer):
    budget_line = serializers.UUIDField()
    amount = Amount()
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    spent_on = serializers.DateField()
    description = serializers.CharField(max_length=300)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class VoidInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ExpenseFilter(filters.FilterSet):
    grant = filters.UUIDFilter(field_name="budget_line__grant")
    investment = filters.UUIDFilter(field_name="budget_line__investment")

    class Meta:
        model = Expense
        fields = ["organization", "budget_line"]


@extend_schema_view(
    list=extend_schema(
        summary="List expenses",
        description=(
            "Expenses booked against budget lines of your grants and investments, newest first; `?format=csv` for"
            " a ledger."
        ),
    ),
    create=extend_schema(
        summary="Record an expense",
        description=(
            "Books an expense against a budget line (in the line's currency). An expense is never edited or "
            "deleted: a correction is a new entry."
        ),
    ),
    retrieve=extend_schema(
        summary="Get an expense",
        description="One expense and the budget line it is booked on.",
    ),
)
class ExpenseViewSet(
    SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Expense.objects.none()
    serializer_class = ExpenseSerializer
    filterset_class = ExpenseFilter
    list_selector, get_selector = selectors.expense_list, selectors.expense_get
    csv_filename = "expenses.csv"
    csv_columns = [
        ("id", "id"),
        ("spent_on", "spent_on"),
        ("budget_line_id", "budget_line_id"),
        ("budget_line", "budget_line.name"),
        ("amount", "amount"),
        ("currency", "currency"),
        ("description", "description"),
        ("reference", "reference"),
        ("voids", "voids_id"),
    ]

    @extend_schema(request=ExpenseInput, responses={201: ExpenseSerializer, **WRITE_ERRORS})
    def create(self, request):
        data = _parsed(ExpenseInput, request)
        data["budget_line"] = resolve_for_field(
            selectors.budget_line_get, request, data["budget_line"], field="budget_line"
        )
        expense = budget.expense_record(by=request.user, **data)
        return Response(ExpenseSerializer(expense).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=VoidInput, responses={201: ExpenseSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        """Corrects an expense recorded in error with a compensating entry (both rows stay); answers the void."""
        void = budget.expense_void(expense=self.get_object(), by=request.user, **_parsed(VoidInput, request))
        return Response(ExpenseSerializer(void).data, status=status.HTTP_201_CREATED)


# --- re-allocations -------------------------------------------------------------------------------------------


class BudgetAmendmentSerializer(serializers.ModelSerializer):
    allowed_actions = serializers.SerializerMethodField()

    class Meta:
        model = BudgetAmendment
        fields = [
            "id",
            "organization",
            "from_line",
            "to_line",
            "amount",
            "reason",
            "status",
            "status_reason",
            "requested_by",
            "decided_by",
            "decided_at",
            "allowed_actions",
            "created_at",
        ]

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, amendment) -> list[dict]:
        return actions_data(BUDGET_AMENDMENTS, amendment, self.context)


class BudgetAmendmentInput(serializers.Serializer):
    from_line = serializers.UUIDField()
    to_line = serializers.UUIDField()
    amount = Amount()
    reason = serializers.CharField(max_length=2000)


class RequiredReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class BudgetAmendmentViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Moves between budget lines: applied at once, or waiting for the funder where the grant asks for it."""

    queryset = BudgetAmendment.objects.none()
    serializer_class = BudgetAmendmentSerializer
    filterset_fields = ["organization", "status", "from_line", "to_line"]
    list_selector, get_selector = selectors.budget_amendment_list, selectors.budget_amendment_get

    def _answer(self, amendment):
        fresh = selectors.budget_amendment_get(user=self.request.user, pk=amendment.pk)
        return BudgetAmendmentSerializer(fresh, context=self.get_serializer_context()).data

    @extend_schema(request=BudgetAmendmentInput, responses={201: BudgetAmendmentSerializer, **TRANSITION_ERRORS})
    def create(self, request):
        data = _parsed(BudgetAmendmentInput, request)
        for field in ("from_line", "to_line"):
            data[field] = resolve_for_field(selectors.budget_line_get, request, data[field], field=field)
        amendment = budget.budget_amendment_propose(by=request.user, **data)
        return Response(self._answer(amendment), status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses={200: BudgetAmendmentSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """The funder's approval (a viewer of the organization): the money moves."""
        reason = _parsed(ReasonSerializer, request)["reason"]
        amendment = budget.budget_amendment_act(
            amendment=self.get_object(), by=request.user, action="approve", reason=reason
        )
        return Response(self._answer(amendment))

    @extend_schema(request=RequiredReasonInput, responses={200: BudgetAmendmentSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        reason = _parsed(RequiredReasonInput, request)["reason"]
        amendment = budget.budget_amendment_act(
            amendment=self.get_object(), by=request.user, action="reject", reason=reason
        )
        return Response(self._answer(amendment))


# --- reporting periods ------------------------------------------------------------------------------------------


class PeriodAttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = PeriodAttachment
        fields = ["id", "original_name", "content_type", "size", "sha256", "created_at"]


class ReportingPeriodSerializer(serializers.ModelSerializer):
    attachments = PeriodAttachmentSerializer(many=True, read_only=True)
    allowed_actions = serializers.SerializerMethodField()

    class Meta:
        model = ReportingPeriod
        fields = [
            "id",
            "organization",
            "grant",
            "frequency",
            "start",
            "end",
            "due_date",
            "status",
            "status_reason",
            "narrative",
            "financial",
            "kpi_snapshot",
            "attachments",
            "submitted_by",
            "submitted_at",
            "decided_by",
            "decided_at",
            "allowed_actions",
        ]
        extra_kwargs = {
            "status_reason": {"help_text": "The funder's comments when the report was returned."},
            "financial": {"help_text": "Budget vs committed vs actual per line within the period, from the ledger."},
        }

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, period) -> list[dict]:
        return actions_data(REPORTING_PERIODS, period, self.context)


class PeriodInput(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    due_date = serializers.DateField(required=False)


class ScheduleInput(serializers.Serializer):
    grant = serializers.UUIDField()
    frequency = serializers.ChoiceField(choices=ReportingFrequency.choices)
    due_days = serializers.IntegerField(required=False, default=30, min_value=0, max_value=365)
    periods = PeriodInput(many=True, required=False, help_text="Only for a custom schedule.")


class SubmitInput(serializers.Serializer):
    narrative = serializers.CharField(required=False, allow_blank=True, default="", max_length=50_000)


class AttachmentInput(serializers.Serializer):
    file = serializers.FileField()


class ReportingPeriodViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """A grant's reporting periods and their reports; `POST schedule/` creates them from a frequency."""

    queryset = ReportingPeriod.objects.none()
    serializer_class = ReportingPeriodSerializer
    filterset_fields = ["organization", "grant", "status"]
    list_selector, get_selector = selectors.reporting_period_list, selectors.reporting_period_get

    def _answer(self, period):
        fresh = selectors.reporting_period_get(user=self.request.user, pk=period.pk)
        return ReportingPeriodSerializer(fresh, context=self.get_serializer_context()).data

    @extend_schema(request=ScheduleInput, responses={201: ReportingPeriodSerializer(many=True), **TRANSITION_ERRORS})
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def schedule(self, request):
        data = _parsed(ScheduleInput, request)
        grant = resolve_for_field(selectors.grant_get, request, data.pop("grant"), field="grant")
        periods = [{k: v.isoformat() for k, v in p.items()} for p in data.pop("periods", None) or []] or None
        created = reporting.reporting_schedule_set(grant=grant, by=request.user, periods=periods, **data)
        context = self.get_serializer_context()
        return Response(ReportingPeriodSerializer(created, many=True, context=context).data, status=201)

    @extend_schema(request=SubmitInput, responses={200: ReportingPeriodSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        narrative = _parsed(SubmitInput, request)["narrative"]
        return Response(
            self._answer(reporting.period_report_submit(period=self.get_object(), by=request.user, narrative=narrative))
        )

    @extend_schema(request=ReasonSerializer, responses={200: ReportingPeriodSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """The funder's approval (a viewer of the organization); tranches waiting for it may then be verified."""
        note = _parsed(ReasonSerializer, request)["reason"]
        return Response(
            self._answer(reporting.period_report_approve(period=self.get_object(), by=request.user, note=note))
        )

    @extend_schema(request=RequiredReasonInput, responses={200: ReportingPeriodSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="return")
    def return_with_comments(self, request, pk=None):
        reason = _parsed(RequiredReasonInput, request)["reason"]
        return Response(
            self._answer(reporting.period_report_return(period=self.get_object(), by=request.user, reason=reason))
        )

    @extend_schema(request=AttachmentInput, responses={201: PeriodAttachmentSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def attachments(self, request, pk=None):
        attachment = reporting.period_attachment_add(
            period=self.get_object(), by=request.user, upload=request.FILES.get("file")
        )
        return Response(PeriodAttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)


class PeriodAttachmentViewSet(viewsets.GenericViewSet):
    queryset = PeriodAttachment.objects.none()
    serializer_class = PeriodAttachmentSerializer

    @extend_schema(
        responses={
            **{(200, content_type): OpenApiTypes.BINARY for content_type in EVIDENCE_CONTENT_TYPES},
            **error_responses(404),
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """A period report's attachment, to members of the grant's organization only."""
        attachment = selectors.period_attachment_get(user=request.user, pk=pk)
        return evidence_response(
            file=attachment.file,
            filename=attachment.original_name,
            content_type=attachment.content_type,
            sha256=attachment.sha256,
        )
