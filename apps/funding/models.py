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
    reallocation_needs_funder_approval = models.BooleanField(
        default=False, help_text="Whether moving money between budget lines waits for the funder's approval."
    )

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
    reallocation_needs_funder_approval = models.BooleanField(
        default=False, help_text="Whether moving money between budget lines waits for the investor's approval."
    )

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
    REPORT_APPROVED = "report_approved", "Period report approved"
    COMPLIANCE = "compliance", "Compliance audit"


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
    - report_approved: period (a reporting period of the milestone's grant, met once its report is approved)
    - compliance: framework (slug), min_score, max_open_severity (no active finding at or above this severity)
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
    budget_line = models.ForeignKey(
        "BudgetLine", null=True, blank=True, on_delete=models.PROTECT, related_name="disbursements"
    )

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
    OPERATIONS = "operations", "Operations served"
    MARKET_PENETRATION_PCT = "market_penetration_pct", "Market penetration (%)"


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


# --- money against plan: budget lines, expenses, re-allocations, reporting periods ----------------------------


class BudgetCategory(models.TextChoices):
    COMPUTE = "compute", "Compute"
    PERSONNEL = "personnel", "Personnel"
    EQUIPMENT = "equipment", "Equipment"
    CLOUD = "cloud", "Cloud"
    TRAVEL = "travel", "Travel"
    INDIRECT = "indirect", "Indirect costs"


class BudgetLine(BaseModel):
    """One approved category of a grant's or an investment's budget, in its currency.

    `amount` is the budget as amended: it starts at `amount_original` and moves only by applied amendments,
    which the amendment service keeps in the same transaction (never edited by hand).
    """

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="budget_lines")
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.PROTECT, related_name="budget_lines")
    investment = models.ForeignKey(
        Investment, null=True, blank=True, on_delete=models.PROTECT, related_name="budget_lines"
    )
    category = models.CharField(max_length=20, choices=BudgetCategory.choices)
    name = models.CharField(max_length=200)
    currency = CurrencyField()
    amount_original = AmountField()
    amount = AmountField()

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(grant__isnull=False) & Q(investment__isnull=True))
                | (Q(grant__isnull=True) & Q(investment__isnull=False)),
                name="budget_line_one_parent",
            ),
            models.CheckConstraint(condition=Q(category__in=BudgetCategory.values), name="budget_line_category_valid"),
            models.CheckConstraint(condition=Q(amount__gte=0) & Q(amount_original__gte=0), name="budget_line_amount"),
            models.UniqueConstraint(fields=["grant", "name"], name="budget_line_unique_name_per_grant"),
            models.UniqueConstraint(fields=["investment", "name"], name="budget_line_unique_name_per_investment"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def parent(self):
        return self.grant if self.grant_id else self.investment


class Expense(BaseModel):
    """Money spent from a budget line (an invoice, a payroll run, a cloud bill). Append-only: a correction is a
    void, a new entry of the opposite amount pointing at the one it cancels."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="expenses")
    budget_line = models.ForeignKey(BudgetLine, on_delete=models.PROTECT, related_name="expenses")
    amount = AmountField()
    currency = CurrencyField()
    spent_on = models.DateField()
    description = models.CharField(max_length=300)
    reference = models.CharField(max_length=200, blank=True, help_text="Invoice number, payroll run, bill id.")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    voids = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="voided_by")
    reason = models.TextField(blank=True, help_text="Why a void was recorded.")

    class Meta:
        ordering = ["-spent_on", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(voids__isnull=True) & Q(amount__gt=0)) | (Q(voids__isnull=False) & Q(amount__lt=0)),
                name="expense_amount_sign",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}: {self.description}"


class AmendmentStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"


class BudgetAmendment(BaseModel):
    """A re-allocation of `amount` from one budget line to another of the same grant or investment.

    Applied at once by finance, or proposed and applied on the funder's approval where the grant or investment
    says re-allocations need it (`reallocation_needs_funder_approval`)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="budget_amendments")
    from_line = models.ForeignKey(BudgetLine, on_delete=models.PROTECT, related_name="amendments_out")
    to_line = models.ForeignKey(BudgetLine, on_delete=models.PROTECT, related_name="amendments_in")
    amount = AmountField()
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=AmendmentStatus.choices, default=AmendmentStatus.PROPOSED)
    status_reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="budget_amendment_amount_positive"),
            models.CheckConstraint(condition=~Q(from_line=F("to_line")), name="budget_amendment_two_lines"),
            models.CheckConstraint(condition=Q(status__in=AmendmentStatus.values), name="budget_amendment_status"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} from {self.from_line_id} to {self.to_line_id}"


class ReportingFrequency(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    YEARLY = "yearly", "Yearly"
    CUSTOM = "custom", "Custom"


class PeriodStatus(models.TextChoices):
    DUE = "due", "Due"
    SUBMITTED = "submitted", "Submitted"
    RETURNED = "returned", "Returned with comments"
    APPROVED = "approved", "Approved"


class ReportingPeriod(BaseModel):
    """One period of a grant's reporting schedule and its interim report.

    The grantee side (owner, finance) writes the narrative and submits; the financial part (budget vs committed
    vs actual from the ledger) and the KPI snapshot are built at submission, so what the funder approves is what
    the ledger said then. The funder (a viewer of the organization) approves it or returns it with comments.
    """

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="reporting_periods")
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="reporting_periods")
    frequency = models.CharField(max_length=20, choices=ReportingFrequency.choices)
    start = models.DateField()
    end = models.DateField()
    due_date = models.DateField(db_index=True)
    status = models.CharField(max_length=20, choices=PeriodStatus.choices, default=PeriodStatus.DUE, db_index=True)
    status_reason = models.TextField(blank=True, help_text="The funder's comments when returned.")
    narrative = models.TextField(blank=True)
    financial = models.JSONField(default=dict, blank=True)
    kpi_snapshot = models.JSONField(default=list, blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["grant", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="reporting_period_ordered"),
            models.CheckConstraint(condition=Q(status__in=PeriodStatus.values), name="reporting_period_status"),
            models.UniqueConstraint(fields=["grant", "start"], name="reporting_period_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


def period_attachment_upload_to(instance, filename: str) -> str:
    return evidence_path(
        organization_id=instance.period.organization_id,
        kind="periods",
        parent_id=instance.period_id,
        file_id=instance.id,
    )


class PeriodAttachment(BaseModel):
    period = models.ForeignKey(ReportingPeriod, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to=period_attachment_upload_to, max_length=300)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["created_at"]


class ReminderKind(models.TextChoices):
    UPCOMING = "upcoming", "Coming due"
    OVERDUE = "overdue", "Overdue"


class PeriodReminder(BaseModel):
    """A reminder about a period's report: written by the beat task (once before the due date, weekly after), and
    sent from this row after commit. The row is the record and what keeps a second run from sending twice."""

    period = models.ForeignKey(ReportingPeriod, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    sent_on = models.DateField()
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_on"]
        constraints = [
            models.UniqueConstraint(fields=["period", "kind", "sent_on"], name="period_reminder_once_a_day"),
        ]


class ConditionReport(BaseModel):
    """One evaluation of a `report_approved` or `compliance` criterion: the canonical JSON of what was read and
    decided, and its SHA-256 (the same data gives the same hash; the escrow attestation can carry it)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    criterion = models.ForeignKey("MilestoneCriterion", on_delete=models.CASCADE, related_name="condition_reports")
    kind = models.CharField(max_length=20)
    passed = models.BooleanField()
    canonical_json = models.TextField()
    sha256 = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["-created_at"]
