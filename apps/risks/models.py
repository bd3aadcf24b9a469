"""Risk matrices (as data), registers, risks, mitigations, reviews, score history and key risk indicators."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel

# The seed strategy's four categories; a register may add its own.
DEFAULT_CATEGORIES = ["infrastructure", "scaling", "market", "operational"]


class RiskMatrix(BaseModel):
    """Likelihood and impact scales with their labels, and the score thresholds of each level.

    A risk's score is likelihood x impact; its level is the last level whose `min_score` it reaches.
    Kept as JSON so a 3x3 or 4x5 matrix, or new labels, need no migration; `risk_matrix_*` services validate it.
    """

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="risk_matrices")
    name = models.CharField(max_length=100)
    likelihood_labels = models.JSONField(help_text="Lowest first, e.g. ['Rare', ..., 'Almost certain'].")
    impact_labels = models.JSONField(help_text="Lowest first, e.g. ['Minimal', ..., 'Severe'].")
    levels = models.JSONField(help_text='Ascending: [{"key": "low", "label": "Low", "min_score": 1}, ...].')

    class Meta:
        verbose_name_plural = "risk matrices"
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="riskmatrix_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.likelihood_size}x{self.impact_size})"

    @property
    def likelihood_size(self) -> int:
        return len(self.likelihood_labels)

    @property
    def impact_size(self) -> int:
        return len(self.impact_labels)

    def level_of(self, likelihood: int | None, impact: int | None) -> str | None:
        if not likelihood or not impact:
            return None
        score = likelihood * impact
        key = None
        for level in self.levels:
            if score >= level["min_score"]:
                key = level["key"]
        return key


class RiskRegister(BaseModel):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="risk_registers")
    name = models.CharField(max_length=200)
    program = models.CharField(max_length=200, blank=True, help_text="The program or grant it covers, if any.")
    description = models.TextField(blank=True)
    matrix = models.ForeignKey(RiskMatrix, on_delete=models.PROTECT, related_name="registers")
    categories = models.JSONField(default=list)
    review_cadence_days = models.PositiveIntegerField(default=90)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="riskregister_unique_name"),
            models.CheckConstraint(condition=Q(review_cadence_days__gte=1), name="riskregister_cadence_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Treatment(models.TextChoices):
    MITIGATE = "mitigate", "Mitigate"
    ACCEPT = "accept", "Accept"
    AVOID = "avoid", "Avoid"
    TRANSFER = "transfer", "Transfer"


class RiskStatus(models.TextChoices):
    OPEN = "open", "Open"
    TREATING = "treating", "Treating"
    ACCEPTED = "accepted", "Accepted"
    CLOSED = "closed", "Closed"


# Risks still being worked on: they can be accepted, and a new or imported risk starts in one of them.
OPEN_RISK_STATUSES = (RiskStatus.OPEN, RiskStatus.TREATING)


def _scale_checks(prefix: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(condition=Q(**{f"{prefix}_likelihood__gte": 1}), name=f"risk_{prefix}_l_min"),
        models.CheckConstraint(condition=Q(**{f"{prefix}_impact__gte": 1}), name=f"risk_{prefix}_i_min"),
    ]


class Risk(BaseModel):
    # Denormalized from the register so that scoping is one filter, like every other domain row.
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="risks")
    register = models.ForeignKey(RiskRegister, on_delete=models.CASCADE, related_name="risks")
    ref = models.CharField(max_length=30)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=60)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_risks")
    # Inherent: before any control. Current: now. Residual: the target once the mitigations are done.
    inherent_likelihood = models.PositiveSmallIntegerField()
    inherent_impact = models.PositiveSmallIntegerField()
    current_likelihood = models.PositiveSmallIntegerField()
    current_impact = models.PositiveSmallIntegerField()
    residual_likelihood = models.PositiveSmallIntegerField()
    residual_impact = models.PositiveSmallIntegerField()
    treatment = models.CharField(max_length=10, choices=Treatment.choices, default=Treatment.MITIGATE)
    status = models.CharField(max_length=10, choices=RiskStatus.choices, default=RiskStatus.OPEN)
    due_date = models.DateField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    acceptance_reason = models.TextField(blank=True)
    acceptance_expires_on = models.DateField(null=True, blank=True)
    review_cadence_days = models.PositiveIntegerField(default=90)
    next_review_on = models.DateField()
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    # Set while any of its key risk indicators is breached.
    flagged_at = models.DateTimeField(null=True, blank=True)
    last_reminded_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["register", "ref"], name="risk_unique_ref_per_register"),
            models.CheckConstraint(condition=Q(status__in=RiskStatus.values), name="risk_status_valid"),
            models.CheckConstraint(condition=Q(treatment__in=Treatment.values), name="risk_treatment_valid"),
            models.CheckConstraint(
                condition=~Q(status=RiskStatus.ACCEPTED)
                | Q(acceptance_expires_on__isnull=False, accepted_by__isnull=False),
                name="risk_acceptance_has_approver_and_expiry",
            ),
            models.CheckConstraint(condition=Q(review_cadence_days__gte=1), name="risk_cadence_positive"),
            *_scale_checks("inherent"),
            *_scale_checks("current"),
            *_scale_checks("residual"),
        ]
        indexes = [models.Index(fields=["register", "status"], name="risk_register_status")]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"


SCORE_FIELDS = (
    "inherent_likelihood",
    "inherent_impact",
    "current_likelihood",
    "current_impact",
    "residual_likelihood",
    "residual_impact",
)


class MitigationStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class Mitigation(BaseModel):
    risk = models.ForeignKey(Risk, on_delete=models.CASCADE, related_name="mitigations")
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=MitigationStatus.choices, default=MitigationStatus.PLANNED)
    due_date = models.DateField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=MitigationStatus.values), name="mitigation_status_valid"),
        ]

    def __str__(self) -> str:
        return self.title


class RiskReview(BaseModel):
    risk = models.ForeignKey(Risk, on_delete=models.CASCADE, related_name="reviews")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    notes = models.TextField(blank=True)
    next_review_on = models.DateField()

    def __str__(self) -> str:
        return f"Review of {self.risk_id} on {self.created_at:%Y-%m-%d}"


class RiskScoreSnapshot(models.Model):
    """The risk's scores after each change: the series the dashboard charts."""

    id = models.BigAutoField(primary_key=True)
    risk = models.ForeignKey(Risk, on_delete=models.CASCADE, related_name="snapshots")
    recorded_at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=40)
    inherent_likelihood = models.PositiveSmallIntegerField()
    inherent_impact = models.PositiveSmallIntegerField()
    current_likelihood = models.PositiveSmallIntegerField()
    current_impact = models.PositiveSmallIntegerField()
    residual_likelihood = models.PositiveSmallIntegerField()
    residual_impact = models.PositiveSmallIntegerField()
    current_level = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["risk", "recorded_at", "id"]

    def __str__(self) -> str:
        return f"{self.risk_id} @ {self.recorded_at:%Y-%m-%d %H:%M}"


# --- key risk indicators ----------------------------------------------------------------------------------------


class IndicatorSource(models.TextChoices):
    KPI = "kpi", "KPI reading"
    COMPUTE = "compute", "Compute metric"
    ECONOMICS = "economics", "Compute economics"


class Aggregation(models.TextChoices):
    LAST = "last", "Last value"
    AVG = "avg", "Average"
    MIN = "min", "Minimum"
    MAX = "max", "Maximum"
    SUM = "sum", "Sum"


class Comparison(models.TextChoices):
    GT = "gt", ">"
    GTE = "gte", ">="
    LT = "lt", "<"
    LTE = "lte", "<="


class KriState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    OK = "ok", "Within threshold"
    BREACHED = "breached", "Breached"


class KeyRiskIndicator(BaseModel):
    """Breached when `aggregation(metric over window) <comparison> threshold`, e.g. min GPU util over 1 h > 90."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    risk = models.ForeignKey(Risk, on_delete=models.CASCADE, related_name="indicators")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=IndicatorSource.choices)
    metric = models.CharField(max_length=100, help_text="The KPI slug or compute metric name.")
    aggregation = models.CharField(max_length=5, choices=Aggregation.choices, default=Aggregation.AVG)
    window = models.DurationField()
    comparison = models.CharField(max_length=3, choices=Comparison.choices, default=Comparison.GT)
    threshold = models.DecimalField(max_digits=20, decimal_places=6)
    state = models.CharField(max_length=10, choices=KriState.choices, default=KriState.UNKNOWN)
    last_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    breached_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(source__in=IndicatorSource.values), name="kri_source_valid"),
            models.CheckConstraint(condition=Q(state__in=KriState.values), name="kri_state_valid"),
            models.CheckConstraint(
                condition=~Q(state=KriState.BREACHED) | Q(breached_since__isnull=False), name="kri_breach_has_time"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class KriEventKind(models.TextChoices):
    BREACHED = "breached", "Breached"
    CLEARED = "cleared", "Cleared"


class KriEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    indicator = models.ForeignKey(KeyRiskIndicator, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=KriEventKind.choices)
    value = models.DecimalField(max_digits=20, decimal_places=6)
    threshold = models.DecimalField(max_digits=20, decimal_places=6)
    occurred_at = models.DateTimeField()
    notified = models.BooleanField(default=False)

    class Meta:
        ordering = ["indicator", "occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.value} @ {self.occurred_at:%Y-%m-%d %H:%M}"
