from celery import shared_task

from apps.funding.services.reminders import reminders_send


@shared_task
def funding_send_reminders() -> dict:
    """Hourly; sends each item's reminder at most once a day (idempotent)."""
    return reminders_send()
