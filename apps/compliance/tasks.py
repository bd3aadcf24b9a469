"""Daily compliance housekeeping. Each task is idempotent: a second run the same day sends and changes nothing."""

from celery import shared_task

from apps.compliance.services.findings import findings_expire_acceptances, findings_remind_overdue


@shared_task
def compliance_findings_daily() -> dict:
    """Reopens findings whose risk acceptance expired, then reminds owners of overdue findings."""
    reopened = findings_expire_acceptances()
    reminded = findings_remind_overdue()
    return {"acceptances_expired": reopened, "overdue_reminders": reminded}
