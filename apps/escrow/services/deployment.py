"""Deploying contracts through the outbox (the escrow contract once per chain; the demo's token on a local chain)."""

import time

from django.conf import settings
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.errors import Conflict
from apps.escrow.chain import Rpc
from apps.escrow.models import OPEN_TX_STATUSES, ChainNonce, ChainTx, ChainTxKind, ChainTxStatus, SyncCursor
from apps.escrow.owner import escrow_owner_address
from apps.escrow.services.confirmer import escrow_confirm
from apps.escrow.services.outbox import chaintx_enqueue, escrow_deployment
from apps.escrow.services.sender import escrow_send_due


def has_code(rpc: Rpc, address: str) -> bool:
    return bool(address) and rpc.code(address) not in (None, "", "0x")


def contract_deploy(*, rpc: Rpc, artifact: str, args: list, timeout: float = 60) -> ChainTx:
    """Queues a contract creation (or finds the open one) and drives sender and confirmer until it is mined."""
    with transaction.atomic():
        chain_tx = ChainTx.objects.filter(
            chain_id=settings.ETH_CHAIN_ID,
            kind=ChainTxKind.DEPLOY,
            params__artifact=artifact,
            status__in=OPEN_TX_STATUSES,
        ).first()
        if chain_tx is None:
            chain_tx = chaintx_enqueue(kind=ChainTxKind.DEPLOY, params={"artifact": artifact, "args": args})
            audit_record(
                action="escrow.contract_deploy_queued", obj=chain_tx, after={"artifact": artifact, "args": args}
            )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        escrow_send_due(rpc=rpc)
        escrow_confirm(rpc=rpc)
        chain_tx.refresh_from_db()
        if chain_tx.status in (ChainTxStatus.MINED, ChainTxStatus.CONFIRMED):
            return chain_tx
        if chain_tx.status == ChainTxStatus.FAILED:
            raise Conflict(f"Deploying {artifact} failed: {chain_tx.last_error}")
        time.sleep(0.5)
    raise Conflict(f"Deploying {artifact} did not finish in {timeout:.0f}s: {chain_tx.last_error or chain_tx.status}")


def escrow_contract_deploy(
    *, rpc: Rpc, timeout: float = 60, owner: str = "", allow_signer_owner: bool = False
) -> tuple[str, bool]:
    """(address, deployed now). Idempotent: nothing happens when the recorded contract has code on the node. The
    contract's owner (pause/unpause) is `owner` or ESCROW_OWNER_ADDRESS, never the signing key (escrow/owner.py)."""
    if settings.ESCROW_ADDRESS:
        if not has_code(rpc, settings.ESCROW_ADDRESS):
            raise Conflict(f"ESCROW_ADDRESS {settings.ESCROW_ADDRESS} has no code on chain {settings.ETH_CHAIN_ID}.")
        return settings.ESCROW_ADDRESS, False
    owner = escrow_owner_address(owner=owner, allow_signer_owner=allow_signer_owner)
    recorded = escrow_deployment()
    if recorded is not None:
        if has_code(rpc, recorded.contract_address):
            return recorded.contract_address, False
        # The recorded contract is gone: the local chain was reset, and with it every nonce and block we knew.
        with transaction.atomic():
            ChainNonce.objects.filter(chain_id=settings.ETH_CHAIN_ID).delete()
            SyncCursor.objects.filter(chain_id=settings.ETH_CHAIN_ID).delete()
            ChainTx.objects.filter(chain_id=settings.ETH_CHAIN_ID, status__in=OPEN_TX_STATUSES).update(
                status=ChainTxStatus.FAILED, last_error="The chain was reset before this transaction was mined."
            )
            audit_record(
                action="escrow.chain_reset",
                after={"chain_id": settings.ETH_CHAIN_ID, "missing_contract": recorded.contract_address},
            )
    chain_tx = contract_deploy(rpc=rpc, artifact="MilestoneEscrow", args=[owner], timeout=timeout)
    return chain_tx.contract_address, True
