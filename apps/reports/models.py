"""Grant report exports: a PDF built in the background for a large grant, with its progress and the kept file."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class PageSize(models.TextChoices):
    A4 = "A4", "A4"
    LETTER = "Letter", "US Letter"


def export_upload_to(instance, filename: str) -> str:
    return f"reports/{instance.organization_id}/{instance.id}.pdf"


class GrantReportExport(BaseModel):
    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="grant_report_exports"
    )
    grant = models.ForeignKey("funding.Grant", on_delete=models.CASCADE, related_name="report_exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    page_size = models.CharField(max_length=10, choices=PageSize.choices, default=PageSize.A4)
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    file = models.FileField(upload_to=export_upload_to, max_length=300, blank=True)
    data_sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the report's data section.")
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ExportStatus.values), name="report_export_status_valid"),
            models.CheckConstraint(condition=Q(page_size__in=PageSize.values), name="report_export_page_valid"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="report_export_progress_max"),
        ]

    def __str__(self) -> str:
        return f"{self.grant_id} {self.status} {self.progress}%"
