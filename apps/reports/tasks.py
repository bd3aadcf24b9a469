"""Worker entry points of the reports app; each calls one service."""

from celery import shared_task

from apps.reports.services import grant_report_export_run, grant_report_exports_due


@shared_task
def grant_report_export_build(export_id: str) -> str:
    return grant_report_export_run(export_id=export_id).status


@shared_task
def grant_report_export_sweep() -> int:
    """Beat: queues the exports whose build never reached a worker (a lost nudge or a lost worker)."""
    due = grant_report_exports_due()
    for export_id in due:
        grant_report_export_build.delay(export_id)
    return len(due)
