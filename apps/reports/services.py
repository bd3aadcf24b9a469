"""Report PDFs: a grant's built at once for a grant of few milestones, by a Celery task (with progress) for a large
one; an investment's built at once."""

import dataclasses
import datetime as dt
import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import audit_record
from apps.core.errors import ValidationFailed
from apps.core.outbox import outbox_nudge
from apps.funding.models import Grant, Investment
from apps.proofs.selectors import proof_links_active_by_milestone, proof_url
from apps.proofs.services import proof_links_report_printed
from apps.reports import permissions
from apps.reports.models import ExportStatus, GrantReportExport, PageSize
from apps.reports.rendering import render_pdf
from apps.reports.selectors import data_sha256, grant_report_data, investment_report_data
from apps.tenancy.services import require

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RenderedReport:
    pdf: bytes
    data_sha256: str
    filename: str
    generated_at: object


def clean_page_size(value) -> str:
    value = value or PageSize.A4
    if value not in PageSize.values:
        raise ValidationFailed.for_field("page_size", f"Choose one of: {', '.join(PageSize.values)}.")
    return value


def report_filename(parent: Grant | Investment) -> str:
    return f"{parent._meta.model_name}-report-{slugify(parent.title)[:60] or parent.pk}.pdf"


def is_large(grant: Grant) -> bool:
    return grant.milestones.count() > settings.REPORTS_SYNC_MAX_MILESTONES


def grant_report_render(*, grant: Grant, by, page_size: str = PageSize.A4, progress=None) -> RenderedReport:
    """The PDF of one grant, now. Reading only (it notes its data hash on the proof links it prints): any member of
    the grant's organization may export it."""
    require(permissions.can_export_report(by, grant.organization))
    page_size = clean_page_size(page_size)
    data = grant_report_data(user=by, grant=grant)
    if progress is not None:
        progress(10)
    digest = data_sha256(data)
    generated_at = timezone.now()
    pdf = render_pdf(data=data, data_hash=digest, generated_at=generated_at, page_size=page_size, progress=progress)
    _proof_links_printed(data, digest, generated_at)
    return RenderedReport(pdf=pdf, data_sha256=digest, filename=report_filename(grant), generated_at=generated_at)


def investment_report_render(*, investment: Investment, by, page_size: str = PageSize.A4) -> RenderedReport:
    """The PDF of one investment, now (investments are reported at once, whatever their number of milestones).
    Reading only, as a grant's report: any member of the investment's organization may export it."""
    require(permissions.can_export_report(by, investment.organization))
    page_size = clean_page_size(page_size)
    data = investment_report_data(user=by, investment=investment)
    digest = data_sha256(data)
    generated_at = timezone.now()
    pdf = render_pdf(data=data, data_hash=digest, generated_at=generated_at, page_size=page_size)
    _proof_links_printed(data, digest, generated_at)
    return RenderedReport(pdf=pdf, data_sha256=digest, filename=report_filename(investment), generated_at=generated_at)


def _proof_links_printed(data: dict, digest: str, generated_at) -> None:
    """Each proof link the PDF printed shows this PDF's data hash on its page."""
    printed = {m["proof_url"] for m in data["milestones"] if m.get("proof_url")}
    if printed:
        links = proof_links_active_by_milestone(milestone_ids=[m["id"] for m in data["milestones"]]).values()
        proof_links_report_printed(
            links=[link for link in links if proof_url(link) in printed], data_sha256=digest, generated_at=generated_at
        )


def grant_report_export_request(*, grant: Grant, by, page_size: str = PageSize.A4) -> GrantReportExport:
    """Queues a background export; the task is nudged once the row is committed, so the worker always finds it
    (and grant_report_export_sweep queues it again if the nudge never reached a worker)."""
    require(permissions.can_export_report(by, grant.organization))
    page_size = clean_page_size(page_size)
    with transaction.atomic():
        export = GrantReportExport.objects.create(
            organization=grant.organization, grant=grant, requested_by=by, page_size=page_size
        )
        audit_record(
            action="grant.report_exported",
            actor=by,
            organization=grant.organization,
            obj=grant,
            after={"export": str(export.pk), "page_size": page_size},
        )
        from apps.reports.tasks import grant_report_export_build

        outbox_nudge(grant_report_export_build, str(export.pk))
    return export


def _set_progress(export_id, percent: int) -> None:
    GrantReportExport.objects.filter(pk=export_id).update(progress=min(99, percent), updated_at=timezone.now())


def _claimable(now) -> Q:
    """Queued, or running with no progress for REPORTS_EXPORT_STALE_SECONDS (its worker was lost)."""
    stale = now - dt.timedelta(seconds=settings.REPORTS_EXPORT_STALE_SECONDS)
    return Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING, updated_at__lt=stale)


def grant_report_export_run(*, export_id) -> GrantReportExport:
    """The task's work: builds the PDF, keeps the file, and records progress as it goes. Idempotent: the nudge and
    the sweep may both send it, and only the run that claims the queued (or stale) export builds it."""
    export = GrantReportExport.objects.select_related("grant__organization", "grant__funder", "requested_by").get(
        pk=export_id
    )
    now = timezone.now()
    claimed = GrantReportExport.objects.filter(_claimable(now), pk=export.pk).update(
        status=ExportStatus.RUNNING, progress=1, updated_at=now
    )
    if not claimed:
        export.refresh_from_db()
        return export
    try:
        rendered = grant_report_render(
            grant=export.grant,
            by=export.requested_by,
            page_size=export.page_size,
            progress=lambda percent: _set_progress(export.pk, percent),
        )
    except Exception as exc:
        logger.exception("grant report export %s failed", export.pk)
        GrantReportExport.objects.filter(pk=export.pk).update(
            status=ExportStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        # Recorded on the export, which the page shows: a retry would fail the same way on the same data.
        export.refresh_from_db()
        return export
    export.refresh_from_db()
    export.file.save(f"{export.pk}.pdf", ContentFile(rendered.pdf), save=False)
    export.status, export.progress = ExportStatus.DONE, 100
    export.data_sha256, export.finished_at = rendered.data_sha256, timezone.now()
    export.save(update_fields=["file", "status", "progress", "data_sha256", "finished_at", "updated_at"])
    return export


def grant_report_exports_due(*, limit: int = 100) -> list[str]:
    """Exports no worker has taken: still queued REPORTS_EXPORT_SWEEP_AFTER_SECONDS after the request (its nudge
    was lost, e.g. the broker was down), or running with no progress for REPORTS_EXPORT_STALE_SECONDS."""
    now = timezone.now()
    waited = now - dt.timedelta(seconds=settings.REPORTS_EXPORT_SWEEP_AFTER_SECONDS)
    due = GrantReportExport.objects.filter(_claimable(now), updated_at__lte=waited).order_by("created_at")
    return [str(pk) for pk in due.values_list("pk", flat=True)[:limit]]
