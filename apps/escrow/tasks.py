"""Celery interfaces to the escrow services: thin, idempotent, safe to run concurrently (rows are locked)."""

from celery import shared_task
from django.conf import settings

from apps.escrow.services import attestations, confirmer, indexer, sender, watcher


@shared_task(ignore_result=True)
def escrow_send() -> dict:
    return sender.escrow_send_due()


@shared_task(ignore_result=True)
def escrow_confirm() -> dict:
    return confirmer.escrow_confirm()


@shared_task(ignore_result=True)
def escrow_index() -> dict:
    return indexer.escrow_index()


@shared_task(ignore_result=True)
def escrow_sync() -> dict:
    """Beat, and after each intent commits: send what is due, follow what was sent, index the contract (the block
    watcher, `manage.py escrow_watch`, runs the same round on each new block)."""
    if not settings.ETH_RPC_URL:
        return {"skipped": "ETH_RPC_URL is not set"}
    return watcher.escrow_sync_round()


@shared_task(ignore_result=True)
def escrow_refund_expired() -> int:
    if not settings.ETH_RPC_URL:
        return 0
    return attestations.escrow_refund_expired()
