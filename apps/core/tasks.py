from celery import shared_task

from apps.core.idempotency import idempotency_forget_expired


@shared_task
def idempotency_forget_expired_keys() -> int:
    return idempotency_forget_expired()
