from celery import shared_task

from apps.economics.costing import usage_days_refresh
from apps.tenancy.models import Organization


@shared_task
def economics_refresh_usage_days() -> dict:
    """Every 15 minutes: sums each organization's closed days of rollups into the daily usage summary."""
    written = {}
    for organization in Organization.objects.filter(devices__isnull=False).distinct():
        written[str(organization.pk)] = usage_days_refresh(organization=organization)
    return written
