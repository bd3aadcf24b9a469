"""The hash attested on chain against govtrack's own report hash.

Any approver (a Safe, an account) can attest any bytes32. Contract v2 counts votes per hash, so an `Attested` for
another hash approves nothing and blocks no one: the indexer records it as a dissenting vote (the attestation list
shows it) and moves no state. When a confirmed `MilestoneApproved` carries a hash that is not the milestone's
`evidence_hash` (or govtrack has no report for the milestone yet: it was never verified and approved for release),
the funding milestone is put in the `conflict` state through the transition engine, audited, and the chain's
approval does not release it. A person looks at it (the grant page and the API show
who attested what); a reorg that removes the event takes the milestone back to where it was.
"""

import logging
from decimal import Decimal

from django.utils import timezone

from apps.escrow.models import ChainEvent, EscrowMilestone
from apps.escrow.services.agreements import from_base_units
from apps.funding.machines import MILESTONES
from apps.funding.models import DisbursementKind, MilestoneStatus
from apps.funding.services.disbursements import disbursement_record
from apps.funding.services.milestones import milestone_conflict_from_chain, milestone_reopen_from_chain

logger = logging.getLogger(__name__)


def evidence_problem(escrow_milestone: EscrowMilestone, attested_hash: str) -> str | None:
    """What is wrong with `attested_hash` for this milestone, in words; None when it is govtrack's report hash."""
    ours = (escrow_milestone.evidence_hash or "").lower()
    attested = (attested_hash or "").lower()
    if ours and attested == ours:
        return None
    if not ours:
        return (
            f"Attested on chain with {attested}, but govtrack has no verified report for this milestone, which is "
            f"{escrow_milestone.milestone.get_status_display().lower()}"
        )
    return f"Attested on chain with {attested}, which is not govtrack's report hash {ours}"


def evidence_check(*, event: ChainEvent, escrow_milestone: EscrowMilestone, attested_hash: str) -> dict:
    """Called by the indexer on the locked rows: holds the milestone in conflict when the hash is not ours. Returns
    the effects to record ({} when the hash is ours; `conflict_before` when this event moved the milestone)."""
    problem = evidence_problem(escrow_milestone, attested_hash)
    if problem is None:
        return {}
    milestone = escrow_milestone.milestone
    if milestone.status not in MILESTONES["conflict_from_chain"].source:
        # Already in conflict, or settled (released or refunded) before this event: the attestation list shows it.
        logger.warning("milestone %s (%s): %s", milestone.pk, milestone.status, problem)
        return {"conflict": problem}
    before = milestone.status
    milestone_conflict_from_chain(
        milestone=milestone, reason=f"{problem} (transaction {event.tx_hash}, block {event.block_number})."
    )
    return {"conflict": problem, "conflict_before": before}


def evidence_check_undo(*, escrow_milestone: EscrowMilestone, effects: dict, reason: str) -> None:
    """The event that put the milestone in conflict left the chain: back to the status it had."""
    before = effects.get("conflict_before")
    milestone = escrow_milestone.milestone
    if before and milestone.status == MilestoneStatus.CONFLICT:
        milestone_reopen_from_chain(milestone=milestone, to=before, reason=reason)


def conflict_withdrawals_record(*, milestone, by=None) -> None:
    """MILESTONE_CONFLICT_HOOKS: the owner accepted the chain's approval of a milestone held in conflict. While it
    was held the indexer recorded the beneficiary's withdrawals on the escrow row only (`withdrawn_base_units`);
    now that the milestone is released, what left the contract is recorded as an on-chain disbursement, dated today,
    so the grant's or investment's totals say what the chain paid."""
    escrow_milestone = EscrowMilestone.objects.select_related("agreement").filter(milestone=milestone).first()
    if escrow_milestone is None or not int(escrow_milestone.withdrawn_base_units):
        return
    agreement = escrow_milestone.agreement
    withdrawn = from_base_units(int(escrow_milestone.withdrawn_base_units), agreement.token_decimals)
    unrecorded = min(withdrawn.quantize(Decimal("0.01")), milestone.amount) - milestone.amount_disbursed
    if unrecorded > 0:
        disbursement_record(
            milestone=milestone,
            by=None,
            amount=unrecorded,
            paid_on=timezone.localdate(),
            reference=f"escrow agreement #{agreement.onchain_id}",
            note=f"Withdrawn from escrow agreement #{agreement.onchain_id} while the milestone was in conflict "
            f"({escrow_milestone.withdrawn_base_units} base units); recorded when its approval was accepted.",
            kind=DisbursementKind.ONCHAIN,
        )
