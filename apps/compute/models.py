"""Compute sources, devices, raw samples and their per-minute rollups, and verification reports.

Samples and rollups are time-series rows, not domain rows: they carry a bigint key and no created/updated times
(millions of them), and belong to their organization through their device.
"""

from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel


class DeviceKind(models.TextChoices):
    GPU = "gpu", "GPU"
    EDGE = "edge", "Edge board"
    NPU = "npu", "NPU"


class SourceKind(models.TextChoices):
    NVML = "nvml", "NVML (this host's GPUs)"
    NVIDIA_SMI = "nvidia_smi", "nvidia-smi"
    PROMETHEUS = "prometheus", "Prometheus"
    PUSH = "push", "Edge agents (push)"


COLLECTED_KINDS = (SourceKind.NVML, SourceKind.NVIDIA_SMI, SourceKind.PROMETHEUS)


class ComputeSource(BaseModel):
    """Where samples come from. Collected kinds run on their schedule; `push` sources only receive (edge agents)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="compute_sources")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    config = models.JSONField(default=dict, blank=True, help_text="The collector's settings (compute_hooks).")
    device_kind = models.CharField(
        max_length=10, choices=DeviceKind.choices, default=DeviceKind.GPU, help_text="The kind of devices it reports."
    )
    schedule_seconds = models.PositiveIntegerField(default=60)
    cadence_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Seconds between two samples of one device and metric, what coverage expects. Empty: the schedule "
        "for collected sources, COMPUTE_DEFAULT_CADENCE_SECONDS for push sources.",
    )
    lateness_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How long after its time a sample is still on time. Empty: COMPUTE_LATENESS_SECONDS of the "
        "device kind (seconds for GPUs, hours for edge agents that spool offline).",
    )
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_sample_count = models.PositiveIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="compute_source_unique_name_per_org"),
            models.CheckConstraint(condition=Q(kind__in=SourceKind.values), name="compute_source_kind_valid"),
            models.CheckConstraint(condition=Q(schedule_seconds__gte=5), name="compute_source_schedule_min"),
        ]

    def __str__(self) -> str:
        return self.name


class Device(BaseModel):
    """A GPU, NPU or edge board. Pushing devices hold a token; only its SHA-256 is stored."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="devices")
    key = models.CharField(max_length=200, help_text="The collector's or the agent's name for it (GPU UUID, host).")
    kind = models.CharField(max_length=10, choices=DeviceKind.choices, default=DeviceKind.GPU)
    labels = models.JSONField(default=dict, blank=True)
    source = models.ForeignKey(ComputeSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices")
    token_prefix = models.CharField(max_length=12, blank=True, help_text="Shown to tell tokens apart.")
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    late_samples = models.PositiveBigIntegerField(
        default=0, help_text="Samples that arrived after their lateness allowance (kept apart, never in rollups)."
    )
    last_late_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="compute_device_unique_key_per_org"),
            models.CheckConstraint(condition=Q(kind__in=DeviceKind.values), name="compute_device_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def has_token(self) -> bool:
        return bool(self.token_hash)


class Sample(models.Model):
    """One raw reading; (device, metric, ts) is unique, so a resent batch stores nothing twice.

    PostgreSQL also gets a BRIN index on `ts` (migration 0002): small, and what retention and time scans need.
    """

    id = models.BigAutoField(primary_key=True)
    # The unique index below starts with device_id: a separate FK index would only cost writes.
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+", db_index=False)
    metric = models.CharField(max_length=64)
    ts = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "metric", "ts"], name="compute_sample_unique_reading"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}={self.value} @ {self.ts:%Y-%m-%d %H:%M:%S}"


class LateSample(models.Model):
    """A reading that arrived after its lateness allowance: stored and counted, but apart from Sample and the
    rollups, so no sealed window's evidence changes. Only an explicit re-evaluation (a superseding report) uses it."""

    id = models.BigAutoField(primary_key=True)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+", db_index=False)
    metric = models.CharField(max_length=64)
    ts = models.DateTimeField()
    value = models.FloatField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "metric", "ts"], name="compute_latesample_unique_reading"),
        ]

    def __str__(self) -> str:
        return f"late {self.metric}={self.value} @ {self.ts:%Y-%m-%d %H:%M:%S}"


class SampleRollup(models.Model):
    """A device's metric over one minute: kept after the raw samples expire, and what criteria are evaluated on."""

    id = models.BigAutoField(primary_key=True)
    # The unique index below starts with device_id: a separate FK index would only cost writes.
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+", db_index=False)
    metric = models.CharField(max_length=64)
    minute = models.DateTimeField()
    avg = models.FloatField()
    min = models.FloatField()
    max = models.FloatField()
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "metric", "minute"], name="compute_rollup_unique_minute"),
            models.CheckConstraint(condition=Q(count__gt=0), name="compute_rollup_count_positive"),
            models.CheckConstraint(condition=Q(min__lte=models.F("max")), name="compute_rollup_min_le_max"),
        ]

    def __str__(self) -> str:
        return f"{self.metric} avg {self.avg} @ {self.minute:%Y-%m-%d %H:%M}"


class ReportSource(models.TextChoices):
    ROLLUPS = "rollups", "Per-minute rollups"
    PROMQL = "promql", "PromQL range query"


class VerificationReport(BaseModel):
    """One evaluation of a compute criterion. `canonical_json` is the report; `sha256` its hash, which
    `manage.py verification_rebuild` recomputes from stored data (and the escrow contract records)."""

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="verification_reports"
    )
    criterion = models.ForeignKey(
        "funding.MilestoneCriterion", on_delete=models.CASCADE, related_name="verification_reports"
    )
    milestone = models.ForeignKey("funding.Milestone", on_delete=models.CASCADE, related_name="verification_reports")
    source = models.CharField(max_length=10, choices=ReportSource.choices)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    passed = models.BooleanField()
    value = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    devices_counted = models.PositiveIntegerField(default=0)
    query = models.TextField(blank=True)
    canonical_json = models.TextField(help_text="The report: inputs, window, query, series, per-device values.")
    sha256 = models.CharField(max_length=64, db_index=True)
    metric = models.CharField(max_length=64, blank=True)
    devices = models.ManyToManyField(Device, blank=True, related_name="verification_reports")
    late_samples = models.PositiveIntegerField(
        default=0, help_text="Samples of its devices and window that arrived after the window was sealed."
    )
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    reason = models.TextField(blank=True, help_text="Why this report supersedes an earlier one.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["criterion", "-created_at"], name="compute_report_criterion"),
            # Ingest looks up the reports whose window a batch falls in (apps.compute.services.ingest).
            models.Index(fields=["metric", "window_end"], name="compute_report_metric_end"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(source__in=ReportSource.values), name="compute_report_source_valid"),
            models.CheckConstraint(
                condition=Q(window_end__gt=models.F("window_start")), name="compute_report_window_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{'pass' if self.passed else 'fail'} {self.sha256[:12]}"
