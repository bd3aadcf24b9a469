"""The sender: turns outbox rows into signed, broadcast transactions.

For each due row: lock it (`select_for_update(skip_locked=True)`: two workers never handle one row), build the
call data, estimate gas, price it from eth_feeHistory (capped by ESCROW_MAX_FEE_GWEI), take the sender's next
nonce from the database, sign, and COMMIT the raw transaction and its hash. Only then broadcast. A crash or an
unreachable node between the two leaves a signed row that is broadcast again later: the node answers "already
known" or "nonce too low" for a transaction it has, and both count as sent when the hash is ours. A row that is
not mined after ESCROW_REPLACE_AFTER_SECONDS is signed again with the same nonce and fees raised by at least
12.5%, the previous hash kept (whichever is mined, the confirmer finds it).

Token allowances: the ERC-20 `approve` of a deposit sets the sender's single allowance for the escrow, so the
approve/create pairs of one (chain, sender, token, spender) go one at a time. An approve is signed only when no
other agreement's pair holds that allowance (its approve signed and its create not yet mined or failed), decided
under the sender's ChainNonce row lock; a create is signed only once its own approve is mined. Each is therefore
estimated against the state it will meet, and every create spends exactly the allowance its own approve set.

Pause: while the contract's owner has paused it, an attestation is not signed: it waits (no attempt counted) and
goes out once the contract is unpaused. The contract is asked (`paused()`) just before signing, and a refusal
with EnforcedPause while estimating counts as waiting too; one signed before the pause and reverted with
EnforcedPause after it is queued again (retry_of) and waits the same way.
"""

import datetime as dt
import logging
import statistics
import time
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.escrow import chain
from apps.escrow.chain import ChainError, ChainUnavailable, Rpc, RpcError, WrongChain
from apps.escrow.models import AgreementStatus, ChainNonce, ChainTx, ChainTxKind, ChainTxStatus
from apps.escrow.services.outbox import backoff_seconds, chaintx_enqueue
from apps.escrow.signer import signer

logger = logging.getLogger(__name__)

GWEI = 10**9
BUMP_NUMERATOR, BUMP_DENOMINATOR = 1125, 1000  # replacement fees: +12.5% at least (the nodes' minimum)
ALREADY_KNOWN = ("already known", "already imported", "known transaction", "alreadyknown")
NONCE_USED = ("nonce too low", "nonce has already been used", "replacement transaction underpriced")
# Kinds a second copy of which the contract refuses harmlessly: safe to sign again under a new nonce.
RESIGNABLE_KINDS = (
    ChainTxKind.ATTEST,
    ChainTxKind.REFUND,
    ChainTxKind.CLAIM_REFUND,
    ChainTxKind.TOKEN_APPROVE,
    ChainTxKind.DEPLOY,
    ChainTxKind.DEADLINE_EXTENSION,
)
# A zero-to-non-zero allowance write costs about 46k gas on a plain ERC-20 (more behind a proxy); the limit is only
# a ceiling (unused gas is not charged), so an approve never gets less than this whatever the estimate said.
APPROVE_MIN_GAS = 100_000
# An approve holds its token's allowance from signing until its create is mined or failed.
ALLOWANCE_HELD = (ChainTxStatus.SIGNED, ChainTxStatus.SENT, ChainTxStatus.MINED, ChainTxStatus.CONFIRMED)
CREATE_OPEN = (ChainTxStatus.PENDING, ChainTxStatus.SIGNED, ChainTxStatus.SENT)


class _Wait(Exception):
    """Not an error: the transaction cannot be built yet (e.g. its agreement is not on chain yet)."""


class _Refused(Exception):
    """The transaction must not be sent at all (e.g. the approve its deposit needs failed): the row fails unsigned."""


def _gwei(value: Decimal) -> int:
    return int(value * GWEI)


def _waiting(tx: ChainTx, message: str, *, seconds: int | None = None) -> None:
    tx.last_error = message
    tx.next_attempt_at = timezone.now() + dt.timedelta(seconds=seconds or settings.ESCROW_POLL_SECONDS)
    tx.save(update_fields=["last_error", "next_attempt_at", "updated_at"])


def _retry_later(tx: ChainTx, message: str) -> None:
    tx.attempts += 1
    tx.last_error = message[:2000]
    tx.next_attempt_at = timezone.now() + dt.timedelta(seconds=backoff_seconds(tx.attempts))
    tx.save(update_fields=["attempts", "last_error", "next_attempt_at", "updated_at"])
    logger.warning("chain tx %s (%s): %s", tx.pk, tx.kind, message)


def build_call(tx: ChainTx) -> str:
    """The call data of an intent; attest/refund/claim need their agreement's on-chain id first."""
    params = tx.params
    if tx.kind == ChainTxKind.DEPLOY:
        return chain.encode_deploy(params["artifact"], params.get("args", []))
    if tx.kind == ChainTxKind.TOKEN_APPROVE:
        return chain.encode_call("MockERC20", "approve", [params["spender"], int(params["amount"])])
    if tx.kind == ChainTxKind.TOKEN_MINT:
        return chain.encode_call("MockERC20", "mint", [params["account"], int(params["amount"])])
    if tx.kind == ChainTxKind.CREATE:
        return params["data"]
    agreement_id = tx.agreement.onchain_id if tx.agreement_id else None
    if agreement_id is None:
        raise _Wait("Waiting for the agreement to appear on chain (its AgreementCreated event).")
    if tx.kind == ChainTxKind.ATTEST:
        evidence = bytes.fromhex(params["evidence_hash"][2:])
        return chain.encode_call("MilestoneEscrow", "attest", [agreement_id, params["index"], evidence])
    if tx.kind == ChainTxKind.REFUND:
        return chain.encode_call("MilestoneEscrow", "refund", [agreement_id, params["index"]])
    if tx.kind == ChainTxKind.CLAIM_REFUND:
        return chain.encode_call("MilestoneEscrow", "claimRefund", [agreement_id])
    if tx.kind == ChainTxKind.DEADLINE_EXTENSION:
        function = "confirmDeadlineExtension" if params["step"] == "confirm" else "proposeDeadlineExtension"
        return chain.encode_call("MilestoneEscrow", function, [agreement_id, params["index"], params["deadline"]])
    raise ValueError(f"unknown chain transaction kind {tx.kind}")


def market_fees(rpc: Rpc) -> tuple[int, int]:
    """(maxFeePerGas, maxPriorityFeePerGas) from the last 10 blocks: twice the next base fee plus the median tip."""
    history = rpc.fee_history(10, 50)
    next_base = int(history["baseFeePerGas"][-1], 16)
    tips = [int(reward[0], 16) for reward in (history.get("reward") or []) if reward]
    tip = max(int(statistics.median(tips)) if tips else 0, _gwei(settings.ESCROW_MIN_PRIORITY_FEE_GWEI))
    cap = _gwei(settings.ESCROW_MAX_FEE_GWEI)
    if next_base + tip > cap:
        raise _Wait(
            f"Fees too high: base fee {next_base / GWEI:.2f} gwei + tip {tip / GWEI:.2f} gwei is above "
            f"ESCROW_MAX_FEE_GWEI ({settings.ESCROW_MAX_FEE_GWEI} gwei); waiting for cheaper blocks."
        )
    return min(2 * next_base + tip, cap), tip


def _sender_row(rpc: Rpc, tx: ChainTx) -> ChainNonce:
    """The sender's ChainNonce row, locked until the caller's transaction ends (created from the node's count)."""
    row = ChainNonce.objects.select_for_update().filter(chain_id=tx.chain_id, sender=tx.sender).first()
    if row is None:
        node_pending = rpc.nonce(tx.sender, "pending")
        ChainNonce.objects.bulk_create(
            [ChainNonce(chain_id=tx.chain_id, sender=tx.sender, next_nonce=node_pending)], ignore_conflicts=True
        )
        row = ChainNonce.objects.select_for_update().get(chain_id=tx.chain_id, sender=tx.sender)
    return row


def _take_nonce(rpc: Rpc, tx: ChainTx) -> int:
    row = _sender_row(rpc, tx)
    node_pending = rpc.nonce(tx.sender, "pending")
    if node_pending > row.next_nonce:
        logger.warning("nonce of %s raised from %s to the node's %s", tx.sender, row.next_nonce, node_pending)
        row.next_nonce = node_pending
    nonce = row.next_nonce
    row.next_nonce = nonce + 1
    row.save(update_fields=["next_nonce", "updated_at"])
    return nonce


def _allowance_holder(tx: ChainTx) -> ChainTx | None:
    """The approve, of another pair, whose allowance for the same token and spender is not spent yet: its create is
    not mined (nor failed) and it is signed. Open creates are few (agreements being created), so each is paired in
    Python with the approve it names."""
    open_creates = ChainTx.objects.filter(
        chain_id=tx.chain_id,
        sender=tx.sender,
        kind=ChainTxKind.CREATE,
        status__in=CREATE_OPEN,
        agreement__status=AgreementStatus.CREATING,
    ).order_by("created_at")
    for create in open_creates:
        approve = _own_approve(create)
        if (
            approve is not None
            and approve.pk != tx.pk
            and approve.status in ALLOWANCE_HELD
            and approve.to == tx.to
            and approve.params.get("spender") == tx.params["spender"]
        ):
            return approve
    return None


def _approve_may_sign(rpc: Rpc, tx: ChainTx) -> None:
    """Waits while another pair holds the allowance. The sender's row lock, held until this row is signed and
    committed, makes the check and the signing one step for every worker."""
    _sender_row(rpc, tx)
    holder = _allowance_holder(tx)
    if holder is not None:
        raise _Wait(
            f"Waiting for agreement {holder.agreement_id} to spend its allowance of this token (its approve, "
            f"transaction {holder.pk}, is {holder.status}; its create is not mined yet)."
        )


def _own_approve(tx: ChainTx) -> ChainTx | None:
    """The approve whose allowance this create spends (written with it; for older rows, the agreement's latest)."""
    approves = ChainTx.objects.filter(agreement_id=tx.agreement_id, kind=ChainTxKind.TOKEN_APPROVE)
    if tx.params.get("approve"):
        return approves.filter(pk=tx.params["approve"]).first()
    return approves.filter(created_at__lte=tx.created_at).order_by("-created_at").first()


def _create_may_sign(rpc: Rpc, tx: ChainTx) -> None:
    """A create is estimated and signed only once its own approve is mined, i.e. against the allowance it spends."""
    approve = _own_approve(tx) if tx.agreement_id else None
    if approve is None:
        return
    if approve.status == ChainTxStatus.FAILED:
        raise _Refused(f"Not sent: its token approve (transaction {approve.pk}) failed: {approve.last_error}")
    if approve.status in (ChainTxStatus.MINED, ChainTxStatus.CONFIRMED):
        return
    if approve.status == ChainTxStatus.SENT:
        # An approve sent moments ago (typically in this same run) is given a short, bounded wait for its receipt,
        # so a chain that mines at once does not leave the create for the next poll.
        just_sent = approve.sent_at is not None and timezone.now() - approve.sent_at < dt.timedelta(seconds=30)
        deadline = time.monotonic() + (settings.ESCROW_APPROVE_RECEIPT_WAIT_SECONDS if just_sent else 0)
        while True:
            for tx_hash in approve.all_hashes:
                receipt = rpc.receipt(tx_hash)
                if receipt and receipt.get("blockHash") and int(receipt["status"], 16) == 1:
                    return  # mined; the confirmer records it in its own time
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    raise _Wait(f"Waiting for its token approve (transaction {approve.pk}, {approve.status}) to be mined.")


PAUSED_WAIT = "Waiting: the escrow contract is paused by its owner; the attestation goes out once it is unpaused."


def contract_paused(rpc: Rpc, address: str) -> bool:
    """The contract's own `paused()`, read from the node's latest block."""
    answer = rpc.eth_call({"to": address, "data": chain.encode_call("MilestoneEscrow", "paused", [])})
    return int(answer or "0x0", 16) == 1


def _attest_may_sign(rpc: Rpc, tx: ChainTx) -> None:
    if contract_paused(rpc, tx.to):
        raise _Wait(PAUSED_WAIT)


def _sign(tx: ChainTx, *, nonce: int, gas: int, max_fee: int, tip: int) -> None:
    account = signer()
    if account.address != tx.sender:
        raise _Wait(f"The signer key is now {account.address}, not this transaction's sender {tx.sender}.")
    fields = {
        "type": 2,
        "chainId": tx.chain_id,
        "nonce": nonce,
        "value": int(tx.value),
        "data": tx.data,
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
    }
    if tx.to:
        fields["to"] = tx.to
    signed = account.sign_transaction(fields)
    if tx.tx_hash:
        tx.previous_hashes = [*tx.previous_hashes, tx.tx_hash]
    tx.nonce, tx.gas, tx.max_fee_per_gas, tx.max_priority_fee_per_gas = nonce, gas, max_fee, tip
    tx.raw_tx = "0x" + signed.raw_transaction.hex()
    tx.tx_hash = "0x" + signed.hash.hex()
    tx.status, tx.signed_at, tx.sent_at, tx.last_error = ChainTxStatus.SIGNED, timezone.now(), None, ""
    tx.next_attempt_at = None
    tx.save(
        update_fields=[
            "data",
            "nonce",
            "gas",
            "max_fee_per_gas",
            "max_priority_fee_per_gas",
            "raw_tx",
            "tx_hash",
            "previous_hashes",
            "status",
            "signed_at",
            "sent_at",
            "last_error",
            "next_attempt_at",
            "updated_at",
        ]
    )


def _sign_new(rpc: Rpc, tx: ChainTx) -> None:
    """pending → signed (or back off with the reason)."""
    try:
        if tx.kind == ChainTxKind.TOKEN_APPROVE:
            _approve_may_sign(rpc, tx)
        elif tx.kind == ChainTxKind.CREATE:
            _create_may_sign(rpc, tx)
        tx.data = build_call(tx)
        if tx.kind == ChainTxKind.ATTEST:
            _attest_may_sign(rpc, tx)
        call = {"from": tx.sender, "data": tx.data, "value": hex(int(tx.value))}
        if tx.to:
            call["to"] = tx.to
        try:
            estimate = rpc.estimate_gas(call)
        except RpcError as exc:
            if tx.kind == ChainTxKind.ATTEST and rpc_reason(exc).startswith("EnforcedPause"):
                raise _Wait(PAUSED_WAIT) from exc  # paused since the check above
            tx.attempts += 1
            tx.last_error = f"The node refuses the call: {rpc_reason(exc)}. Nothing was sent."
            if tx.attempts >= settings.ESCROW_MAX_ATTEMPTS:
                tx.status = ChainTxStatus.FAILED
                tx.next_attempt_at = None
            else:
                tx.next_attempt_at = timezone.now() + dt.timedelta(seconds=backoff_seconds(tx.attempts))
            tx.save(update_fields=["data", "attempts", "last_error", "status", "next_attempt_at", "updated_at"])
            if tx.status == ChainTxStatus.FAILED:
                _on_failed(tx)
            return
        max_fee, tip = market_fees(rpc)
        gas = estimate * 6 // 5 + 10_000
        if tx.kind == ChainTxKind.TOKEN_APPROVE:
            gas = max(gas, APPROVE_MIN_GAS)
        nonce = _take_nonce(rpc, tx)
        _sign(tx, nonce=nonce, gas=gas, max_fee=max_fee, tip=tip)
    except _Refused as refused:
        tx.status, tx.last_error, tx.next_attempt_at = ChainTxStatus.FAILED, str(refused)[:2000], None
        tx.save(update_fields=["status", "last_error", "next_attempt_at", "updated_at"])
        _on_failed(tx)
    except _Wait as wait:
        _waiting(tx, str(wait))
    except ChainUnavailable as exc:
        _retry_later(tx, str(exc))


def _bump(old: int, market: int) -> int:
    return max(-(-old * BUMP_NUMERATOR // BUMP_DENOMINATOR) + 1, market)


def _replace_stuck(rpc: Rpc, tx: ChainTx) -> None:
    """sent, unmined for too long → the same nonce signed again with higher fees."""
    try:
        if any(rpc.receipt(h) for h in tx.all_hashes):
            return  # mined: the confirmer records it
        market_max, market_tip = market_fees(rpc)
    except _Wait as wait:
        _waiting(tx, f"Not mined after {settings.ESCROW_REPLACE_AFTER_SECONDS}s; {wait}")
        return
    except ChainUnavailable as exc:
        _retry_later(tx, str(exc))
        return
    max_fee = _bump(int(tx.max_fee_per_gas), market_max)
    tip = _bump(int(tx.max_priority_fee_per_gas), market_tip)
    cap = _gwei(settings.ESCROW_MAX_FEE_GWEI)
    if max_fee > cap:
        tx.sent_at = timezone.now()  # wait another period before trying again
        tx.last_error = f"Not mined, and a +12.5% replacement would pass ESCROW_MAX_FEE_GWEI ({cap / GWEI:.0f} gwei)."
        tx.save(update_fields=["sent_at", "last_error", "updated_at"])
        return
    _sign(tx, nonce=tx.nonce, gas=tx.gas, max_fee=max_fee, tip=min(tip, max_fee))


def _known(rpc: Rpc, tx: ChainTx) -> bool:
    return any(rpc.transaction(h) or rpc.receipt(h) for h in tx.all_hashes)


def broadcast(rpc: Rpc, tx: ChainTx) -> bool:
    """Sends the stored raw transaction; True when the node has it (now or already). Saves the outcome."""
    try:
        rpc.send_raw(tx.raw_tx)
    except RpcError as exc:
        message = (exc.message or "").lower()
        if any(text in message for text in ALREADY_KNOWN):
            pass
        elif any(text in message for text in NONCE_USED):
            try:
                known = _known(rpc, tx)
            except ChainUnavailable as unavailable:
                _retry_later(tx, str(unavailable))
                return False
            if not known:
                _nonce_taken(tx, exc)
                return False
        else:
            _retry_later(tx, f"The node refused the transaction: {exc}")
            return False
    except ChainUnavailable as exc:
        _retry_later(tx, str(exc))
        return False
    tx.status, tx.last_error, tx.next_attempt_at = ChainTxStatus.SENT, "", None
    tx.sent_at = tx.sent_at or timezone.now()
    tx.save(update_fields=["status", "last_error", "next_attempt_at", "sent_at", "updated_at"])
    return True


def _nonce_taken(tx: ChainTx, exc: RpcError) -> None:
    """Our nonce was used by a transaction that is not ours: ours can never be mined."""
    message = f"Nonce {tx.nonce} was used by a transaction govtrack did not send ({exc.message})."
    if tx.kind not in RESIGNABLE_KINDS:
        # A second createAgreement would deposit twice if ours did land after all: an operator decides.
        _retry_later(tx, message + " Check the sender's history on chain, then retry.")
        return
    tx.previous_hashes = [*tx.previous_hashes, tx.tx_hash]
    tx.status, tx.nonce, tx.raw_tx, tx.tx_hash = ChainTxStatus.PENDING, None, "", ""
    tx.last_error, tx.next_attempt_at = message + " Signing again with a new nonce.", None
    tx.save(update_fields=["previous_hashes", "status", "nonce", "raw_tx", "tx_hash", "last_error", "next_attempt_at"])


def rpc_reason(exc: RpcError) -> str:
    """The node's refusal, a revert decoded from the ABIs where it carries revert data."""
    data = exc.data.get("data") if isinstance(exc.data, dict) else exc.data
    return chain.revert_reason(data) if isinstance(data, str) and data.startswith("0x") else exc.message


def _on_failed(tx: ChainTx) -> None:
    """A failed create fails its agreement; so does a failed approve, whose unsigned create is failed with it (its
    deposit could not be taken). The way back is a fresh pair: the retry of either, or the agreement's recreate."""
    if tx.kind == ChainTxKind.ATTEST and "EnforcedPause" in tx.last_error and not tx.retries.exists():
        # Signed before the owner paused the contract, mined after: the same attestation is queued again and waits
        # for the unpause like any other (the failed row stays as history).
        again = chaintx_enqueue(
            kind=tx.kind,
            to=tx.to,
            params=tx.params,
            organization=tx.organization,
            agreement=tx.agreement,
            escrow_milestone=tx.escrow_milestone,
            retry_of=tx,
        )
        audit_record(
            action="escrow.attestation_requeued",
            organization=tx.organization,
            obj=again,
            after={"retry_of": str(tx.pk), "reason": "reverted: the contract was paused after it was signed"},
        )
        return
    if tx.kind not in (ChainTxKind.CREATE, ChainTxKind.TOKEN_APPROVE) or not tx.agreement_id:
        return
    from apps.escrow.services.effects import agreement_mark_failed

    if tx.kind == ChainTxKind.TOKEN_APPROVE:
        ChainTx.objects.filter(
            agreement_id=tx.agreement_id, kind=ChainTxKind.CREATE, status=ChainTxStatus.PENDING, nonce__isnull=True
        ).update(
            status=ChainTxStatus.FAILED,
            last_error=f"Not sent: its token approve (transaction {tx.pk}) failed: {tx.last_error}"[:2000],
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
    agreement_mark_failed(agreement=tx.agreement, reason=tx.last_error)


def _due(now) -> list:
    stuck_before = now - dt.timedelta(seconds=settings.ESCROW_REPLACE_AFTER_SECONDS)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return list(
        ChainTx.objects.filter(chain_id=settings.ETH_CHAIN_ID)
        .filter(
            (Q(status__in=[ChainTxStatus.PENDING, ChainTxStatus.SIGNED]) & due)
            | Q(status=ChainTxStatus.SENT, sent_at__lt=stuck_before)
        )
        .order_by("nonce", "created_at")
        .values_list("pk", flat=True)
    )


def chaintx_send(*, pk, rpc: Rpc) -> None:
    """One row: sign if pending (or replace if stuck) and commit; then broadcast if signed."""
    now = timezone.now()
    with transaction.atomic():
        tx = (
            ChainTx.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("agreement")
            .filter(pk=pk)
            .first()
        )
        if tx is None:
            return
        if tx.status == ChainTxStatus.PENDING:
            _sign_new(rpc, tx)
        elif (
            tx.status == ChainTxStatus.SENT
            and tx.sent_at
            and now - tx.sent_at > dt.timedelta(seconds=settings.ESCROW_REPLACE_AFTER_SECONDS)
        ):
            _replace_stuck(rpc, tx)
    # The raw transaction and its hash are committed above, before anything leaves this process.
    with transaction.atomic():
        tx = ChainTx.objects.select_for_update(skip_locked=True).filter(pk=pk, status=ChainTxStatus.SIGNED).first()
        if tx is not None and (tx.next_attempt_at is None or tx.next_attempt_at <= now):
            broadcast(rpc, tx)


def escrow_send_due(*, rpc: Rpc | None = None) -> dict:
    """The sender task's work: every due row of ETH_CHAIN_ID, in nonce then creation order."""
    now = timezone.now()
    pks = _due(now)
    if not pks:
        return {"due": 0}
    try:
        rpc = rpc or Rpc()
        chain.require_chain(rpc)
    except (WrongChain, ChainUnavailable) as exc:
        for tx in ChainTx.objects.filter(pk__in=pks, status__in=[ChainTxStatus.PENDING, ChainTxStatus.SIGNED]):
            _retry_later(tx, str(exc))
        return {"due": len(pks), "refused": str(exc)}
    for pk in pks:
        try:
            chaintx_send(pk=pk, rpc=rpc)
        except ChainError as exc:  # anything unforeseen from the node: the row keeps it and is tried again
            tx = ChainTx.objects.get(pk=pk)
            _retry_later(tx, str(exc))
    return {"due": len(pks)}
