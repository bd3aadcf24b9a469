"""Output serializers shape rows; input serializers parse types. Rules live in the services."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api import ActionStateSerializer, actions_data
from apps.core.money import AMOUNT_DECIMALS, AMOUNT_MAX_DIGITS
from apps.core.serializer_fields import JSONObjectField
from apps.funding.machines import GRANTS, INVESTMENTS, MILESTONES, release_status
from apps.funding.models import (
    Assessment,
    CriterionKind,
    Disbursement,
    DisbursementKind,
    EthicalCriterion,
    Evidence,
    FocusArea,
    Funder,
    FunderContact,
    FunderKind,
    Grant,
    GrantReport,
    GrantRequirement,
    Instrument,
    Investment,
    KpiMetric,
    KpiReading,
    Milestone,
    MilestoneApproval,
    MilestoneCriterion,
    OrganizationPolicy,
    RequirementKind,
    RequirementStatus,
)
from apps.funding.selectors import funding_summary


def Amount(**kwargs):
    return serializers.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMALS, **kwargs)


# --- output ----------------------------------------------------------------------------------------------


class FunderContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = FunderContact
        fields = ["id", "name", "email", "phone", "title"]


class FunderSerializer(serializers.ModelSerializer):
    contacts = FunderContactSerializer(many=True, read_only=True)

    class Meta:
        model = Funder
        fields = ["id", "organization", "name", "kind", "website", "notes", "contacts", "created_at", "updated_at"]


class MilestoneBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Milestone
        fields = ["id", "title", "amount", "currency", "amount_disbursed", "due_date", "status"]


def _money(value) -> str | None:
    return None if value is None else f"{value:.{AMOUNT_DECIMALS}f}"


def _instant(value) -> str:
    """A time as DRF's DateTimeField writes it: in the current time zone (UTC), ISO 8601, `Z` for +00:00."""
    text = timezone.localtime(value).isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


@extend_schema_field(MilestoneBriefSerializer(many=True))
class MilestoneBriefListField(serializers.Field):
    """The milestones inside a grant or investment row, from `selectors.milestones_brief_attach` (plain rows:
    a list page carries hundreds, and a nested serializer per row would cost more than the rest of the request).
    Same shape as MilestoneBriefSerializer."""

    def __init__(self, **kwargs):
        super().__init__(source="brief_milestones", read_only=True, **kwargs)

    def to_representation(self, rows):
        return milestones_brief_data(rows)


def milestones_brief_data(rows) -> list[dict]:
    return [
        {
            "id": str(m["id"]),
            "title": m["title"],
            "amount": _money(m["amount"]),
            "currency": m["currency"],
            "amount_disbursed": _money(m["amount_disbursed"]),
            "due_date": m["due_date"].isoformat(),
            "status": m["status"],
        }
        for m in rows
    ]


def summary_data(parent) -> dict:
    return {key: _money(value) if key != "currency" else value for key, value in funding_summary(parent).items()}


class FundingSummarySerializer(serializers.Serializer):
    currency = serializers.CharField()
    budget = Amount()
    committed = Amount(help_text="Sum of the milestones planned.")
    released = Amount(help_text="Sum of the released milestones.")
    released_unpaid = Amount(help_text="Released but not yet paid (disbursed or withdrawn from escrow).")
    escrowed = Amount(help_text="Held by the escrow contract now: deposited, neither withdrawn nor refunded.")
    disbursed = Amount()
    uncommitted = Amount()
    undisbursed = Amount()


class GrantSerializer(serializers.ModelSerializer):
    funder_name = serializers.CharField(source="funder.name", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True, default=None, allow_null=True)
    milestones = MilestoneBriefListField()
    summary = serializers.SerializerMethodField()

    class Meta:
        model = Grant
        fields = [
            "id",
            "organization",
            "funder",
            "funder_name",
            "title",
            "program",
            "reference",
            "focus_areas",
            "currency",
            "amount_requested",
            "amount_awarded",
            "amount_disbursed",
            "period_start",
            "period_end",
            "status",
            "status_reason",
            "owner",
            "description",
            "milestones",
            "summary",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(FundingSummarySerializer)
    def get_summary(self, grant) -> dict:
        return summary_data(grant)

    def to_representation(self, grant) -> dict:
        """The declared fields, written out: a list page carries up to 200 grants, and DRF's walk over 22 fields
        per row (and building those fields for every request) cost more than its queries. Same values as the
        generic walk, which the detail keeps (tests/funding/test_lists_and_csv.py compares the two)."""
        return {
            "id": str(grant.id),
            "organization": str(grant.organization_id),
            "funder": str(grant.funder_id),
            "funder_name": grant.funder.name,
            "title": grant.title,
            "program": grant.program,
            "reference": grant.reference,
            "focus_areas": grant.focus_areas,
            "currency": grant.currency,
            "amount_requested": _money(grant.amount_requested),
            "amount_awarded": _money(grant.amount_awarded),
            "amount_disbursed": _money(grant.amount_disbursed),
            "period_start": grant.period_start.isoformat(),
            "period_end": grant.period_end.isoformat(),
            "status": grant.status,
            "status_reason": grant.status_reason,
            "owner": grant.owner.username if grant.owner is not None else None,
            "description": grant.description,
            "milestones": milestones_brief_data(grant.brief_milestones),
            "summary": summary_data(grant),
            "created_at": _instant(grant.created_at),
            "updated_at": _instant(grant.updated_at),
        }


class ReleaseStatusSerializer(serializers.Serializer):
    approvals_recorded = serializers.IntegerField()
    approvals_needed = serializers.IntegerField()
    missing = serializers.ListField(child=serializers.CharField())
    summary = serializers.CharField(help_text='e.g. "1 of 2 approvals recorded: an owner must approve next."')
    approvers = serializers.ListField(child=serializers.DictField(), help_text="user, role and time of each approval.")


class GrantReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = GrantReport
        fields = ["id", "grant", "title", "due_date", "status", "submitted_at", "created_at"]


class GrantRequirementSerializer(serializers.ModelSerializer):
    class Meta:
        model = GrantRequirement
        fields = ["id", "grant", "kind", "description", "status", "evidence", "created_at", "updated_at"]


class GrantDetailSerializer(GrantSerializer):
    reports = GrantReportSerializer(many=True, read_only=True)
    requirements = GrantRequirementSerializer(many=True, read_only=True)
    allowed_actions = serializers.SerializerMethodField()

    class Meta(GrantSerializer.Meta):
        fields = [*GrantSerializer.Meta.fields, "reports", "requirements", "allowed_actions"]

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, grant) -> list[dict]:
        return actions_data(GRANTS, grant, self.context)

    def to_representation(self, grant) -> dict:
        return serializers.ModelSerializer.to_representation(self, grant)  # one row: the generic walk


class EthicalCriterionSerializer(serializers.ModelSerializer):
    assessed_by = serializers.CharField(source="assessed_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = EthicalCriterion
        fields = ["id", "investment", "criterion", "assessment", "notes", "assessed_by", "assessed_at"]


class InvestmentSerializer(serializers.ModelSerializer):
    # `funder` as on grants; `investor` and `investor_name` stay for one release (docs/api.md, deprecations).
    funder = serializers.UUIDField(source="investor_id", read_only=True, help_text="The funder who invests.")
    funder_name = serializers.CharField(source="investor.name", read_only=True)
    investor = serializers.UUIDField(source="investor_id", read_only=True, help_text="Deprecated: use `funder`.")
    investor_name = serializers.CharField(
        source="investor.name", read_only=True, help_text="Deprecated: use `funder_name`."
    )
    owner = serializers.CharField(source="owner.username", read_only=True, default=None, allow_null=True)
    milestones = MilestoneBriefListField()
    ethical_criteria = EthicalCriterionSerializer(many=True, read_only=True)
    summary = serializers.SerializerMethodField()

    class Meta:
        model = Investment
        fields = [
            "id",
            "organization",
            "funder",
            "funder_name",
            "investor",
            "investor_name",
            "title",
            "instrument",
            "currency",
            "committed_amount",
            "amount_disbursed",
            "status",
            "status_reason",
            "closing_date",
            "owner",
            "description",
            "milestones",
            "ethical_criteria",
            "summary",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(FundingSummarySerializer)
    def get_summary(self, investment) -> dict:
        return summary_data(investment)


class InvestmentDetailSerializer(InvestmentSerializer):
    allowed_actions = serializers.SerializerMethodField()

    class Meta(InvestmentSerializer.Meta):
        fields = [*InvestmentSerializer.Meta.fields, "allowed_actions"]

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, investment) -> list[dict]:
        return actions_data(INVESTMENTS, investment, self.context)


class CriterionSerializer(serializers.ModelSerializer):
    class Meta:
        model = MilestoneCriterion
        fields = ["id", "milestone", "kind", "description", "config", "status", "last_evaluated_at", "last_result"]


class EvidenceSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Evidence
        fields = [
            "id",
            "milestone",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "description",
            "created_at",
            "download_url",
        ]

    def get_download_url(self, evidence) -> str:
        return f"/api/evidence/{evidence.pk}/download/"


class ApprovalSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")

    class Meta:
        model = MilestoneApproval
        fields = ["id", "purpose", "criterion", "user", "role", "note", "created_at"]


class MilestoneSerializer(serializers.ModelSerializer):
    funder_name = serializers.SerializerMethodField()
    criteria = CriterionSerializer(many=True, read_only=True)

    class Meta:
        model = Milestone
        fields = [
            "id",
            "organization",
            "grant",
            "investment",
            "funder_name",
            "title",
            "description",
            "amount",
            "currency",
            "amount_disbursed",
            "due_date",
            "status",
            "status_reason",
            "submitted_at",
            "verified_at",
            "released_at",
            "criteria",
            "created_at",
            "updated_at",
        ]

    def get_funder_name(self, milestone) -> str:
        return milestone.grant.funder.name if milestone.grant_id else milestone.investment.investor.name


class MilestoneDetailSerializer(MilestoneSerializer):
    evidence = EvidenceSerializer(many=True, read_only=True)
    approvals = ApprovalSerializer(many=True, read_only=True)
    submitted_by = serializers.CharField(source="submitted_by.username", read_only=True, default=None, allow_null=True)
    verified_by = serializers.CharField(
        source="verified_by.username",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="Empty when govtrack verified it from data.",
    )
    release = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()

    class Meta(MilestoneSerializer.Meta):
        fields = [
            *MilestoneSerializer.Meta.fields,
            "submitted_by",
            "verified_by",
            "release_authorized_at",
            "paid_outside_escrow",
            "release",
            "evidence",
            "approvals",
            "allowed_actions",
        ]

    @extend_schema_field(ReleaseStatusSerializer)
    def get_release(self, milestone) -> dict:
        return release_status(milestone)

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, milestone) -> list[dict]:
        return actions_data(MILESTONES, milestone, self.context)


class DisbursementSerializer(serializers.ModelSerializer):
    class Meta:
        model = Disbursement
        fields = [
            "id",
            "organization",
            "milestone",
            "amount",
            "currency",
            "kind",
            "paid_on",
            "reference",
            "note",
            "voids",
            "voided_by",
            "reason",
            "budget_line",
            "created_at",
        ]
        extra_kwargs = {"voids": {"help_text": "Set on a void: the disbursement it cancels (amount negative)."}}

    voided_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True, help_text="The void, if voided.")


class KpiReadingSerializer(serializers.ModelSerializer):
    class Meta:
        model = KpiReading
        fields = [
            "id",
            "organization",
            "metric",
            "value",
            "unit",
            "period_start",
            "period_end",
            "source",
            "note",
            "created_at",
        ]


# --- input -------------------------------------------------------------------------------------------------


class FunderInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=FunderKind.choices)
    website = serializers.URLField(required=False, allow_blank=True, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class FunderContactInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    title = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class GrantInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    funder = serializers.UUIDField()
    title = serializers.CharField(max_length=300)
    program = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    focus_areas = serializers.ListField(
        child=serializers.ChoiceField(choices=FocusArea.choices), required=False, default=list
    )
    currency = serializers.CharField(max_length=3)
    amount_requested = Amount()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    description = serializers.CharField(required=False, allow_blank=True, default="")


class GrantUpdateInput(serializers.Serializer):
    funder = serializers.UUIDField(required=False)
    title = serializers.CharField(max_length=300, required=False)
    program = serializers.CharField(max_length=300, required=False, allow_blank=True)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    focus_areas = serializers.ListField(child=serializers.ChoiceField(choices=FocusArea.choices), required=False)
    currency = serializers.CharField(max_length=3, required=False)
    amount_requested = Amount(required=False)
    period_start = serializers.DateField(required=False)
    period_end = serializers.DateField(required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class AwardInput(serializers.Serializer):
    amount_awarded = Amount()


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class NoteInput(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class GrantReportInput(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    due_date = serializers.DateField()


class GrantRequirementInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RequirementKind.choices)
    description = serializers.CharField()


class GrantRequirementUpdateInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=RequirementStatus.choices)
    evidence = serializers.CharField(required=False, allow_blank=True)


class InvestmentInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    funder = serializers.UUIDField(required=False, help_text="The funder who invests (required).")
    investor = serializers.UUIDField(required=False, help_text="Deprecated: use `funder`.")
    title = serializers.CharField(max_length=300)
    instrument = serializers.ChoiceField(choices=Instrument.choices)
    currency = serializers.CharField(max_length=3)
    committed_amount = Amount()
    closing_date = serializers.DateField(required=False, allow_null=True, default=None)
    description = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, data):
        funder, investor = data.pop("funder", None), data.pop("investor", None)
        if funder and investor and funder != investor:
            raise serializers.ValidationError({"funder": ["Give `funder` only (`investor` is its deprecated name)."]})
        if not (funder or investor):
            raise serializers.ValidationError({"funder": ["This field is required."]})
        return {**data, "funder": funder or investor}


class InvestmentUpdateInput(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False)
    instrument = serializers.ChoiceField(choices=Instrument.choices, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    committed_amount = Amount(required=False)
    closing_date = serializers.DateField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True)


class EthicalCriterionInput(serializers.Serializer):
    criterion = serializers.CharField(max_length=200)


class AssessmentInput(serializers.Serializer):
    assessment = serializers.ChoiceField(choices=Assessment.choices)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class MilestoneInput(serializers.Serializer):
    grant = serializers.UUIDField(required=False, allow_null=True, default=None)
    investment = serializers.UUIDField(required=False, allow_null=True, default=None)
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    amount = Amount()
    currency = serializers.CharField(max_length=3, required=False)
    due_date = serializers.DateField()

    def validate(self, data):
        if bool(data.get("grant")) == bool(data.get("investment")):
            raise serializers.ValidationError({"grant": ["Give either a grant or an investment."]})
        return data


class MilestoneUpdateInput(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    amount = Amount(required=False)
    due_date = serializers.DateField(required=False)


class CriterionInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CriterionKind.choices)
    description = serializers.CharField(max_length=500)
    config = JSONObjectField(required=False, default=dict)


class EvidenceInput(serializers.Serializer):
    file = serializers.FileField()
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ResolveDisputeInput(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[("resubmit", "Back to review"), ("missed", "Missed")])
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class DisbursementInput(serializers.Serializer):
    milestone = serializers.UUIDField()
    amount = Amount()
    currency = serializers.CharField(max_length=3, required=False)
    paid_on = serializers.DateField()
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=DisbursementKind.choices, required=False, default=DisbursementKind.FIAT)
    budget_line = serializers.UUIDField(
        required=False, allow_null=True, help_text="The budget line of the grant or investment it is paid for."
    )


class KpiReadingInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    metric = serializers.ChoiceField(choices=KpiMetric.choices)
    value = serializers.DecimalField(max_digits=24, decimal_places=6)
    unit = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    source = serializers.CharField(max_length=100)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class DisbursementVoidInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the disbursement is voided (shown with both rows).")


class OrganizationPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = OrganizationPolicy
        fields = [
            "organization",
            "verifier_may_be_submitter",
            "releaser_may_be_verifier",
            "dual_approval_above",
            "dual_approval_above_by_currency",
            "dual_approval_roles",
            "disbursement_grace_days",
            "updated_at",
        ]
        read_only_fields = fields


class OrganizationPolicyInput(serializers.Serializer):
    verifier_may_be_submitter = serializers.BooleanField(required=False)
    releaser_may_be_verifier = serializers.BooleanField(required=False)
    dual_approval_above = serializers.DecimalField(max_digits=20, decimal_places=2, min_value=0, required=False)
    dual_approval_above_by_currency = JSONObjectField(
        child=serializers.DecimalField(max_digits=20, decimal_places=2, min_value=0), required=False
    )
    dual_approval_roles = serializers.ListField(child=serializers.CharField(), required=False)
    disbursement_grace_days = serializers.IntegerField(min_value=0, max_value=366, required=False)
