"""The outbox: intents to send are ChainTx rows written in the caller's transaction; the sender signs and sends
them later. Also where the escrow contract's address is looked up, and the retry of a failed or stuck transaction.
"""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict
from apps.core.outbox import outbox_nudge
from apps.escrow import permissions
from apps.escrow.models import ChainTx, ChainTxKind, ChainTxStatus
from apps.escrow.signer import signer_address
from apps.funding.services.common import check

DEPLOYED_STATUSES = (ChainTxStatus.MINED, ChainTxStatus.CONFIRMED)


def escrow_deployment() -> ChainTx | None:
    """The recorded deployment of MilestoneEscrow on ETH_CHAIN_ID (the latest one that was mined)."""
    return (
        ChainTx.objects.filter(
            chain_id=settings.ETH_CHAIN_ID,
            kind=ChainTxKind.DEPLOY,
            params__artifact="MilestoneEscrow",
            status__in=DEPLOYED_STATUSES,
        )
        .exclude(contract_address="")
        .order_by("-block_number", "-created_at")
        .first()
    )


def escrow_address() -> str:
    """ESCROW_ADDRESS, else the address escrow_deploy recorded; a 409 saying what to do when there is neither."""
    if settings.ESCROW_ADDRESS:
        return settings.ESCROW_ADDRESS
    deployment = escrow_deployment()
    if deployment is None:
        raise Conflict("No escrow contract: set ESCROW_ADDRESS, or run `manage.py escrow_deploy` on a local chain.")
    return deployment.contract_address


def escrow_start_block() -> int:
    deployment = None if settings.ESCROW_ADDRESS else escrow_deployment()
    return deployment.block_number if deployment is not None else settings.ESCROW_START_BLOCK


def chaintx_enqueue(
    *,
    kind: str,
    to: str = "",
    params: dict | None = None,
    organization=None,
    agreement=None,
    escrow_milestone=None,
    value: int = 0,
    not_before: dt.datetime | None = None,
    retry_of: ChainTx | None = None,
) -> ChainTx:
    """Writes one intent in the caller's transaction; the sender is nudged once that transaction commits (and beat's
    escrow_sync sends it anyway if the nudge does not reach a worker)."""
    chain_tx = ChainTx.objects.create(
        organization=organization,
        agreement=agreement,
        escrow_milestone=escrow_milestone,
        kind=kind,
        params=params or {},
        chain_id=settings.ETH_CHAIN_ID,
        sender=signer_address(),
        to=to,
        value=value,
        next_attempt_at=not_before,
        retry_of=retry_of,
    )
    if settings.ESCROW_SEND_ON_COMMIT:
        _queue_sender()
    return chain_tx


def _queue_sender() -> None:
    from apps.escrow.tasks import escrow_sync

    outbox_nudge(escrow_sync)


def backoff_seconds(attempts: int) -> int:
    return min(settings.ESCROW_RETRY_MAX_SECONDS, settings.ESCROW_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))


RETRYABLE = (ChainTxStatus.FAILED, ChainTxStatus.PENDING, ChainTxStatus.SIGNED, ChainTxStatus.SENT)


def chaintx_retry(*, chain_tx: ChainTx, by) -> ChainTx:
    """Owner/finance: try a failed or stuck transaction again now.

    failed → a new intent with the same kind and parameters (the failed row stays as history);
    pending/signed (waiting out a backoff) → attempted again now;
    sent but not mined → re-signed at once with higher fees (same nonce), the previous hash kept.
    """
    if chain_tx.organization is None:
        raise Conflict("Only the operator retries deployments (manage.py escrow_deploy).")
    check(permissions.can_retry_chain_tx, by, chain_tx.organization)
    with transaction.atomic():
        chain_tx = ChainTx.objects.select_for_update().get(pk=chain_tx.pk)
        if chain_tx.status not in RETRYABLE:
            raise Conflict(
                f"Cannot retry a {chain_tx.get_status_display().lower()} transaction: "
                "only failed, waiting or unmined ones are retried.",
                {"status": chain_tx.status, "allowed_from": list(RETRYABLE)},
            )
        if chain_tx.status == ChainTxStatus.FAILED:
            if chain_tx.retries.exclude(status=ChainTxStatus.FAILED).exists():
                raise Conflict("This transaction was already retried; see the newer one.")
            result = chaintx_enqueue(
                kind=chain_tx.kind,
                to=chain_tx.to,
                params=chain_tx.params,
                organization=chain_tx.organization,
                agreement=chain_tx.agreement,
                escrow_milestone=chain_tx.escrow_milestone,
                value=int(chain_tx.value),
                retry_of=chain_tx,
            )
        else:
            chain_tx.next_attempt_at = timezone.now()
            fields = ["next_attempt_at", "updated_at"]
            if chain_tx.status == ChainTxStatus.SENT:
                # The sender replaces a sent transaction whose sent_at is older than ESCROW_REPLACE_AFTER_SECONDS.
                chain_tx.sent_at = timezone.now() - dt.timedelta(seconds=settings.ESCROW_REPLACE_AFTER_SECONDS + 1)
                fields.append("sent_at")
            chain_tx.save(update_fields=fields)
            result = chain_tx
            if settings.ESCROW_SEND_ON_COMMIT:
                _queue_sender()
        audit_record(
            action="escrow.transaction_retried",
            actor=by,
            organization=chain_tx.organization,
            obj=chain_tx,
            before={"status": chain_tx.status, "last_error": chain_tx.last_error},
            after={"retry": str(result.pk)},
        )
    return result
