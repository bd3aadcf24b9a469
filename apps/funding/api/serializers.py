"""Output serializers shape rows; input serializers parse types. Rules live in the services."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api import ActionStateSerializer, actions_data, field_help
from apps.core.money import AMOUNT_DECIMALS, AMOUNT_MAX_DIGITS
from apps.core.serializer_fields import JSONObjectField, NormalizedDecimalField
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


MONEY = 'A decimal string with two decimals ("50000.00"), in `currency`.'
MILESTONE_HELP = {
    "grant": "The grant it is a tranche of (null for an investment's milestone).",
    "investment": "The investment it is a tranche of (null for a grant's milestone).",
    "funder_name": "The name of the grant's or investment's funder.",
    "title": 'What is delivered, in a few words ("Pilot live").',
    "amount": f"The tranche released when the milestone is met. {MONEY}",
    "currency": "ISO-4217 code of `amount`: the grant's or investment's currency.",
    "amount_disbursed": f"Paid so far against it (disbursements net of voids). {MONEY}",
    "due_date": "The day it is due (a date, no time).",
    "status": "planned, submitted, verified, released, ...: the state machine's state (`allowed_actions` says what "
    "can happen next).",
    "submitted_at": "When it was submitted for verification (UTC), or null.",
    "verified_at": "When its criteria were found met (UTC), or null.",
    "released_at": "When its amount was released (UTC), or null.",
    "release_authorized_at": "When the release approvals sufficed (escrowed: the attestation was queued), or null.",
    "paid_outside_escrow": "Whether the organization decided to pay this escrowed milestone outside the contract.",
}


class MilestoneBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Milestone
        fields = ["id", "title", "amount", "currency", "amount_disbursed", "due_date", "status"]
        extra_kwargs = field_help(fields, **MILESTONE_HELP)


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
    funder_name = serializers.CharField(source="funder.name", read_only=True, help_text="The funder's name.")
    owner = serializers.CharField(
        source="owner.username",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="The username of who receives its reminders, or null.",
    )
    milestones = MilestoneBriefListField(help_text="Its milestones, each in brief (`GET /api/v1/milestones/{id}/`).")
    summary = serializers.SerializerMethodField(help_text="Its money: budget, committed, released, disbursed.")

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
        extra_kwargs = field_help(
            fields,
            funder="The funder who gives it (`GET /api/v1/funders/`).",
            title='The grant\'s name ("Edge inference pilot").',
            program="The funder's programme it belongs to, if any.",
            reference="The funder's reference number.",
            focus_areas='What it funds, from a fixed list (["edge_computing", "research"]).',
            amount_requested=f"What was asked for. {MONEY}",
            amount_awarded=f"What the funder awarded, once awarded; else null. {MONEY}",
            amount_disbursed=f"Paid so far (every disbursement of its milestones, net of voids). {MONEY}",
            period_start="The first day of the funded period.",
            period_end="The last day of the funded period (inclusive).",
            status="draft, submitted, awarded, active, closed, ...: the state machine's state (`allowed_actions` "
            "says what can happen next).",
        )

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
        extra_kwargs = field_help(
            fields,
            grant="The grant that obliges it.",
            title='The report\'s name ("Interim report").',
            due_date="The day it must be delivered by.",
            status="due, submitted or accepted.",
            submitted_at="When it was submitted (UTC), or null.",
        )


class GrantRequirementSerializer(serializers.ModelSerializer):
    class Meta:
        model = GrantRequirement
        fields = ["id", "grant", "kind", "description", "status", "evidence", "created_at", "updated_at"]
        extra_kwargs = field_help(
            fields,
            grant="The grant that sets it.",
            kind="What it asks for: technical_innovation, social_impact, compliance_standards or other.",
            description="What the grant requires.",
            status="pending, met, not_met or waived.",
            evidence="Where the evidence is: a document, a link, an audit.",
        )


class GrantDetailSerializer(GrantSerializer):
    reports = GrantReportSerializer(many=True, read_only=True, help_text="The reports the grant obliges.")
    requirements = GrantRequirementSerializer(many=True, read_only=True, help_text="Its other obligations.")
    allowed_actions = serializers.SerializerMethodField(
        help_text="Every action of its current state, each allowed for you or with the reason it is not."
    )

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
    funder_name = serializers.SerializerMethodField(help_text=MILESTONE_HELP["funder_name"])
    criteria = CriterionSerializer(
        many=True, read_only=True, help_text="What must hold for it to be verified: compute, KPI or manual criteria."
    )

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
        extra_kwargs = field_help(fields, **MILESTONE_HELP)

    def get_funder_name(self, milestone) -> str:
        return milestone.grant.funder.name if milestone.grant_id else milestone.investment.investor.name


class MilestoneDetailSerializer(MilestoneSerializer):
    evidence = EvidenceSerializer(many=True, read_only=True, help_text="The files submitted as evidence.")
    approvals = ApprovalSerializer(many=True, read_only=True, help_text="Every approval recorded, by whom and why.")
    submitted_by = serializers.CharField(
        source="submitted_by.username",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="The username of who submitted it, or null.",
    )
    verified_by = serializers.CharField(
        source="verified_by.username",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="Empty when govtrack verified it from data.",
    )
    release = serializers.SerializerMethodField(help_text="Where its release stands: approvals recorded and needed.")
    allowed_actions = serializers.SerializerMethodField(
        help_text="Every action of its current state, each allowed for you or with the reason it is not."
    )

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
        extra_kwargs = field_help(fields, **MILESTONE_HELP)

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
        extra_kwargs = field_help(
            fields,
            milestone="The milestone it pays.",
            amount=f"What was paid; negative on a void. {MONEY}",
            currency="ISO-4217 code of `amount`: the milestone's currency.",
            kind="How it was paid: fiat (a bank transfer) or on chain.",
            paid_on="The day the money left (a date).",
            reference="Bank reference or transaction hash.",
            voids="Set on a void: the disbursement it cancels (amount negative).",
            reason="Why a void was recorded (empty on a payment).",
            budget_line="The budget line of the grant or investment it is paid from, or null.",
        )

    voided_by = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The void that cancels it, if voided; else null."
    )


KPI_VALUE_HELP = (
    'The value measured, as a decimal string with at most 6 decimals; answered without trailing zeros ("125000.5").'
)


class KpiReadingSerializer(serializers.ModelSerializer):
    value = NormalizedDecimalField(max_digits=24, decimal_places=6, help_text=KPI_VALUE_HELP)

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
        extra_kwargs = field_help(
            fields,
            metric="What was measured (revenue, customers, uptime_pct, ...); KPI criteria name the same metric.",
            unit="The unit of `value` (EUR, %, ms); free text, for people.",
            period_start="The first day of the period measured.",
            period_end="The last day of the period measured (inclusive).",
            source='The system the value comes from ("ledger-sync").',
        )


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
    value = NormalizedDecimalField(max_digits=24, decimal_places=6, help_text=KPI_VALUE_HELP)
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
