"""Risk housekeeping for Celery beat. Idempotent: a breach already flagged or a reminder already sent today
is not sent again."""

from celery import shared_task

from apps.risks.services.indicators import kris_evaluate_all
from apps.risks.services.risks import risks_remind


@shared_task
def risks_evaluate_indicators() -> dict:
    return kris_evaluate_all()


@shared_task
def risks_send_reminders() -> dict:
    """Overdue reviews and expired acceptances, at most one email per risk a day."""
    return {"reminded": risks_remind()}
