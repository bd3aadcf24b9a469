"""The confirmer: follows sent transactions to their receipts and ESCROW_CONFIRMATIONS confirmations.

A transaction is confirmed when its block is ESCROW_CONFIRMATIONS deep (its own block counts as one). A reverted
one is failed with the reason the chain gives: the revert data of the transaction itself where the node traces it
(`debug_traceTransaction`), else the call replayed on the block before, decoded from the contract's and the
token's ABIs (e.g. `ERC20InsufficientAllowance(spender=…, allowance=0, needed=…)`); an exhausted gas limit is said
as such. Reorgs: as long as a transaction's block is within the last
ESCROW_REORG_WATCH_BLOCKS, the block hash at its height is compared with the receipt's; when the block left the
chain the transaction goes back to sent, and its raw bytes are broadcast again if the node forgot it.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.escrow import chain
from apps.escrow.chain import ChainError, ChainUnavailable, Rpc, RpcError
from apps.escrow.models import ChainTx, ChainTxStatus
from apps.escrow.services.sender import _known, _on_failed, broadcast, rpc_reason

logger = logging.getLogger(__name__)

BLOCK_FIELDS = ["block_number", "block_hash", "receipt_status", "gas_used", "confirmed_at"]


class _BlockHashes(dict):
    def __init__(self, rpc: Rpc):
        super().__init__()
        self.rpc = rpc

    def __missing__(self, number: int) -> str | None:
        self[number] = self.rpc.block_hash(number)
        return self[number]


def _out_of_gas(tx: ChainTx) -> str:
    return f"ran out of gas (used {tx.gas_used} of its {tx.gas} gas limit)"


def _traced_reason(rpc: Rpc, tx: ChainTx) -> str | None:
    """What the transaction itself reverted with, from the node's call tracer; None where the node has no tracer."""
    try:
        trace = rpc.call("debug_traceTransaction", tx.tx_hash, {"tracer": "callTracer"})
    except ChainError:  # not offered (hosted nodes often refuse the debug namespace), or the node is away
        return None
    if not isinstance(trace, dict):
        return None
    error = str(trace.get("error") or "")
    if "gas" in error.lower() and ("out of" in error.lower() or "outofgas" in error.lower()):
        return _out_of_gas(tx)
    output = trace.get("output")
    if isinstance(output, str) and len(output) >= 10:
        return chain.revert_reason(output)
    return trace.get("revertReason") or None


def _revert_reason(rpc: Rpc, tx: ChainTx, block_number: int) -> str:
    traced = _traced_reason(rpc, tx)
    if traced:
        return traced
    if tx.gas and tx.gas_used is not None and tx.gas_used >= tx.gas:
        return _out_of_gas(tx)
    call = {"from": tx.sender, "data": tx.data, "value": hex(int(tx.value))}
    if tx.to:
        call["to"] = tx.to
    if tx.gas:
        call["gas"] = hex(tx.gas)  # the same limit: an exhausted one shows in the replay too
    try:
        rpc.eth_call(call, max(0, block_number - 1))
    except RpcError as exc:
        return rpc_reason(exc)
    except ChainUnavailable:
        return "reason unavailable (the node did not answer the replay)"
    return (
        f"no reason given, and the same call succeeds on block {max(0, block_number - 1)}: an earlier transaction "
        f"of block {block_number} changed the state it met"
    )


def _back_to_sent(rpc: Rpc, tx: ChainTx, note: str) -> None:
    tx.status, tx.last_error = ChainTxStatus.SENT, note
    for field in BLOCK_FIELDS:
        setattr(tx, field, "" if field == "block_hash" else None)
    tx.save(update_fields=["status", "last_error", *BLOCK_FIELDS, "updated_at"])
    if not _known(rpc, tx):
        tx.status = ChainTxStatus.SIGNED
        if broadcast(rpc, tx):
            tx.last_error = note + " Broadcast again."
            tx.save(update_fields=["last_error", "updated_at"])


def _confirm_one(rpc: Rpc, tx: ChainTx, head: int, hashes: _BlockHashes) -> None:
    receipt = None
    for tx_hash in tx.all_hashes:
        candidate = rpc.receipt(tx_hash)
        if candidate and candidate.get("blockHash"):
            receipt = candidate
            break
    if receipt is not None and hashes[int(receipt["blockNumber"], 16)] != receipt["blockHash"]:
        receipt = None  # a stale receipt of a block that is no longer canonical
    if receipt is None:
        if tx.status in (ChainTxStatus.MINED, ChainTxStatus.CONFIRMED):
            logger.warning("chain tx %s: block %s left the chain", tx.pk, tx.block_number)
            _back_to_sent(rpc, tx, f"Reorg: block {tx.block_number} ({tx.block_hash[:12]}…) left the chain.")
        elif not _known(rpc, tx):
            # The node forgot it (restarted without its pool, dropped it): the same bytes again.
            tx.status = ChainTxStatus.SIGNED
            broadcast(rpc, tx)
        return
    number = int(receipt["blockNumber"], 16)
    if tx.status == ChainTxStatus.CONFIRMED and tx.block_hash == receipt["blockHash"]:
        return
    mined_hash = receipt["transactionHash"]
    if mined_hash != tx.tx_hash:
        tx.previous_hashes = [h for h in tx.all_hashes if h != mined_hash]
        tx.tx_hash = mined_hash
    tx.block_number, tx.block_hash = number, receipt["blockHash"]
    tx.receipt_status = int(receipt["status"], 16)
    tx.gas_used = int(receipt["gasUsed"], 16)
    tx.contract_address = receipt.get("contractAddress") or ""
    if tx.contract_address:
        tx.contract_address = chain.to_checksum_address(tx.contract_address)
    if tx.receipt_status == 0:
        tx.status = ChainTxStatus.FAILED
        tx.last_error = f"Reverted on chain in block {number}: {_revert_reason(rpc, tx, number)}."
    elif head - number + 1 >= settings.ESCROW_CONFIRMATIONS:
        tx.status, tx.last_error = ChainTxStatus.CONFIRMED, ""
        tx.confirmed_at = tx.confirmed_at or timezone.now()
    else:
        tx.status = ChainTxStatus.MINED
    tx.save(
        update_fields=[
            "tx_hash",
            "previous_hashes",
            "status",
            "last_error",
            "contract_address",
            *BLOCK_FIELDS,
            "updated_at",
        ]
    )
    if tx.status == ChainTxStatus.FAILED:
        _on_failed(tx)


def escrow_confirm(*, rpc: Rpc | None = None) -> dict:
    """The confirmer task's work: sent and mined rows, and confirmed ones still within the reorg watch."""
    rpc = rpc or Rpc()
    head = rpc.block_number()
    watch = (
        ChainTx.objects.filter(chain_id=settings.ETH_CHAIN_ID)
        .filter(
            Q(status__in=[ChainTxStatus.SENT, ChainTxStatus.MINED])
            | Q(status=ChainTxStatus.CONFIRMED, block_number__gte=head - settings.ESCROW_REORG_WATCH_BLOCKS)
        )
        .order_by("nonce")
        .values_list("pk", flat=True)
    )
    hashes = _BlockHashes(rpc)
    counts = {"watched": 0}
    for pk in list(watch):
        counts["watched"] += 1
        with transaction.atomic():
            tx = ChainTx.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if tx is None:
                continue
            try:
                _confirm_one(rpc, tx, head, hashes)
            except ChainError as exc:
                logger.warning("chain tx %s not checked: %s", pk, exc)
                tx.last_error = str(exc)[:2000]
                tx.save(update_fields=["last_error", "updated_at"])
    return counts
