"""Worker entry points of the reports app; each calls one service."""

from celery import shared_task

from apps.reports.services import grant_report_export_run


@shared_task
def grant_report_export_build(export_id: str) -> str:
    return grant_report_export_run(export_id=export_id).status
