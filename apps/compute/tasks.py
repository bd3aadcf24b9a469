"""Beat and worker entry points; each calls one service. All are idempotent."""

from celery import shared_task

from apps.compute.services.ingest import samples_purge_expired
from apps.compute.services.sources import source_collect, sources_claim_due
from apps.compute.services.verification import compute_criteria_verify_due, criterion_verify_queued


@shared_task
def compute_schedule_sources() -> int:
    """Every COMPUTE_SCHEDULER_TICK_SECONDS: queues one collection per due source."""
    due = sources_claim_due()
    for source_id in due:
        compute_collect_source.delay(source_id)
    return len(due)


@shared_task
def compute_collect_source(source_id: str) -> dict:
    return source_collect(source_id=source_id)


@shared_task
def compute_verify_criteria() -> dict:
    """Every COMPUTE_VERIFY_EVERY_SECONDS: evaluates open compute criteria, verifies milestones that are met."""
    return compute_criteria_verify_due()


@shared_task
def compute_verify_criterion(criterion_id: str) -> dict:
    """Queued after commit by an ingest that brought a waiting criterion's fixed window past its seal."""
    return criterion_verify_queued(criterion_id=criterion_id)


@shared_task
def compute_purge_raw_samples() -> int:
    """Hourly: raw samples older than COMPUTE_RAW_RETENTION_DAYS go; the per-minute rollups stay."""
    return samples_purge_expired()
