"""What a confirmed contract event changes in govtrack, and how a reorg takes it back.

Each event is applied once (`ChainEvent.applied`, set in the transaction of its effects) and records what it did in
`ChainEvent.effects`, so undoing it reverses exactly that. Events of agreements govtrack did not create are stored
and marked applied with no effect.
"""

import datetime as dt
import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import F

from apps.audit.services import audit_record
from apps.escrow.models import (
    AgreementStatus,
    ChainEvent,
    EscrowAgreement,
    EscrowContract,
    EscrowMilestone,
    OnchainMilestoneStatus,
)
from apps.escrow.services.agreements import agreement_lock, from_base_units
from apps.escrow.services.evidence import evidence_check, evidence_check_undo, evidence_problem
from apps.funding.models import Disbursement, DisbursementKind, MilestoneStatus
from apps.funding.services.disbursements import disbursement_record, disbursement_reverse_from_chain
from apps.funding.services.milestones import (
    milestone_refund_from_chain,
    milestone_release_from_chain,
    milestone_reopen_from_chain,
)

logger = logging.getLogger(__name__)

SETTLED = (OnchainMilestoneStatus.APPROVED, OnchainMilestoneStatus.REFUNDED, OnchainMilestoneStatus.CANCELLED)
STATUS_BY_EVENT = {
    "MilestoneApproved": OnchainMilestoneStatus.APPROVED,
    "MilestoneRefunded": OnchainMilestoneStatus.REFUNDED,
    "MilestoneCancelled": OnchainMilestoneStatus.CANCELLED,
}


def agreement_mark_failed(*, agreement: EscrowAgreement, reason: str) -> None:
    with transaction.atomic():
        agreement = agreement_lock(agreement.pk)
        if agreement.status != AgreementStatus.CREATING:
            return
        agreement.status = AgreementStatus.FAILED
        agreement.save(update_fields=["status", "updated_at"])
        audit_record(
            action="escrow.agreement_failed",
            organization=agreement.organization,
            obj=agreement,
            before={"status": AgreementStatus.CREATING},
            after={"status": AgreementStatus.FAILED, "reason": reason},
        )


def _escrow_milestone(agreement: EscrowAgreement, args: dict) -> EscrowMilestone | None:
    return (
        EscrowMilestone.objects.select_for_update(of=("self",))
        .select_related("milestone")
        .filter(agreement=agreement, index=int(args["milestoneIndex"]))
        .first()
    )


def _settle_check(agreement: EscrowAgreement) -> None:
    open_left = agreement.milestones.exclude(onchain_status__in=SETTLED).exists()
    status = AgreementStatus.ACTIVE if open_left else AgreementStatus.SETTLED
    if agreement.status in (AgreementStatus.ACTIVE, AgreementStatus.SETTLED) and agreement.status != status:
        agreement.status = status
        agreement.save(update_fields=["status", "updated_at"])


def _paid_on(event: ChainEvent) -> dt.date:
    return (event.block_timestamp or event.created_at).date()


# --- apply -----------------------------------------------------------------------------------------------------


def _apply_created(event: ChainEvent, agreement: EscrowAgreement) -> dict:
    if agreement.onchain_id is not None:
        return {}
    # services/binding.py checked that the event is in govtrack's own create receipt and says what the row says.
    agreement.onchain_id = int(event.args["agreementId"])
    before = agreement.status
    agreement.status = AgreementStatus.ACTIVE
    agreement.save(update_fields=["onchain_id", "status", "updated_at"])
    agreement.milestones.filter(onchain_status=OnchainMilestoneStatus.NONE).update(
        onchain_status=OnchainMilestoneStatus.PENDING
    )
    audit_record(
        action="escrow.agreement_onchain",
        organization=agreement.organization,
        obj=agreement,
        before={"status": before},
        after={"status": agreement.status, "onchain_id": agreement.onchain_id, "tx_hash": event.tx_hash},
    )
    return {"agreement": str(agreement.pk), "status_before": before}


def _apply_attested(event: ChainEvent, agreement: EscrowAgreement) -> dict:
    escrow_milestone = _escrow_milestone(agreement, event.args)
    if escrow_milestone is None:
        return {}
    before = {"approvals": escrow_milestone.approvals, "hash": escrow_milestone.onchain_evidence_hash}
    effects = {"escrow_milestone": str(escrow_milestone.pk), "before": before}
    dissent = evidence_problem(escrow_milestone, event.args["evidenceHash"])
    if dissent:
        # Contract v2 counts votes per hash: a vote for a hash that is not govtrack's report approves nothing and
        # cannot block the honest approvers, so it moves no state here (a rogue vote before govtrack's own report
        # must not hold the milestone either). It stays visible: the attestation list marks it as not govtrack's
        # report. Only a MilestoneApproved with such a hash holds the milestone in conflict (_apply_settled).
        logger.warning("milestone %s: attestation for another hash: %s", escrow_milestone.milestone_id, dissent)
        return {**effects, "dissent": dissent}
    # `approvals` counts the votes for govtrack's report hash.
    escrow_milestone.approvals = int(event.args["approvals"])
    escrow_milestone.onchain_evidence_hash = event.args["evidenceHash"]
    escrow_milestone.save(update_fields=["approvals", "onchain_evidence_hash", "updated_at"])
    return effects


def _apply_settled(event: ChainEvent, agreement: EscrowAgreement) -> dict:
    escrow_milestone = _escrow_milestone(agreement, event.args)
    if escrow_milestone is None:
        return {}
    status_before = escrow_milestone.onchain_status
    escrow_milestone.onchain_status = STATUS_BY_EVENT[event.name]
    escrow_milestone.save(update_fields=["onchain_status", "updated_at"])
    milestone = escrow_milestone.milestone
    funding_before = milestone.status
    effects = {"escrow_milestone": str(escrow_milestone.pk), "status_before": status_before}
    if event.name == "MilestoneApproved" and milestone.status != MilestoneStatus.RELEASED:
        # Approved with a hash that is not govtrack's report, or held in conflict already: a person decides.
        held = evidence_check(event=event, escrow_milestone=escrow_milestone, attested_hash=event.args["evidenceHash"])
        effects.update(held)
        if not held and milestone.status != MilestoneStatus.CONFLICT:
            milestone_release_from_chain(milestone=milestone, tx_hash=event.tx_hash)
            effects["funding_before"] = funding_before
    elif event.name == "MilestoneRefunded" and milestone.status != MilestoneStatus.REFUNDED:
        milestone_refund_from_chain(milestone=milestone, tx_hash=event.tx_hash)
        effects["funding_before"] = funding_before
    audit_record(
        action="escrow.milestone_settled",
        organization=agreement.organization,
        obj=escrow_milestone,
        before={"onchain_status": status_before},
        after={"onchain_status": escrow_milestone.onchain_status, "tx_hash": event.tx_hash},
    )
    _settle_check(agreement)
    return effects


def _apply_withdrawn(event: ChainEvent, agreement: EscrowAgreement) -> dict:
    """The beneficiary was paid: recorded as on-chain disbursements of the approved milestones, in index order,
    each up to what is left of it."""
    left = int(event.args["amount"])
    allocations, disbursements = [], []
    approved = (
        EscrowMilestone.objects.select_for_update(of=("self",))
        .select_related("milestone")
        .filter(agreement=agreement, onchain_status=OnchainMilestoneStatus.APPROVED)
        .order_by("index")
    )
    for escrow_milestone in approved:
        room = int(escrow_milestone.amount_base_units) - int(escrow_milestone.withdrawn_base_units)
        units = min(room, left)
        if units <= 0:
            continue
        amount = from_base_units(units, agreement.token_decimals)
        escrow_milestone.withdrawn_base_units = int(escrow_milestone.withdrawn_base_units) + units
        escrow_milestone.save(update_fields=["withdrawn_base_units", "updated_at"])
        milestone = escrow_milestone.milestone
        # Fiat records carry cents; the rounding never exceeds what is left of the milestone.
        fiat = min(amount.quantize(Decimal("0.01")), milestone.amount - milestone.amount_disbursed)
        # A milestone held in conflict is not released: what the chain paid shows on its escrow row alone.
        if fiat > 0 and milestone.status == MilestoneStatus.RELEASED:
            disbursement = disbursement_record(
                milestone=milestone,
                by=None,
                amount=fiat,
                paid_on=_paid_on(event),
                reference=event.tx_hash,
                note=f"Withdrawn from escrow agreement #{agreement.onchain_id} ({units} base units).",
                kind=DisbursementKind.ONCHAIN,
            )
            disbursements.append(str(disbursement.pk))
        allocations.append([str(escrow_milestone.pk), str(units)])
        left -= units
        if left == 0:
            break
    if left:
        logger.error("agreement %s: %s base units withdrawn beyond the approved milestones", agreement.pk, left)
    agreement.withdrawn_base_units = int(agreement.withdrawn_base_units) + int(event.args["amount"]) - left
    agreement.save(update_fields=["withdrawn_base_units", "updated_at"])
    return {"allocations": allocations, "disbursements": disbursements, "unallocated": str(left)}


def _timestamp(seconds) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC)


def _apply_deadline_extended(event: ChainEvent, agreement: EscrowAgreement) -> dict:
    """Funder and beneficiary moved a milestone's on-chain deadline: attest until, refund after, the new one."""
    escrow_milestone = _escrow_milestone(agreement, event.args)
    if escrow_milestone is None:
        return {}
    before = escrow_milestone.deadline
    proposal_before = _proposal(escrow_milestone)
    escrow_milestone.deadline = _timestamp(event.args["newDeadline"])
    escrow_milestone.proposed_deadline, escrow_milestone.proposed_deadline_by = None, ""
    escrow_milestone.save(update_fields=["deadline", "proposed_deadline", "proposed_deadline_by", "updated_at"])
    audit_record(
        action="escrow.milestone_deadline_extended",
        organization=agreement.organization,
        obj=escrow_milestone,
        before={"deadline": before.isoformat()},
        after={"deadline": escrow_milestone.deadline.isoformat(), "tx_hash": event.tx_hash},
    )
    return {
        "escrow_milestone": str(escrow_milestone.pk),
        "deadline_before": before.isoformat(),
        "proposal_before": proposal_before,
    }


def _proposal(escrow_milestone: EscrowMilestone) -> list:
    at = escrow_milestone.proposed_deadline
    return [at.isoformat() if at else None, escrow_milestone.proposed_deadline_by]


def _restore_proposal(escrow_milestone_id: str, proposal: list) -> None:
    at, by = proposal
    EscrowMilestone.objects.filter(pk=escrow_milestone_id).update(
        proposed_deadline=dt.datetime.fromisoformat(at) if at else None, proposed_deadline_by=by
    )


def _apply_deadline_proposed(event: ChainEvent, agreement: EscrowAgreement) -> dict:
    """One party proposed a later deadline: shown on the milestone until the other party confirms it."""
    escrow_milestone = _escrow_milestone(agreement, event.args)
    if escrow_milestone is None:
        return {}
    before = _proposal(escrow_milestone)
    escrow_milestone.proposed_deadline = _timestamp(event.args["newDeadline"])
    escrow_milestone.proposed_deadline_by = event.args["proposer"]
    escrow_milestone.save(update_fields=["proposed_deadline", "proposed_deadline_by", "updated_at"])
    return {"escrow_milestone": str(escrow_milestone.pk), "proposal_before": before}


def _apply_refund_claimed(event: ChainEvent, agreement: EscrowAgreement) -> dict:
    agreement.refunded_base_units = int(agreement.refunded_base_units) + int(event.args["amount"])
    agreement.save(update_fields=["refunded_base_units", "updated_at"])
    return {"refunded": event.args["amount"]}


APPLY = {
    "AgreementCreated": _apply_created,
    "Attested": _apply_attested,
    "MilestoneApproved": _apply_settled,
    "MilestoneRefunded": _apply_settled,
    "MilestoneCancelled": _apply_settled,
    "Withdrawn": _apply_withdrawn,
    "RefundClaimed": _apply_refund_claimed,
    "DeadlineExtensionProposed": _apply_deadline_proposed,
    "DeadlineExtended": _apply_deadline_extended,
}

# Events of the contract as a whole (no agreement id): the owner's pause switch.
CONTRACT_EVENTS = ("Paused", "Unpaused")


def event_apply(*, event: ChainEvent, agreement: EscrowAgreement | None) -> None:
    """Applies one stored event (once: a second call changes nothing)."""
    with transaction.atomic():
        event = ChainEvent.objects.select_for_update().get(pk=event.pk)
        if event.applied or event.removed:
            return
        effects = {}
        handler = APPLY.get(event.name)
        if handler is not None and agreement is not None:
            agreement = agreement_lock(agreement.pk)
            effects = handler(event, agreement)
        event.applied, event.effects = True, effects
        event.save(update_fields=["applied", "effects"])


def contract_event_apply(*, event: ChainEvent) -> None:
    """A confirmed Paused/Unpaused: records on the contract whether it is paused (once: a second call changes
    nothing)."""
    with transaction.atomic():
        event = ChainEvent.objects.select_for_update().get(pk=event.pk)
        if event.applied or event.removed:
            return
        EscrowContract.objects.get_or_create(chain_id=event.chain_id, address=event.contract_address)
        contract = EscrowContract.objects.select_for_update().get(
            chain_id=event.chain_id, address=event.contract_address
        )
        before = {
            "paused": contract.paused,
            "at": contract.paused_changed_at.isoformat() if contract.paused_changed_at else None,
            "tx": contract.paused_changed_tx,
        }
        contract.paused = event.name == "Paused"
        contract.paused_changed_at, contract.paused_changed_tx = event.block_timestamp, event.tx_hash
        contract.save()
        if contract.paused != before["paused"]:
            logger.warning("escrow contract %s %s by %s", contract.address, event.name.lower(), event.args["account"])
        audit_record(
            action="escrow.contract_paused" if contract.paused else "escrow.contract_unpaused",
            before={"paused": before["paused"]},
            after={"contract": contract.address, "paused": contract.paused, "tx_hash": event.tx_hash},
        )
        event.applied, event.effects = True, {"contract": contract.pk, "before": before}
        event.save(update_fields=["applied", "effects"])


def _conflict_entry(event: ChainEvent, problems: list[str]) -> dict:
    return {
        "onchain_id": event.agreement_onchain_id,
        "funder": event.args.get("funder", ""),
        "tx_hash": event.tx_hash,
        "block_number": event.block_number,
        "block_hash": event.block_hash,
        "log_index": event.log_index,
        "problems": problems,
    }


def event_conflict(*, event: ChainEvent, agreement: EscrowAgreement, problems: list[str]) -> None:
    """An AgreementCreated that claims the agreement (its external ref) but is not govtrack's own, or whose terms
    differ: recorded on the agreement for a person to judge, never applied (once: a second call changes nothing)."""
    with transaction.atomic():
        event = ChainEvent.objects.select_for_update().get(pk=event.pk)
        if event.applied or event.removed:
            return
        agreement = agreement_lock(agreement.pk)
        entry = _conflict_entry(event, problems)
        before = len(agreement.conflicts)
        agreement.conflicts = [*agreement.conflicts, entry]
        agreement.save(update_fields=["conflicts", "updated_at"])
        logger.warning("agreement %s: conflicting AgreementCreated %s: %s", agreement.pk, event.tx_hash, problems)
        audit_record(
            action="escrow.agreement_conflict",
            organization=agreement.organization,
            obj=agreement,
            before={"conflicts": before},
            after={"conflicts": len(agreement.conflicts), "conflict": entry},
        )
        event.applied, event.effects = True, {"conflict": str(agreement.pk)}
        event.save(update_fields=["applied", "effects"])


# --- undo ------------------------------------------------------------------------------------------------------


def _reason(event: ChainEvent) -> str:
    return f"Reorg: {event.name} of block {event.block_number} ({event.block_hash[:12]}…) left the chain."


def _undo(event: ChainEvent) -> None:
    effects = event.effects or {}
    if event.name == "AgreementCreated" and effects.get("conflict"):
        agreement = agreement_lock(effects["conflict"])
        agreement.conflicts = [
            c for c in agreement.conflicts if (c["block_hash"], c["log_index"]) != (event.block_hash, event.log_index)
        ]
        agreement.save(update_fields=["conflicts", "updated_at"])
        audit_record(
            action="escrow.agreement_conflict_reorged",
            organization=agreement.organization,
            obj=agreement,
            after={"conflicts": len(agreement.conflicts), "reason": _reason(event)},
        )
    elif event.name == "AgreementCreated" and effects.get("agreement"):
        agreement = agreement_lock(effects["agreement"])
        agreement.onchain_id, agreement.status = None, effects["status_before"]
        agreement.save(update_fields=["onchain_id", "status", "updated_at"])
        agreement.milestones.update(onchain_status=OnchainMilestoneStatus.NONE)
        audit_record(
            action="escrow.agreement_reorged",
            organization=agreement.organization,
            obj=agreement,
            after={"reason": _reason(event)},
        )
    elif event.name == "Attested" and effects.get("escrow_milestone"):
        escrow_milestone = EscrowMilestone.objects.select_for_update().get(pk=effects["escrow_milestone"])
        escrow_milestone.approvals = effects["before"]["approvals"]
        escrow_milestone.onchain_evidence_hash = effects["before"]["hash"]
        escrow_milestone.save(update_fields=["approvals", "onchain_evidence_hash", "updated_at"])
        evidence_check_undo(escrow_milestone=escrow_milestone, effects=effects, reason=_reason(event))
    elif event.name in STATUS_BY_EVENT and effects.get("escrow_milestone"):
        escrow_milestone = (
            EscrowMilestone.objects.select_for_update(of=("self",))
            .select_related("milestone", "agreement__organization")
            .get(pk=effects["escrow_milestone"])
        )
        escrow_milestone.onchain_status = effects["status_before"]
        escrow_milestone.save(update_fields=["onchain_status", "updated_at"])
        evidence_check_undo(escrow_milestone=escrow_milestone, effects=effects, reason=_reason(event))
        if effects.get("funding_before"):
            milestone_reopen_from_chain(
                milestone=escrow_milestone.milestone, to=effects["funding_before"], reason=_reason(event)
            )
        audit_record(
            action="escrow.milestone_reorged",
            organization=escrow_milestone.agreement.organization,
            obj=escrow_milestone,
            after={"onchain_status": escrow_milestone.onchain_status, "reason": _reason(event)},
        )
        _settle_check(escrow_milestone.agreement)
    elif event.name == "Withdrawn":
        for disbursement in Disbursement.objects.filter(pk__in=effects.get("disbursements", [])):
            disbursement_reverse_from_chain(disbursement=disbursement, reason=_reason(event))
        total = 0
        for escrow_milestone_id, units in effects.get("allocations", []):
            EscrowMilestone.objects.filter(pk=escrow_milestone_id).update(
                withdrawn_base_units=F("withdrawn_base_units") - int(units)
            )
            total += int(units)
        if total:
            EscrowAgreement.objects.filter(onchain_id=event.agreement_onchain_id, chain_id=event.chain_id).update(
                withdrawn_base_units=F("withdrawn_base_units") - total
            )
    elif event.name in CONTRACT_EVENTS and effects.get("contract"):
        contract = EscrowContract.objects.select_for_update().get(pk=effects["contract"])
        before = effects["before"]
        contract.paused, contract.paused_changed_tx = before["paused"], before["tx"]
        contract.paused_changed_at = dt.datetime.fromisoformat(before["at"]) if before["at"] else None
        contract.save()
        audit_record(
            action="escrow.contract_pause_reorged",
            after={"contract": contract.address, "paused": contract.paused, "reason": _reason(event)},
        )
    elif event.name == "DeadlineExtended" and effects.get("escrow_milestone"):
        EscrowMilestone.objects.filter(pk=effects["escrow_milestone"]).update(
            deadline=dt.datetime.fromisoformat(effects["deadline_before"])
        )
        _restore_proposal(effects["escrow_milestone"], effects["proposal_before"])
    elif event.name == "DeadlineExtensionProposed" and effects.get("escrow_milestone"):
        _restore_proposal(effects["escrow_milestone"], effects["proposal_before"])
    elif event.name == "RefundClaimed" and effects.get("refunded"):
        EscrowAgreement.objects.filter(onchain_id=event.agreement_onchain_id, chain_id=event.chain_id).update(
            refunded_base_units=F("refunded_base_units") - int(effects["refunded"])
        )


def event_remove(*, event: ChainEvent) -> None:
    """The event's block left the chain: undo what it did (if it was applied) and keep the row, marked removed."""
    with transaction.atomic():
        event = ChainEvent.objects.select_for_update().get(pk=event.pk)
        if event.removed:
            return
        if event.applied:
            # The agreement (and its parent) before the rows the undo touches, as when the event was applied.
            effects = event.effects or {}
            agreement_id = None
            if event.name == "AgreementCreated":  # its effects name the agreement it bound or a conflict it noted
                agreement_id = effects.get("agreement") or effects.get("conflict")
            elif event.agreement_onchain_id is not None:
                agreement_id = (
                    EscrowAgreement.objects.filter(chain_id=event.chain_id, onchain_id=event.agreement_onchain_id)
                    .values_list("pk", flat=True)
                    .first()
                )
            if agreement_id is not None:
                agreement_lock(agreement_id)
            _undo(event)
        event.removed, event.applied, event.effects = True, False, {}
        event.save(update_fields=["removed", "applied", "effects"])
