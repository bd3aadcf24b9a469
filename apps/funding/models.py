"""Funders, grants, investments, the milestones that release their money, disbursements and KPI readings."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.models import BaseModel
from apps.core.money import AmountField, CurrencyField
from apps.core.uploads import evidence_path


class FunderKind(models.TextChoices):
    GOVERNMENT_AGENCY = "government_agency", "Government agency"
    FOUNDATION = "foundation", "Foundation"
    PRIVATE_INVESTOR = "private_investor", "Private investor"
    CORPORATE = "corporate", "Corporate"


class Funder(BaseModel):
    """A funder as tracked by one organization (two organizations tracking one agency have two rows)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="funders")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=FunderKind.choices)
    website = models.URLField(blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="funder_unique_name_per_org"),
            models.CheckConstraint(condition=Q(kind__in=FunderKind.values), name="funder_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class FunderContact(BaseModel):
    funder = models.ForeignKey(Funder, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.name


class FocusArea(models.TextChoices):
    PRIVACY_COMPLIANT_AI = "privacy_compliant_ai", "Privacy-compliant AI"
    ETHICAL_TECHNOLOGY = "ethical_technology", "Ethical technology"
    COMMUNITY_DEVELOPMENT = "community_development", "Community development"
    AI_INFRASTRUCTURE = "ai_infrastructure", "AI infrastructure"
    EDGE_COMPUTING = "edge_computing", "Edge computing"
    RESEARCH = "research", "Research"


class GrantStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    UNDER_REVIEW = "under_review", "Under review"
    AWARDED = "awarded", "Awarded"
    REJECTED = "rejected", "Rejected"
    ACTIVE = "active", "Active"
    CLOSING = "closing", "Closing"
    CLOSED = "closed", "Closed"


class Grant(BaseModel):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="grants")
    funder = models.ForeignKey(Funder, on_delete=models.PROTECT, related_name="grants")
    title = models.CharField(max_length=300)
    program = models.CharField(max_length=300, blank=True)
    reference = models.CharField(max_length=100, blank=True, help_text="The funder's reference number.")
    focus_areas = models.JSONField(default=list, blank=True)
    currency = CurrencyField()
    amount_requested = AmountField()
    amount_awarded = AmountField(null=True, blank=True)
    # Kept by the disbursement service in the same transaction; the CHECK below makes the database refuse
    # a disbursement beyond the award, whatever code path writes it.
    amount_disbursed = AmountField(default=0)
    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=20, choices=GrantStatus.choices, default=GrantStatus.DRAFT, db_index=True)
    status_reason = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who receives the reminders.",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=GrantStatus.values), name="grant_status_valid"),
            models.CheckConstraint(condition=Q(amount_requested__gte=0), name="grant_requested_not_negative"),
            models.CheckConstraint(
                condition=Q(amount_awarded__isnull=True) | Q(amount_awarded__gte=0), name="grant_awarded_not_negative"
            ),
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="grant_period_ordered"),
            models.CheckConstraint(
                # Spelled so a NULL award fails the check for any disbursement (SQL passes a CHECK that is NULL).
                condition=Q(amount_disbursed__gte=0)
                & (
                    Q(amount_disbursed=0)
                    | (Q(amount_awarded__isnull=False) & Q(amount_disbursed__lte=F("amount_awarded")))
                ),
                name="grant_disbursed_within_award",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def budget(self):
        return self.amount_awarded if self.amount_awarded is not None else self.amount_requested


class GrantReportStatus(models.TextChoices):
    DUE = "due", "Due"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"


class GrantReport(BaseModel):
    """A report the grant obliges the organization to deliver by a date."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="reports")
    title = models.CharField(max_length=300)
    due_date = models.DateField(db_index=True)
    status = models.CharField(max_length=20, choices=GrantReportStatus.choices, default=GrantReportStatus.DUE)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_reminded_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["due_date"]

    def __str__(self) -> str:
        return self.title


class RequirementKind(models.TextChoices):
    TECHNICAL_INNOVATION = "technical_innovation", "Technical innovation"
    SOCIAL_IMPACT = "social_impact", "Social impact"
    COMPLIANCE_STANDARDS = "compliance_standards", "Compliance standards"
    OTHER = "other", "Other"


class RequirementStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    MET = "met", "Met"
    NOT_MET = "not_met", "Not met"
    WAIVED = "waived", "Waived"


class GrantRequirement(BaseModel):
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="requirements")
    kind = models.CharField(max_length=30, choices=RequirementKind.choices)
    description = models.TextField()
    status = models.CharField(max_length=20, choices=RequirementStatus.choices, default=RequirementStatus.PENDING)
    evidence = models.TextField(blank=True, help_text="Where the evidence is: a document, a link, an audit.")

    class Meta:
        ordering = ["created_at"]


class Instrument(models.TextChoices):
    EQUITY = "equity", "Equity"
    SAFE = "safe", "SAFE"
    CONVERTIBLE_NOTE = "convertible_note", "Convertible note"
    REVENUE_BASED = "revenue_based", "Revenue-based financing"
    GRANT_LIKE = "grant_like", "Grant-like"


class InvestmentStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    COMMITTED = "committed", "Committed"
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Investment(BaseModel):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="investments")
    investor = models.ForeignKey(Funder, on_delete=models.PROTECT, related_name="investments")
    title = models.CharField(max_length=300)
    instrument = models.CharField(max_length=30, choices=Instrument.choices)
    currency = CurrencyField()
    committed_amount = AmountField()
    amount_disbursed = AmountField(default=0)
    status = models.CharField(
        max_length=20, choices=InvestmentStatus.choices, default=InvestmentStatus.PROPOSED, db_index=True
    )
    status_reason = models.TextField(blank=True)
    closing_date = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=InvestmentStatus.values), name="investment_status_valid"),
            models.CheckConstraint(condition=Q(instrument__in=Instrument.values), name="investment_instrument_valid"),
            models.CheckConstraint(condition=Q(committed_amount__gt=0), name="investment_committed_positive"),
            models.CheckConstraint(
                condition=Q(amount_disbursed__gte=0) & Q(amount_disbursed__lte=F("committed_amount")),
                name="investment_disbursed_within_commitment",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def budget(self):
        return self.committed_amount


class Assessment(models.TextChoices):
    NOT_ASSESSED = "not_assessed", "Not assessed"
    STRONG = "strong", "Strong"
    ADEQUATE = "adequate", "Adequate"
    WEAK = "weak", "Weak"


class EthicalCriterion(BaseModel):
    """One criterion the investor was chosen for (ethical alignment, long-term vision, technical expertise...)."""

    investment = models.ForeignKey(Investment, on_delete=models.CASCADE, related_name="ethical_criteria")
    criterion = models.CharField(max_length=200)
    assessment = models.CharField(max_length=20, choices=Assessment.choices, default=Assessment.NOT_ASSESSED)
    notes = models.TextField(blank=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assessed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]


class MilestoneStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    VERIFIED = "verified", "Verified"
    RELEASED = "released", "Released"
    MISSED = "missed", "Missed"
    REFUNDED = "refunded", "Refunded"
    DISPUTED = "disputed", "Disputed"
    # The escrow contract was attested with a hash that is not govtrack's report: held for a person, never released.
    CONFLICT = "conflict", "Conflict on chain"


OPEN_MILESTONE_STATUSES = (MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED)


class Milestone(BaseModel):
    """A tranche of a grant or an investment, released when its criteria are met."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="milestones")
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.CASCADE, related_name="milestones")
    investment = models.ForeignKey(
        Investment, null=True, blank=True, on_delete=models.CASCADE, related_name="milestones"
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    amount = AmountField()
    currency = CurrencyField()
    amount_disbursed = AmountField(default=0)
    due_date = models.DateField(db_index=True)
    status = models.CharField(
        max_length=20, choices=MilestoneStatus.choices, default=MilestoneStatus.PLANNED, db_index=True
    )
    status_reason = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty when govtrack verified it from data (telemetry, KPI readings).",
    )
    release_authorized_at = models.DateTimeField(
        null=True, blank=True, help_text="When the release approvals sufficed (escrowed: the attestation was queued)."
    )
    released_at = models.DateTimeField(null=True, blank=True)
    paid_outside_escrow = models.BooleanField(
        default=False, help_text="The organization decided to pay this escrowed milestone outside the contract."
    )
    last_reminded_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "created_at"]
        indexes = [models.Index(fields=["organization", "status", "due_date"], name="milestone_org_status_due")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(grant__isnull=False) & Q(investment__isnull=True))
                | (Q(grant__isnull=True) & Q(investment__isnull=False)),
                name="milestone_one_parent",
            ),
            models.CheckConstraint(condition=Q(status__in=MilestoneStatus.values), name="milestone_status_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="milestone_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_disbursed__gte=0) & Q(amount_disbursed__lte=F("amount")),
                name="milestone_disbursed_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def parent(self):
        return self.grant if self.grant_id else self.investment


class CriterionKind(models.TextChoices):
    COMPUTE = "compute", "Compute telemetry"
    KPI = "kpi", "KPI readings"
    MANUAL = "manual", "Manual approval"


class CriterionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    MET = "met", "Met"
    NOT_MET = "not_met", "Not met"


class MilestoneCriterion(BaseModel):
    """One condition of a milestone. `config` holds the kind's parameters (validated by the service):

    - kpi: metric, aggregation (sum|avg|min|max|latest), comparison (gte|gt|lte|lt|eq), threshold, period_start,
      period_end
    - compute: metric, aggregation, comparison, threshold, window_days, device_selector (labels), min_devices,
      min_coverage (evaluated by the compute app)
    - manual: approver_roles (a list of roles; one approval from each)
    """

    milestone = models.ForeignKey(Milestone, on_delete=models.CASCADE, related_name="criteria")
    kind = models.CharField(max_length=20, choices=CriterionKind.choices)
    description = models.CharField(max_length=500)
    config = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=CriterionStatus.choices, default=CriterionStatus.PENDING)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.CheckConstraint(condition=Q(kind__in=CriterionKind.values), name="criterion_kind_valid")]

    def __str__(self) -> str:
        return self.description


class ApprovalPurpose(models.TextChoices):
    CRITERION = "criterion", "Manual criterion"
    RELEASE = "release", "Release of funds"
    OUTSIDE_ESCROW = "outside_escrow", "Payment outside escrow"


class MilestoneApproval(BaseModel):
    milestone = models.ForeignKey(Milestone, on_delete=models.CASCADE, related_name="approvals")
    criterion = models.ForeignKey(
        MilestoneCriterion, null=True, blank=True, on_delete=models.CASCADE, related_name="approvals"
    )
    purpose = models.CharField(max_length=20, choices=ApprovalPurpose.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["milestone", "purpose", "user"],
                condition=Q(criterion__isnull=True),
                name="approval_release_once_per_user",
            ),
            models.UniqueConstraint(
                fields=["criterion", "user"],
                condition=Q(criterion__isnull=False),
                name="approval_criterion_once_per_user",
            ),
        ]


def evidence_upload_to(instance, filename: str) -> str:
    # Stored under a name of our own: the uploader's file name is kept in original_name only.
    return evidence_path(
        organization_id=instance.milestone.organization_id,
        kind="milestones",
        parent_id=instance.milestone_id,
        file_id=instance.id,
    )


class Evidence(BaseModel):
    milestone = models.ForeignKey(Milestone, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(upload_to=evidence_upload_to, max_length=300)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return self.original_name


class DisbursementKind(models.TextChoices):
    FIAT = "fiat", "Fiat payment"
    ONCHAIN = "onchain", "On-chain release"


class Disbursement(BaseModel):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="disbursements")
    milestone = models.ForeignKey(Milestone, on_delete=models.PROTECT, related_name="disbursements")
    amount = AmountField()
    currency = CurrencyField()
    kind = models.CharField(max_length=20, choices=DisbursementKind.choices, default=DisbursementKind.FIAT)
    paid_on = models.DateField()
    reference = models.CharField(max_length=200, blank=True, help_text="Bank reference or transaction hash.")
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # A correction is a new entry: the void of a disbursement is a row of the opposite amount pointing at it.
    voids = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="voided_by")
    reason = models.TextField(blank=True, help_text="Why a void was recorded.")

    class Meta:
        ordering = ["-paid_on", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(voids__isnull=True) & Q(amount__gt=0)) | (Q(voids__isnull=False) & Q(amount__lt=0)),
                name="disbursement_amount_sign",
            ),
            models.CheckConstraint(condition=Q(kind__in=DisbursementKind.values), name="disbursement_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} for {self.milestone_id}"


class KpiMetric(models.TextChoices):
    REVENUE = "revenue", "Revenue"
    CUSTOMERS = "customers", "Customers"
    UPTIME_PCT = "uptime_pct", "Uptime (%)"
    LATENCY_MS = "latency_ms", "Latency (ms)"
    COST_PER_OPERATION = "cost_per_operation", "Cost per operation"
    GPU_HOURS = "gpu_hours", "GPU hours"
    ACTIVE_DEVICES = "active_devices", "Active devices"


class KpiReading(BaseModel):
    """A value a finance tool (or a person) reports for a period."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="kpi_readings")
    metric = models.CharField(max_length=40, choices=KpiMetric.choices, db_index=True)
    value = models.DecimalField(max_digits=24, decimal_places=6)
    unit = models.CharField(max_length=20, blank=True, help_text="e.g. USD for revenue, ms, %.")
    period_start = models.DateField()
    period_end = models.DateField()
    source = models.CharField(max_length=100, help_text="The system the value comes from.")
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-period_end", "metric"]
        indexes = [models.Index(fields=["organization", "metric", "period_end"], name="kpi_org_metric_period")]
        constraints = [
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="kpi_period_ordered"),
            models.UniqueConstraint(
                fields=["organization", "metric", "period_start", "period_end", "source"], name="kpi_unique_reading"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric}={self.value} ({self.period_start}..{self.period_end})"


class OrganizationPolicy(BaseModel):
    """An organization's controls on money: separation of duties, dual approval, the dates a payment may carry.

    Missing row = the defaults below (the safe ones). Owners change it through `policy_update`, audited.
    """

    organization = models.OneToOneField("tenancy.Organization", on_delete=models.CASCADE, related_name="policy")
    verifier_may_be_submitter = models.BooleanField(
        default=False, help_text="Whether whoever submitted a milestone or its evidence may also verify it."
    )
    releaser_may_be_verifier = models.BooleanField(
        default=False, help_text="Whether whoever verified a milestone may also approve its release."
    )
    dual_approval_above = models.DecimalField(
        max_digits=20,
        decimal_places=2,
        default=Decimal("50000"),
        help_text="Releases above this amount need an approval from each of dual_approval_roles.",
    )
    dual_approval_above_by_currency = models.JSONField(
        default=dict, blank=True, help_text='Per-currency thresholds, e.g. {"EUR": "45000"}; others use the default.'
    )
    dual_approval_roles = models.JSONField(default=list, blank=True, help_text="Default: finance and owner.")
    disbursement_grace_days = models.PositiveIntegerField(
        default=90, help_text="How long after the grant period ends a payment may still be dated."
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name_plural = "organization policies"

    def __str__(self) -> str:
        return f"Policy of {self.organization_id}"

    def threshold_for(self, currency: str) -> Decimal:
        value = (self.dual_approval_above_by_currency or {}).get(currency)
        return Decimal(str(value)) if value is not None else self.dual_approval_above

    def release_roles(self) -> list[str]:
        return list(self.dual_approval_roles or ["finance", "owner"])
