from celery import shared_task

from apps.webhooks import services


@shared_task(acks_late=True)
def webhook_deliver(delivery_id: str) -> str:
    """One attempt; a failure is rescheduled on the row (next_attempt_at) and picked up by the sweeper."""
    delivery = services.webhook_delivery_attempt(delivery_id=delivery_id)
    return delivery.status if delivery else "skipped"


@shared_task
def webhook_sweep() -> int:
    """Sends deliveries whose retry time has come (also any whose queue message was lost)."""
    due = services.webhook_due_delivery_ids()
    for delivery_id in due:
        webhook_deliver.delay(delivery_id)
    return len(due)
