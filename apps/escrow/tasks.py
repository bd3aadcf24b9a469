"""Celery interfaces to the escrow services: thin, idempotent, safe to run concurrently (rows are locked)."""

import logging

from celery import shared_task
from django.conf import settings

from apps.core.errors import Conflict
from apps.escrow.chain import ChainError
from apps.escrow.services import attestations, confirmer, indexer, sender

logger = logging.getLogger(__name__)


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
    """Beat, and after each intent commits: send what is due, follow what was sent, index the contract."""
    if not settings.ETH_RPC_URL:
        return {"skipped": "ETH_RPC_URL is not set"}
    result = {}
    for name, step in (
        ("sent", sender.escrow_send_due),
        ("confirmed", confirmer.escrow_confirm),
        ("indexed", indexer.escrow_index),
    ):
        try:
            result[name] = step()
        except (ChainError, Conflict) as exc:  # the node is down or no contract yet: the next beat tries again
            logger.warning("escrow %s: %s", name, exc)
            result[name] = {"error": str(exc)}
    return result


@shared_task(ignore_result=True)
def escrow_refund_expired() -> int:
    if not settings.ETH_RPC_URL:
        return 0
    return attestations.escrow_refund_expired()
