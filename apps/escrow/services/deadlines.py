"""Moving a milestone's on-chain deadline later: funder and beneficiary together (the contract's two steps).

One party proposes (`proposeDeadlineExtension`), the other confirms the same deadline (`confirmDeadlineExtension`).
govtrack takes part where its signer is a party (the funder of the agreements it creates): it queues its step in
the outbox, in the transaction that checks and audits it. The indexer shows a proposal on the milestone
(DeadlineExtensionProposed) and moves its deadline once confirmed (DeadlineExtended).
"""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.escrow import permissions
from apps.escrow.models import OPEN_TX_STATUSES, ChainTx, ChainTxKind, EscrowMilestone, OnchainMilestoneStatus
from apps.escrow.services.agreements import agreement_lock
from apps.escrow.services.outbox import chaintx_enqueue
from apps.escrow.signer import signer_address
from apps.funding.services.common import check

MAX_DEADLINE = 2**64 - 1  # the contract's uint64 seconds


def escrow_deadline_extension_queue(
    *, escrow_milestone: EscrowMilestone, by, deadline: dt.datetime, confirm: bool = False
) -> ChainTx:
    """Queues govtrack's step of a deadline extension: a proposal, or (`confirm`) the confirmation of the other
    party's proposal of exactly `deadline`. Owner or finance of the agreement's organization."""
    agreement = escrow_milestone.agreement
    check(permissions.can_manage_escrow, by, agreement.organization)
    party = signer_address()
    if party not in (agreement.funder_address, agreement.beneficiary_address):
        raise Conflict("govtrack's signer is not a party of this agreement: the funder and beneficiary extend it.")
    seconds = int(deadline.timestamp())
    if not 0 < seconds <= MAX_DEADLINE:
        raise ValidationFailed.for_field("deadline", "Out of the contract's range.")
    with transaction.atomic():
        agreement_lock(agreement.pk)  # its parent, then the agreement: docs/controls.md
        escrow_milestone = (
            EscrowMilestone.objects.select_for_update(of=("self",))
            .select_related("agreement__organization")
            .get(pk=escrow_milestone.pk)
        )
        if escrow_milestone.onchain_status != OnchainMilestoneStatus.PENDING:
            raise Conflict(
                f"Only a pending milestone's deadline moves; this one is "
                f"{escrow_milestone.get_onchain_status_display().lower()}."
            )
        if escrow_milestone.deadline < timezone.now():
            raise Conflict("The deadline has passed: the milestone can only be refunded now.")
        if seconds <= int(escrow_milestone.deadline.timestamp()):
            raise ValidationFailed.for_field(
                "deadline", f"Must be later than the current deadline ({escrow_milestone.deadline.isoformat()})."
            )
        if confirm and (
            escrow_milestone.proposed_deadline is None
            or int(escrow_milestone.proposed_deadline.timestamp()) != seconds
            or escrow_milestone.proposed_deadline_by == party
        ):
            raise Conflict("There is no proposal of this deadline by the other party to confirm.")
        existing = escrow_milestone.transactions.filter(
            kind=ChainTxKind.DEADLINE_EXTENSION, status__in=OPEN_TX_STATUSES
        ).first()
        if existing is not None:
            raise Conflict(
                "A deadline extension of this milestone is already on its way.", {"chain_tx": str(existing.pk)}
            )
        step = "confirm" if confirm else "propose"
        chain_tx = chaintx_enqueue(
            kind=ChainTxKind.DEADLINE_EXTENSION,
            to=agreement.contract_address,
            params={"index": escrow_milestone.index, "deadline": seconds, "step": step},
            organization=agreement.organization,
            agreement=agreement,
            escrow_milestone=escrow_milestone,
        )
        audit_record(
            action=f"escrow.deadline_extension_{step}_queued",
            actor=by,
            organization=agreement.organization,
            obj=escrow_milestone,
            before={"deadline": escrow_milestone.deadline.isoformat()},
            after={"deadline": dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(), "step": step},
        )
    return chain_tx
