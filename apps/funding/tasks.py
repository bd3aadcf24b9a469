from celery import shared_task

from apps.funding.services.reminders import reminders_send


@shared_task
def funding_send_reminders() -> dict:
    """Hourly; sends each item's reminder at most once a day (idempotent)."""
    return reminders_send()


@shared_task
def funding_period_reminders() -> dict:
    """Hourly: writes the reporting periods' reminders due today (once each), then delivers what is waiting."""
    from apps.funding.services.reporting import period_reminders_deliver, period_reminders_write

    written = period_reminders_write()
    return {"written": len(written), "sent": period_reminders_deliver()}
