"""Which on-chain agreement is govtrack's: the one created by govtrack's own create transaction.

`externalRef` is public the moment the create transaction is in the mempool, so anyone can emit an
AgreementCreated carrying it (a front-run: a 1-wei agreement mined first). An agreement is therefore bound only to
the AgreementCreated log in the receipt of its own CREATE row (sent by govtrack's signer, one of that row's hashes),
and only when the receipt's AgreementCreated and MilestoneCreated logs say what the agreement says: funder,
beneficiary, token, total, per-milestone amounts and deadlines, approvers, threshold. Any other AgreementCreated with
the agreement's external ref, or one whose terms differ, is a conflict: recorded on the agreement for a person to
look at, audited, and never applied (its id's events move no milestone).
"""

from django.db.models import Q

from apps.escrow import chain
from apps.escrow.chain import Rpc
from apps.escrow.models import ChainEvent, ChainTx, ChainTxKind, EscrowAgreement
from apps.escrow.services.effects import event_apply, event_conflict


def _our_create(event: ChainEvent, agreement: EscrowAgreement) -> ChainTx | None:
    """The agreement's CREATE row of which the event's transaction is one of the hashes."""
    return (
        ChainTx.objects.filter(kind=ChainTxKind.CREATE, agreement=agreement, chain_id=event.chain_id)
        .filter(Q(tx_hash=event.tx_hash) | Q(previous_hashes__contains=[event.tx_hash]))
        .first()
    )


def _same_address(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a.lower() == b.lower()


def created_terms_differences(*, agreement: EscrowAgreement, created: dict, milestones: list[dict]) -> list[str]:
    """What the chain's AgreementCreated (`created`) and MilestoneCreated (`milestones`, by index) say that the
    agreement row does not; empty when they agree."""
    ours = {
        "funder": agreement.funder_address,
        "beneficiary": agreement.beneficiary_address,
        "token": agreement.token_address,
        "totalAmount": str(int(agreement.total_base_units)),
        "threshold": str(agreement.threshold),
        "approvers": list(agreement.approvers),
        "externalRef": agreement.external_ref,
    }
    differences = [
        f"{field}: on chain {created.get(field)!r}, govtrack {value!r}"
        for field, value in ours.items()
        if created.get(field) != value
    ]
    expected = [
        (str(int(m.amount_base_units)), str(int(m.deadline.timestamp())))
        for m in agreement.milestones.order_by("index")
    ]
    on_chain = [(m["amount"], m["deadline"]) for m in sorted(milestones, key=lambda m: int(m["milestoneIndex"]))]
    if on_chain != expected:
        differences.append(f"milestones (amount, deadline): on chain {on_chain}, govtrack {expected}")
    return differences


def _receipt_terms(receipt: dict, event: ChainEvent) -> tuple[dict, list[dict]] | None:
    """The receipt's AgreementCreated at the event's log index and the MilestoneCreated of that agreement."""
    created, milestones = None, []
    for log in receipt.get("logs") or []:
        if not _same_address(log.get("address"), event.contract_address):
            continue
        decoded = chain.decode_log(log)
        if decoded is None:
            continue
        name, args = decoded
        if name == "AgreementCreated" and int(log["logIndex"], 16) == event.log_index:
            created = args
        elif name == "MilestoneCreated":
            milestones.append(args)
    if created is None:
        return None
    return created, [m for m in milestones if m["agreementId"] == created["agreementId"]]


def agreement_created_apply(*, rpc: Rpc, event: ChainEvent, agreement: EscrowAgreement) -> bool:
    """Binds the agreement to the event when it is govtrack's own, else records the conflict. False: the event's
    transaction is govtrack's but its receipt is not (or no longer) at the event's block; it is judged next run."""
    chain_tx = _our_create(event, agreement)
    if chain_tx is None:
        event_conflict(
            event=event,
            agreement=agreement,
            problems=[
                "An AgreementCreated with this agreement's external ref, not from govtrack's create transaction."
            ],
        )
        return True
    receipt = rpc.receipt(event.tx_hash)
    if not receipt or receipt.get("blockHash") != event.block_hash:
        return False
    terms = _receipt_terms(receipt, event)
    problems = []
    if int(receipt.get("status", "0x0"), 16) != 1:
        problems.append("govtrack's create transaction reverted, yet an AgreementCreated carries its hash.")
    if not _same_address(receipt.get("from"), chain_tx.sender) or not _same_address(receipt.get("to"), chain_tx.to):
        problems.append("The receipt's sender or contract is not that of govtrack's create transaction.")
    if terms is None:
        problems.append("The event is not among the logs of govtrack's create receipt.")
    else:
        problems += created_terms_differences(agreement=agreement, created=terms[0], milestones=terms[1])
    if problems:
        event_conflict(event=event, agreement=agreement, problems=problems)
    else:
        event_apply(event=event, agreement=agreement)
    return True
