"""Frameworks (global reference data, versioned), privacy audits, findings and records of processing (per org)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel
from apps.core.uploads import evidence_path

# --- frameworks: reference data loaded from apps/compliance/frameworks/*.yaml ---------------------------------


class Framework(BaseModel):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    jurisdiction = models.CharField(max_length=60, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class FrameworkVersion(BaseModel):
    """One published version of a framework. Audits pin a version, so a closed audit's score never moves."""

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=40)
    source = models.CharField(max_length=200, blank=True, help_text="The YAML file it was loaded from.")
    content_hash = models.CharField(max_length=64)
    is_current = models.BooleanField(default=False)

    class Meta:
        ordering = ["framework__slug", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "version"], name="frameworkversion_unique_version"),
            models.UniqueConstraint(
                fields=["framework"], condition=Q(is_current=True), name="frameworkversion_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.framework.slug} {self.version}"


class Control(BaseModel):
    """A requirement of a framework version, summarised with its article reference."""

    framework_version = models.ForeignKey(FrameworkVersion, on_delete=models.CASCADE, related_name="controls")
    ref = models.CharField(max_length=40)
    section = models.CharField(max_length=120)
    article = models.CharField(max_length=80)
    title = models.CharField(max_length=200)
    text = models.TextField()
    weight = models.DecimalField(max_digits=5, decimal_places=2, default=1)
    position = models.PositiveIntegerField(default=0)
    # SHA-256 of article, title and text: equal hashes across versions mean the requirement did not change.
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["framework_version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["framework_version", "ref"], name="control_unique_ref_per_version"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="control_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"


# --- privacy audits ---------------------------------------------------------------------------------------------


class AuditStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    FIELDWORK = "fieldwork", "Fieldwork"
    REPORTING = "reporting", "Reporting"
    CLOSED = "closed", "Closed"


OPEN_AUDIT_STATUSES = (AuditStatus.PLANNED, AuditStatus.FIELDWORK, AuditStatus.REPORTING)
# Controls are assessed (results, notes, evidence) while the audit is in these states.
ASSESSABLE_AUDIT_STATUSES = (AuditStatus.FIELDWORK, AuditStatus.REPORTING)


class AuditorType(models.TextChoices):
    INTERNAL = "internal", "Internal"
    EXTERNAL = "external", "External"


class PrivacyAudit(BaseModel):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="privacy_audits")
    framework_version = models.ForeignKey(FrameworkVersion, on_delete=models.PROTECT, related_name="audits")
    title = models.CharField(max_length=200)
    scope = models.TextField(blank=True)
    period_start = models.DateField()
    period_end = models.DateField()
    auditor_type = models.CharField(max_length=10, choices=AuditorType.choices, default=AuditorType.INTERNAL)
    auditor_name = models.CharField(max_length=200, blank=True, help_text="The firm or person for an external one.")
    auditor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=12, choices=AuditStatus.choices, default=AuditStatus.PLANNED)
    # Written when the audit closes, so the trend shows what was reported even if weights change later.
    score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(period_end__gte=models.F("period_start")), name="audit_period_order"),
            models.CheckConstraint(condition=Q(status__in=AuditStatus.values), name="audit_status_valid"),
            models.CheckConstraint(
                condition=Q(status=AuditStatus.CLOSED, closed_at__isnull=False) | ~Q(status=AuditStatus.CLOSED),
                name="audit_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class AssessmentResult(models.TextChoices):
    NOT_ASSESSED = "not_assessed", "Not assessed"
    COMPLIANT = "compliant", "Compliant"
    PARTIALLY = "partially", "Partially compliant"
    NON_COMPLIANT = "non_compliant", "Non-compliant"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class ControlAssessment(BaseModel):
    audit = models.ForeignKey(PrivacyAudit, on_delete=models.CASCADE, related_name="assessments")
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="assessments")
    result = models.CharField(max_length=16, choices=AssessmentResult.choices, default=AssessmentResult.NOT_ASSESSED)
    notes = models.TextField(blank=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assessed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["control__position"]
        constraints = [
            models.UniqueConstraint(fields=["audit", "control"], name="assessment_one_per_control"),
            models.CheckConstraint(condition=Q(result__in=AssessmentResult.values), name="assessment_result_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.control.ref}: {self.result}"


def assessment_evidence_upload_to(instance, filename: str) -> str:
    # A name of our own in the organization's folder: the uploader's file name is kept in `name` only.
    return evidence_path(
        organization_id=instance.assessment.audit.organization_id,
        kind="assessments",
        parent_id=instance.assessment_id,
        file_id=instance.id,
    )


class AssessmentEvidence(BaseModel):
    assessment = models.ForeignKey(ControlAssessment, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(upload_to=assessment_evidence_upload_to, max_length=300)
    name = models.CharField(max_length=255, help_text="The file's name as uploaded; the stored file has our own.")
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "assessment evidence"

    def __str__(self) -> str:
        return self.name


# --- findings ---------------------------------------------------------------------------------------------------


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    REMEDIATING = "remediating", "Remediating"
    RESOLVED = "resolved", "Resolved"
    VERIFIED = "verified", "Verified"
    RISK_ACCEPTED = "risk_accepted", "Risk accepted"


# Findings still needing work: these are the ones that can be overdue.
ACTIVE_FINDING_STATUSES = (FindingStatus.OPEN, FindingStatus.REMEDIATING)


class Finding(BaseModel):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="findings")
    audit = models.ForeignKey(PrivacyAudit, on_delete=models.PROTECT, related_name="findings")
    control = models.ForeignKey(Control, null=True, blank=True, on_delete=models.PROTECT, related_name="findings")
    ref = models.CharField(max_length=30)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_findings")
    due_date = models.DateField()
    status = models.CharField(max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    acceptance_reason = models.TextField(blank=True)
    acceptance_expires_on = models.DateField(null=True, blank=True)
    # The day of the last overdue reminder: a second run the same day sends nothing.
    last_reminded_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "ref"], name="finding_unique_ref_per_org"),
            models.CheckConstraint(condition=Q(status__in=FindingStatus.values), name="finding_status_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="finding_severity_valid"),
            models.CheckConstraint(
                condition=~Q(status=FindingStatus.RISK_ACCEPTED) | Q(acceptance_expires_on__isnull=False),
                name="finding_acceptance_expires",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_date"], name="finding_status_due")]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"


class ActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"


class RemediationAction(BaseModel):
    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="actions")
    description = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=ActionStatus.choices, default=ActionStatus.OPEN)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ActionStatus.values), name="remediation_status_valid"),
        ]

    def __str__(self) -> str:
        return self.description[:60]


# --- records of processing (GDPR Art. 30) -----------------------------------------------------------------------


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", "Consent (Art. 6(1)(a))"
    CONTRACT = "contract", "Contract (Art. 6(1)(b))"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (Art. 6(1)(c))"
    VITAL_INTERESTS = "vital_interests", "Vital interests (Art. 6(1)(d))"
    PUBLIC_TASK = "public_task", "Public task (Art. 6(1)(e))"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests (Art. 6(1)(f))"


class ProcessingRole(models.TextChoices):
    CONTROLLER = "controller", "Controller"
    JOINT_CONTROLLER = "joint_controller", "Joint controller"
    PROCESSOR = "processor", "Processor"


class ProcessingActivity(BaseModel):
    """One entry of the record of processing activities (ROPA)."""

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="processing_activities"
    )
    name = models.CharField(max_length=200)
    purpose = models.TextField()
    role = models.CharField(max_length=20, choices=ProcessingRole.choices, default=ProcessingRole.CONTROLLER)
    lawful_basis = models.CharField(max_length=24, choices=LawfulBasis.choices)
    # Lists of short strings; CSV/XLSX cells hold them joined by "; ".
    data_categories = models.JSONField(default=list, blank=True)
    special_categories = models.BooleanField(default=False, help_text="Art. 9 data (health, biometrics, ...).")
    data_subjects = models.JSONField(default=list, blank=True)
    recipients = models.JSONField(default=list, blank=True)
    transfers = models.JSONField(default=list, blank=True, help_text='e.g. "US: standard contractual clauses".')
    retention = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    audits = models.ManyToManyField(PrivacyAudit, blank=True, related_name="processing_activities")

    class Meta:
        verbose_name_plural = "processing activities"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="processing_unique_name_per_org"),
            models.CheckConstraint(condition=Q(lawful_basis__in=LawfulBasis.values), name="processing_basis_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class DpiaStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"


class Dpia(BaseModel):
    """A data protection impact assessment (GDPR Art. 35) of one processing activity."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="dpias")
    processing_activity = models.ForeignKey(ProcessingActivity, on_delete=models.PROTECT, related_name="dpias")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=DpiaStatus.choices, default=DpiaStatus.DRAFT)
    high_residual_risk = models.BooleanField(
        default=False, help_text="Residual risk stays high: Art. 36 prior consultation is needed."
    )
    conclusion = models.TextField(blank=True)
    completed_on = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = "DPIA"
        constraints = [models.CheckConstraint(condition=Q(status__in=DpiaStatus.values), name="dpia_status_valid")]

    def __str__(self) -> str:
        return self.title
