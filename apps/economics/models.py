"""Compute economics (rate cards, cost attribution), the scaling roadmap and the success metrics.

Rate cards are prices: a price change is a new card from a later `valid_from`, never an edit of the old one, so a
month's cost computed again gives the same figures.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.models import BaseModel
from apps.core.money import AmountField, CurrencyField


class RateCardKind(models.TextChoices):
    CLOUD = "cloud", "Cloud (price per GPU-hour)"
    ON_PREM = "on_prem", "On-prem (amortised purchase + power)"


def UnitPriceField(**kwargs) -> models.DecimalField:
    # Unit prices carry six decimals (micro-units): a GPU-hour or a kWh costs fractions of a cent.
    return models.DecimalField(max_digits=18, decimal_places=6, **kwargs)


class RateCard(BaseModel):
    """What one GPU-hour of a source's devices, or of a device class (devices carrying `device_selector`'s
    labels), costs. Cloud: a price per GPU-hour by provider and region. On-prem: the purchase price per device
    amortised evenly over `lifetime_days`, plus the energy drawn (gpu.power.watts) at `power_price_per_kwh`."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="rate_cards")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=RateCardKind.choices)
    source = models.ForeignKey(
        "compute.ComputeSource", null=True, blank=True, on_delete=models.PROTECT, related_name="rate_cards"
    )
    device_selector = models.JSONField(default=dict, blank=True, help_text="Labels a device must carry.")
    currency = CurrencyField()
    provider = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    price_per_gpu_hour = UnitPriceField(null=True, blank=True)
    purchase_price = AmountField(null=True, blank=True, help_text="Per device.")
    lifetime_days = models.PositiveIntegerField(null=True, blank=True)
    power_price_per_kwh = UnitPriceField(null=True, blank=True)
    valid_from = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name", "-valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=RateCardKind.values), name="rate_card_kind_valid"),
            models.CheckConstraint(
                condition=(Q(kind=RateCardKind.CLOUD) & Q(price_per_gpu_hour__gte=0))
                | (
                    Q(kind=RateCardKind.ON_PREM)
                    & Q(purchase_price__gte=0)
                    & Q(lifetime_days__gt=0)
                    & Q(power_price_per_kwh__gte=0)
                ),
                name="rate_card_prices_for_kind",
            ),
            models.UniqueConstraint(fields=["organization", "name", "valid_from"], name="rate_card_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (from {self.valid_from})"


class CostAttribution(BaseModel):
    """Devices carrying `device_selector`'s labels bill their cost to a budget line (and so to its grant or
    investment). A device matched by several rules goes to the most specific one (most labels)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    device_selector = models.JSONField(default=dict)
    budget_line = models.ForeignKey("funding.BudgetLine", on_delete=models.PROTECT, related_name="cost_attributions")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="cost_attribution_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


# --- the scaling roadmap ----------------------------------------------------------------------------------------


class RoadmapPhase(BaseModel):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="roadmap_phases")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    start = models.DateField()
    end = models.DateField()
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="roadmap_phase_ordered"),
            models.UniqueConstraint(fields=["organization", "name"], name="roadmap_phase_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class InitiativeStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    BLOCKED = "blocked", "Blocked"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"


class Initiative(BaseModel):
    """A piece of work of a roadmap phase, tied to what it moves: milestones, risks, KPIs and compute sources."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="initiatives")
    phase = models.ForeignKey(RoadmapPhase, on_delete=models.PROTECT, related_name="initiatives")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField()
    status = models.CharField(max_length=20, choices=InitiativeStatus.choices, default=InitiativeStatus.PLANNED)
    status_reason = models.TextField(blank=True)
    milestones = models.ManyToManyField("funding.Milestone", blank=True, related_name="initiatives")
    risks = models.ManyToManyField("risks.Risk", blank=True, related_name="initiatives")
    compute_sources = models.ManyToManyField("compute.ComputeSource", blank=True, related_name="initiatives")
    kpis = models.JSONField(default=list, blank=True, help_text="KPI metric keys the initiative moves.")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "title"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=InitiativeStatus.values), name="initiative_status_valid"),
        ]

    def __str__(self) -> str:
        return self.title


# --- success metrics ---------------------------------------------------------------------------------------------


class MetricSource(models.TextChoices):
    KPI = "kpi", "KPI readings"
    COMPUTE = "compute", "Compute rollups"


class MetricDirection(models.TextChoices):
    AT_LEAST = "gte", "At least"
    AT_MOST = "lte", "At most"


class SuccessMetric(BaseModel):
    """A success metric: where its value comes from, its target and which side of it is good.

    On target when the latest value meets the target; at risk when it misses it by no more than
    `at_risk_margin_pct` percent of the target; off target beyond that (or with no value)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="success_metrics")
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=MetricSource.choices)
    kpi_metric = models.CharField(max_length=40, blank=True, help_text="For KPI metrics: the KPI reading's metric.")
    compute_figure = models.CharField(
        max_length=40, blank=True, help_text="For compute metrics: utilization_pct, idle_cost, cost_per_operation."
    )
    growth = models.BooleanField(default=False, help_text="Compare the period-over-period growth (%) of the value.")
    direction = models.CharField(max_length=3, choices=MetricDirection.choices)
    target = models.DecimalField(max_digits=24, decimal_places=6)
    at_risk_margin_pct = models.DecimalField(max_digits=6, decimal_places=2, default=5)
    unit = models.CharField(max_length=20, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="success_metric_unique_key"),
            models.CheckConstraint(condition=Q(source__in=MetricSource.values), name="success_metric_source"),
            models.CheckConstraint(condition=Q(direction__in=MetricDirection.values), name="success_metric_dir"),
        ]

    def __str__(self) -> str:
        return self.name


# --- daily usage: the rollups of a closed day, summed once ---------------------------------------------------


class UsageDay(models.Model):
    """One device's metric over one closed UTC day: how many minutes have a rollup and the sum of their averages
    in millionths (exact). Kept by the beat task from the per-minute rollups, so a month of cost reads 30 rows per
    device and metric instead of 43,200; time-series shaped like the rollups (bigint key, no created/updated)."""

    id = models.BigAutoField(primary_key=True)
    device = models.ForeignKey("compute.Device", on_delete=models.CASCADE, related_name="+", db_index=False)
    metric = models.CharField(max_length=64)
    day = models.DateField()
    minutes = models.PositiveIntegerField()
    sum_micro = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "metric", "day"], name="usage_day_unique")]

    def __str__(self) -> str:
        return f"{self.metric} {self.day}: {self.minutes} min"


class UsageWatermark(models.Model):
    """Up to which day (exclusive) an organization's daily usage is summarised."""

    organization = models.OneToOneField(
        "tenancy.Organization", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    through = models.DateField()
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"usage summarised through {self.through}"
