"""Thin API views: parse, call one service or selector, shape the answer."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from apps.core.api import SelectorViewSetMixin, error_responses, organization_for_create, resolve_for_field
from apps.core.serializer_fields import decimal_normalized
from apps.core.tabular import CsvExportMixin
from apps.core.uploads import EVIDENCE_CONTENT_TYPES, evidence_response
from apps.funding import selectors
from apps.funding.api import examples, filters
from apps.funding.api import serializers as s
from apps.funding.machines import policy_for
from apps.funding.models import Disbursement, Funder, Grant, Investment, KpiReading, Milestone, OrganizationPolicy
from apps.funding.services import disbursements, funders, grants, investments, kpis, milestones, policy

WRITE_ERRORS = error_responses(400, 403, 404)
TRANSITION_ERRORS = error_responses(400, 403, 404, 409)


def _parsed(serializer_class, request, partial=False) -> dict:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema_view(
    list=extend_schema(
        summary="List funders",
        description=(
            "The funders and investors of your organizations, with their contacts; `?format=csv` for an address book."
        ),
    ),
    create=extend_schema(
        summary="Create a funder",
        description=(
            "Adds a funder (agency, foundation, investor) to an organization; grants and investments name it as "
            "`funder`."
        ),
    ),
    retrieve=extend_schema(
        summary="Get a funder",
        description="One funder with its contacts.",
    ),
    partial_update=extend_schema(
        summary="Update a funder",
        description="Changes a funder's name, kind, website or notes; the fields left out keep their values.",
    ),
    contacts=extend_schema(
        summary="Add a funder contact",
        description="Adds a person to contact at the funder (name, email, phone, title).",
    ),
)
class FunderViewSet(
    SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Funder.objects.none()
    serializer_class = s.FunderSerializer
    filterset_class = filters.FunderFilter
    list_selector, get_selector = selectors.funder_list, selectors.funder_get
    csv_filename = "funders.csv"
    csv_columns = [
        ("id", "id"),
        ("name", "name"),
        ("kind", "kind"),
        ("website", "website"),
        ("organization_id", "organization_id"),
    ]

    @extend_schema(request=s.FunderInput, responses={201: s.FunderSerializer, **WRITE_ERRORS})
    def create(self, request):
        data = _parsed(s.FunderInput, request)
        organization = organization_for_create(request, data.pop("organization", None))
        funder = funders.funder_create(organization=organization, by=request.user, **data)
        return Response(s.FunderSerializer(funder).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.FunderInput, responses={200: s.FunderSerializer, **WRITE_ERRORS})
    def partial_update(self, request, pk=None):
        data = _parsed(s.FunderInput, request, partial=True)
        data.pop("organization", None)
        funder = funders.funder_update(funder=self.get_object(), by=request.user, **data)
        return Response(s.FunderSerializer(funder).data)

    @extend_schema(request=s.FunderContactInput, responses={201: s.FunderContactSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def contacts(self, request, pk=None):
        contact = funders.funder_contact_add(
            funder=self.get_object(), by=request.user, **_parsed(s.FunderContactInput, request)
        )
        return Response(s.FunderContactSerializer(contact).data, status=status.HTTP_201_CREATED)


class TransitionMixin:
    """Runs a state-transition service on the URL's object (passed as `transition_kwarg`) and answers with the
    object's fresh representation (`_answer`)."""

    transition_kwarg = ""

    def _transition(self, service, input_class=None):
        data = _parsed(input_class, self.request) if input_class else {}
        return self._answer(service(**{self.transition_kwarg: self.get_object()}, by=self.request.user, **data))


class BriefMilestonesMixin:
    """Loads the page's milestones in one query once the page is known."""

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        return None if page is None else selectors.milestones_brief_attach(list(page))


class GrantViewSet(
    TransitionMixin,
    BriefMilestonesMixin,
    SelectorViewSetMixin,
    CsvExportMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Grants with their milestones and budget summary. Transitions: draft → submitted → under_review →
    awarded | rejected → active → closing → closed."""

    transition_kwarg = "grant"
    queryset = Grant.objects.none()
    serializer_class = s.GrantSerializer
    filterset_class = filters.GrantFilter
    ordering_fields = ["created_at", "period_end", "amount_requested", "title"]
    list_selector, get_selector = selectors.grant_list, selectors.grant_get
    csv_filename = "grants.csv"
    csv_columns = [
        ("id", "id"),
        ("title", "title"),
        ("funder", "funder.name"),
        ("program", "program"),
        ("reference", "reference"),
        ("status", "status"),
        ("currency", "currency"),
        ("amount_requested", "amount_requested"),
        ("amount_awarded", "amount_awarded"),
        ("amount_disbursed", "amount_disbursed"),
        ("period_start", "period_start"),
        ("period_end", "period_end"),
    ]

    def get_serializer_class(self):
        return s.GrantDetailSerializer if self.action == "retrieve" else s.GrantSerializer

    def _answer(self, grant, code=status.HTTP_200_OK):
        return Response(
            s.GrantDetailSerializer(
                selectors.grant_get(user=self.request.user, pk=grant.pk), context=self.get_serializer_context()
            ).data,
            status=code,
        )

    @extend_schema(
        examples=[examples.GRANT_CREATE], request=s.GrantInput, responses={201: s.GrantDetailSerializer, **WRITE_ERRORS}
    )
    def create(self, request):
        data = _parsed(s.GrantInput, request)
        organization = organization_for_create(request, data.pop("organization", None))
        data["funder"] = resolve_for_field(selectors.funder_get, request, data["funder"], field="funder")
        return self._answer(
            grants.grant_create(organization=organization, by=request.user, **data), status.HTTP_201_CREATED
        )

    @extend_schema(request=s.GrantUpdateInput, responses={200: s.GrantDetailSerializer, **TRANSITION_ERRORS})
    def partial_update(self, request, pk=None):
        data = _parsed(s.GrantUpdateInput, request, partial=True)
        if "funder" in data:
            data["funder"] = resolve_for_field(selectors.funder_get, request, data["funder"], field="funder")
        return self._answer(grants.grant_update(grant=self.get_object(), by=request.user, **data))

    @extend_schema(request=None, responses={200: s.GrantDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._transition(grants.grant_submit)

    @extend_schema(request=None, responses={200: s.GrantDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="start-review")
    def start_review(self, request, pk=None):
        return self._transition(grants.grant_start_review)

    @extend_schema(request=s.AwardInput, responses={200: s.GrantDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def award(self, request, pk=None):
        return self._transition(grants.grant_award, s.AwardInput)

    @extend_schema(request=s.ReasonInput, responses={200: s.GrantDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._transition(grants.grant_reject, s.ReasonInput)

    @extend_schema(request=None, responses={200: s.GrantDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        return self._transition(grants.grant_activate)

    @extend_schema(request=None, responses={200: s.GrantDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="begin-closing")
    def begin_closing(self, request, pk=None):
        return self._transition(grants.grant_begin_closing)

    @extend_schema(request=None, responses={200: s.GrantDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        return self._transition(grants.grant_close)

    @extend_schema(request=s.GrantReportInput, responses={201: s.GrantReportSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def reports(self, request, pk=None):
        report = grants.grant_report_add(
            grant=self.get_object(), by=request.user, **_parsed(s.GrantReportInput, request)
        )
        return Response(s.GrantReportSerializer(report).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.GrantRequirementInput, responses={201: s.GrantRequirementSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def requirements(self, request, pk=None):
        requirement = grants.grant_requirement_add(
            grant=self.get_object(), by=request.user, **_parsed(s.GrantRequirementInput, request)
        )
        return Response(s.GrantRequirementSerializer(requirement).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    submit=extend_schema(
        summary="Submit a grant report",
        description="Marks a report the grant obliges as submitted to the funder, now; audited.",
    ),
)
class GrantReportViewSet(viewsets.GenericViewSet):
    queryset = Grant.objects.none()
    serializer_class = s.GrantReportSerializer

    @extend_schema(request=None, responses={200: s.GrantReportSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        report = grants.grant_report_submit(
            report=selectors.grant_report_get(user=request.user, pk=pk), by=request.user
        )
        return Response(s.GrantReportSerializer(report).data)


@extend_schema_view(
    partial_update=extend_schema(
        summary="Update a grant requirement",
        description="Records whether a requirement of the grant is met, and where its evidence is.",
    ),
)
class GrantRequirementViewSet(viewsets.GenericViewSet):
    queryset = Grant.objects.none()
    serializer_class = s.GrantRequirementSerializer

    @extend_schema(request=s.GrantRequirementUpdateInput, responses={200: s.GrantRequirementSerializer, **WRITE_ERRORS})
    def partial_update(self, request, pk=None):
        requirement = grants.grant_requirement_update(
            requirement=selectors.grant_requirement_get(user=request.user, pk=pk),
            by=request.user,
            **_parsed(s.GrantRequirementUpdateInput, request),
        )
        return Response(s.GrantRequirementSerializer(requirement).data)


class InvestmentViewSet(
    TransitionMixin,
    BriefMilestonesMixin,
    SelectorViewSetMixin,
    CsvExportMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Private investments released milestone by milestone. Transitions: proposed → committed → active → closed,
    or withdrawn."""

    transition_kwarg = "investment"
    queryset = Investment.objects.none()
    serializer_class = s.InvestmentSerializer
    filterset_class = filters.InvestmentFilter
    ordering_fields = ["created_at", "committed_amount", "title"]
    list_selector, get_selector = selectors.investment_list, selectors.investment_get
    csv_filename = "investments.csv"
    csv_columns = [
        ("id", "id"),
        ("title", "title"),
        ("investor", "investor.name"),
        ("instrument", "instrument"),
        ("status", "status"),
        ("currency", "currency"),
        ("committed_amount", "committed_amount"),
        ("amount_disbursed", "amount_disbursed"),
        ("closing_date", "closing_date"),
    ]

    def get_serializer_class(self):
        return s.InvestmentDetailSerializer if self.action == "retrieve" else s.InvestmentSerializer

    def _answer(self, investment, code=status.HTTP_200_OK):
        fresh = selectors.investment_get(user=self.request.user, pk=investment.pk)
        return Response(s.InvestmentDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=s.InvestmentInput, responses={201: s.InvestmentDetailSerializer, **WRITE_ERRORS})
    def create(self, request):
        data = _parsed(s.InvestmentInput, request)
        organization = organization_for_create(request, data.pop("organization", None))
        data["investor"] = resolve_for_field(selectors.funder_get, request, data.pop("funder"), field="funder")
        return self._answer(
            investments.investment_create(organization=organization, by=request.user, **data), status.HTTP_201_CREATED
        )

    @extend_schema(request=s.InvestmentUpdateInput, responses={200: s.InvestmentDetailSerializer, **TRANSITION_ERRORS})
    def partial_update(self, request, pk=None):
        data = _parsed(s.InvestmentUpdateInput, request, partial=True)
        return self._answer(investments.investment_update(investment=self.get_object(), by=request.user, **data))

    @extend_schema(request=None, responses={200: s.InvestmentDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def commit(self, request, pk=None):
        return self._transition(investments.investment_commit)

    @extend_schema(request=None, responses={200: s.InvestmentDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        return self._transition(investments.investment_activate)

    @extend_schema(request=None, responses={200: s.InvestmentDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        return self._transition(investments.investment_close)

    @extend_schema(request=s.ReasonInput, responses={200: s.InvestmentDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self._transition(investments.investment_withdraw, s.ReasonInput)

    @extend_schema(request=s.EthicalCriterionInput, responses={201: s.EthicalCriterionSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def criteria(self, request, pk=None):
        row = investments.ethical_criterion_add(
            investment=self.get_object(), by=request.user, **_parsed(s.EthicalCriterionInput, request)
        )
        return Response(s.EthicalCriterionSerializer(row).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    partial_update=extend_schema(
        summary="Assess an investment criterion",
        description=(
            "Records the assessment of one ethical criterion of an investment, with notes; who assessed it and "
            "when are kept."
        ),
    ),
)
class EthicalCriterionViewSet(viewsets.GenericViewSet):
    queryset = Investment.objects.none()
    serializer_class = s.EthicalCriterionSerializer

    @extend_schema(request=s.AssessmentInput, responses={200: s.EthicalCriterionSerializer, **WRITE_ERRORS})
    def partial_update(self, request, pk=None):
        row = investments.ethical_criterion_assess(
            criterion=selectors.ethical_criterion_get(user=request.user, pk=pk),
            by=request.user,
            **_parsed(s.AssessmentInput, request),
        )
        return Response(s.EthicalCriterionSerializer(row).data)


@extend_schema_view(
    list=extend_schema(
        description=(
            "Your organizations' milestones, newest first unless `ordering` says otherwise; filter by grant, "
            "investment, status and due date (`due_after`, `due_before`: inclusive dates). `?format=csv` answers the "
            "whole filtered list as CSV text instead of a JSON page."
        ),
        responses={
            (200, "application/json"): s.MilestoneSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, examples=[examples.MILESTONES_DUE_AS_CSV]),
        },
    )
)
class MilestoneViewSet(
    TransitionMixin,
    SelectorViewSetMixin,
    CsvExportMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Milestones of grants and investments. Transitions: planned → in_progress → submitted → verified →
    released | missed → refunded; submitted/verified → disputed (by the funder)."""

    transition_kwarg = "milestone"
    queryset = Milestone.objects.none()
    serializer_class = s.MilestoneSerializer
    filterset_class = filters.MilestoneFilter
    ordering_fields = ["due_date", "created_at", "amount"]
    list_selector, get_selector = selectors.milestone_list, selectors.milestone_get
    csv_filename = "milestones.csv"
    csv_columns = [
        ("id", "id"),
        ("title", "title"),
        ("funder", lambda m: m.grant.funder.name if m.grant_id else m.investment.investor.name),
        ("grant_id", "grant_id"),
        ("investment_id", "investment_id"),
        ("status", "status"),
        ("due_date", "due_date"),
        ("currency", "currency"),
        ("amount", "amount"),
        ("amount_disbursed", "amount_disbursed"),
        ("submitted_at", "submitted_at"),
        ("released_at", "released_at"),
    ]

    def get_serializer_class(self):
        return s.MilestoneDetailSerializer if self.action == "retrieve" else s.MilestoneSerializer

    def _answer(self, milestone, code=status.HTTP_200_OK):
        fresh = selectors.milestone_get(user=self.request.user, pk=milestone.pk)
        return Response(s.MilestoneDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        examples=[examples.MILESTONE_CREATE],
        request=s.MilestoneInput,
        responses={201: s.MilestoneDetailSerializer, **TRANSITION_ERRORS},
    )
    def create(self, request):
        data = _parsed(s.MilestoneInput, request)
        grant_id, investment_id = data.pop("grant"), data.pop("investment")
        parent = (
            resolve_for_field(selectors.grant_get, request, grant_id, field="grant")
            if grant_id
            else resolve_for_field(selectors.investment_get, request, investment_id, field="investment")
        )
        return self._answer(
            milestones.milestone_create(parent=parent, by=request.user, **data), status.HTTP_201_CREATED
        )

    @extend_schema(request=s.MilestoneUpdateInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    def partial_update(self, request, pk=None):
        data = _parsed(s.MilestoneUpdateInput, request, partial=True)
        return self._answer(milestones.milestone_update(milestone=self.get_object(), by=request.user, **data))

    @extend_schema(request=None, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._transition(milestones.milestone_start)

    @extend_schema(request=s.NoteInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._transition(milestones.milestone_submit, s.NoteInput)

    @extend_schema(request=None, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        return self._transition(milestones.milestone_verify)

    @extend_schema(request=s.NoteInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="approve-release")
    def approve_release(self, request, pk=None):
        return self._transition(milestones.milestone_approve_release, s.NoteInput)

    @extend_schema(request=s.ReasonInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="return-for-changes")
    def return_for_changes(self, request, pk=None):
        """Back to in progress with a reason the submitter reads; release approvals given so far lapse."""
        return self._transition(milestones.milestone_return_for_changes, s.ReasonInput)

    @extend_schema(request=s.ReasonInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="pay-outside-escrow")
    def pay_outside_escrow(self, request, pk=None):
        """An escrowed milestone the chain cannot pay: owner and finance each approve; the second releases it."""
        return self._transition(milestones.milestone_pay_outside_escrow, s.ReasonInput)

    @extend_schema(request=s.ReasonInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def dispute(self, request, pk=None):
        return self._transition(milestones.milestone_dispute, s.ReasonInput)

    @extend_schema(request=s.ResolveDisputeInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="resolve-dispute")
    def resolve_dispute(self, request, pk=None):
        return self._transition(milestones.milestone_resolve_dispute, s.ResolveDisputeInput)

    @extend_schema(request=s.ReasonInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="resolve-conflict")
    def resolve_conflict(self, request, pk=None):
        """The owner accepts the escrow contract's approval of a milestone held in conflict (a hash other than
        govtrack's report was approved on chain): released, with the reason; what was withdrawn meanwhile is
        recorded as on-chain disbursements."""
        return self._transition(milestones.milestone_resolve_conflict, s.ReasonInput)

    @extend_schema(request=s.ReasonInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="mark-missed")
    def mark_missed(self, request, pk=None):
        return self._transition(milestones.milestone_mark_missed, s.ReasonInput)

    @extend_schema(request=s.ReasonInput, responses={200: s.MilestoneDetailSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def refund(self, request, pk=None):
        return self._transition(milestones.milestone_refund, s.ReasonInput)

    @extend_schema(request=s.CriterionInput, responses={201: s.CriterionSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def criteria(self, request, pk=None):
        criterion = milestones.criterion_add(
            milestone=self.get_object(), by=request.user, **_parsed(s.CriterionInput, request)
        )
        return Response(s.CriterionSerializer(criterion).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request={"multipart/form-data": s.EvidenceInput}, responses={201: s.EvidenceSerializer, **TRANSITION_ERRORS}
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def evidence(self, request, pk=None):
        data = _parsed(s.EvidenceInput, request)
        item = milestones.evidence_add(
            milestone=self.get_object(), by=request.user, upload=data["file"], description=data["description"]
        )
        return Response(s.EvidenceSerializer(item).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    approve=extend_schema(
        summary="Approve a manual milestone criterion",
        description=(
            "Records your approval of a manual criterion of a milestone; the criterion is met when each role it "
            "names has approved (your role must be one of them)."
        ),
    ),
)
class CriterionViewSet(viewsets.GenericViewSet):
    queryset = Milestone.objects.none()
    serializer_class = s.CriterionSerializer

    @extend_schema(request=s.NoteInput, responses={200: s.CriterionSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        criterion = selectors.criterion_get(user=request.user, pk=pk)
        criterion = milestones.criterion_approve(criterion=criterion, by=request.user, **_parsed(s.NoteInput, request))
        return Response(s.CriterionSerializer(criterion).data)


class EvidenceViewSet(viewsets.GenericViewSet):
    queryset = Milestone.objects.none()
    serializer_class = s.EvidenceSerializer

    @extend_schema(
        responses={
            **{(200, content_type): OpenApiTypes.BINARY for content_type in EVIDENCE_CONTENT_TYPES},
            **error_responses(404),
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The evidence file, to members of the milestone's organization only."""
        evidence = selectors.evidence_get(user=request.user, pk=pk)
        return evidence_response(
            file=evidence.file,
            filename=evidence.original_name,
            content_type=evidence.content_type,
            sha256=evidence.sha256,
        )


@extend_schema_view(
    list=extend_schema(
        summary="List disbursements",
        description=(
            "Every payment recorded against your milestones, newest first, voids included (a void has a negative "
            "`amount` and `voids` set). Filter by milestone, grant or date; `?format=csv` for a finance tool's "
            "import."
        ),
    ),
    create=extend_schema(
        summary="Record a disbursement",
        description=(
            "Records a payment made outside the escrow contract against a released milestone (`amount` at most "
            "what is left to pay, in the milestone's currency). A payment is never edited or deleted: a mistake "
            "is corrected by a void (`POST .../{id}/void/`)."
        ),
    ),
    retrieve=extend_schema(
        summary="Get a disbursement",
        description="One disbursement, with the void that cancels it (`voided_by`) if any.",
    ),
)
class DisbursementViewSet(
    SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Disbursement.objects.none()
    serializer_class = s.DisbursementSerializer
    filterset_class = filters.DisbursementFilter
    ordering_fields = ["paid_on", "created_at", "amount"]
    list_selector, get_selector = selectors.disbursement_list, selectors.disbursement_get
    csv_filename = "disbursements.csv"
    csv_columns = [
        ("id", "id"),
        ("paid_on", "paid_on"),
        ("milestone_id", "milestone_id"),
        ("milestone", "milestone.title"),
        ("amount", "amount"),
        ("currency", "currency"),
        ("kind", "kind"),
        ("reference", "reference"),
        ("budget_line_id", "budget_line_id"),
    ]

    @extend_schema(request=s.DisbursementInput, responses={201: s.DisbursementSerializer, **TRANSITION_ERRORS})
    def create(self, request):
        data = _parsed(s.DisbursementInput, request)
        data["milestone"] = resolve_for_field(selectors.milestone_get, request, data["milestone"], field="milestone")
        data["budget_line"] = resolve_for_field(
            selectors.budget_line_get, request, data.get("budget_line"), field="budget_line"
        )
        disbursement = disbursements.disbursement_record(by=request.user, **data)
        return Response(s.DisbursementSerializer(disbursement).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DisbursementVoidInput, responses={201: s.DisbursementSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        """Corrects a disbursement recorded in error with a compensating entry (both rows stay); answers the void."""
        void = disbursements.disbursement_void(
            disbursement=self.get_object(), by=request.user, **_parsed(s.DisbursementVoidInput, request)
        )
        return Response(s.DisbursementSerializer(void).data, status=status.HTTP_201_CREATED)


class OrganizationPolicyViewSet(viewsets.GenericViewSet):
    """The organization's funding controls: separation of duties, dual approval per currency, payment-date grace.

    Everyone in the organization reads it; the owner changes it (audited). The id is the organization's."""

    queryset = OrganizationPolicy.objects.none()
    serializer_class = s.OrganizationPolicySerializer

    def _organization(self, pk):
        from apps.tenancy.selectors import organization_get

        return organization_get(user=self.request.user, pk=pk)

    @extend_schema(responses={200: s.OrganizationPolicySerializer, **error_responses(404)})
    def retrieve(self, request, pk=None):
        return Response(s.OrganizationPolicySerializer(policy_for(self._organization(pk))).data)

    @extend_schema(request=s.OrganizationPolicyInput, responses={200: s.OrganizationPolicySerializer, **WRITE_ERRORS})
    def partial_update(self, request, pk=None):
        data = _parsed(s.OrganizationPolicyInput, request, partial=True)
        policy_row = policy.policy_update(organization=self._organization(pk), by=request.user, **data)
        return Response(s.OrganizationPolicySerializer(policy_row).data)


class KpiReadingViewSet(SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """KPI values posted by finance tools (revenue, customers, uptime, latency, cost per operation, GPU hours)."""

    queryset = KpiReading.objects.none()
    serializer_class = s.KpiReadingSerializer
    filterset_class = filters.KpiReadingFilter
    ordering_fields = ["period_end", "created_at"]
    list_selector = selectors.kpi_reading_list
    csv_filename = "kpi-readings.csv"
    csv_columns = [
        ("id", "id"),
        ("metric", "metric"),
        ("value", lambda reading: decimal_normalized(reading.value)),  # as the JSON answers it
        ("unit", "unit"),
        ("period_start", "period_start"),
        ("period_end", "period_end"),
        ("source", "source"),
    ]

    @extend_schema(
        summary="Post a KPI reading",
        description=(
            "Records a value a finance tool measured for a period (revenue, customers, uptime, ...); milestone KPI "
            "criteria are evaluated from these readings. Owner or finance, with a read-write token."
        ),
        examples=[examples.KPI_READING_CREATE, examples.KPI_READING_CREATED],
        request=s.KpiReadingInput,
        responses={201: s.KpiReadingSerializer, **TRANSITION_ERRORS},
    )
    def create(self, request):
        data = _parsed(s.KpiReadingInput, request)
        organization = organization_for_create(request, data.pop("organization", None))
        reading = kpis.kpi_reading_create(organization=organization, by=request.user, **data)
        return Response(s.KpiReadingSerializer(reading).data, status=status.HTTP_201_CREATED)
