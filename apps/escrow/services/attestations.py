"""Attesting verified milestones on chain, and refunding those that missed their deadline."""

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.canonical import canonical_json, sha256_hex
from apps.core.errors import ApplicationError, Conflict
from apps.escrow import permissions
from apps.escrow.models import (
    OPEN_TX_STATUSES,
    AgreementStatus,
    ChainTx,
    ChainTxKind,
    ChainTxStatus,
    EscrowMilestone,
    OnchainMilestoneStatus,
)
from apps.escrow.services.agreements import agreement_lock
from apps.escrow.services.approvers import govtrack_attests
from apps.escrow.services.outbox import chaintx_enqueue
from apps.funding.models import OPEN_MILESTONE_STATUSES, CriterionKind, Milestone, MilestoneStatus
from apps.funding.services.common import check
from apps.funding.services.milestones import milestone_mark_missed

logger = logging.getLogger(__name__)


def milestone_evidence_hash(milestone: Milestone) -> str:
    """The SHA-256 (0x hex) the contract records for a milestone.

    A milestone verified from telemetry alone (one compute criterion) is attested with the hash of its compute
    VerificationReport, which `manage.py verification_rebuild` recomputes from stored data. Any other milestone
    is attested with the SHA-256 of the canonical JSON of its verification record: each criterion's kind,
    description, status and last result (compute results carry their report's hash), and the SHA-256 of every
    evidence file.
    """
    criteria = list(milestone.criteria.order_by("created_at", "id"))
    if len(criteria) == 1 and criteria[0].kind == CriterionKind.COMPUTE:
        report_hash = (criteria[0].last_result or {}).get("report_sha256", "")
        if len(report_hash) == 64:
            return "0x" + report_hash.lower()
    record = {
        "milestone": milestone.pk,
        "criteria": [
            {
                "id": c.pk,
                "kind": c.kind,
                "description": c.description,
                "status": c.status,
                "result": c.last_result,
            }
            for c in criteria
        ],
        "evidence": sorted(
            ({"sha256": e.sha256, "name": e.original_name} for e in milestone.evidence.all()),
            key=lambda e: (e["sha256"], e["name"]),
        ),
    }
    return "0x" + sha256_hex(canonical_json(record))


def _open_tx(escrow_milestone: EscrowMilestone, kind: str) -> ChainTx | None:
    return escrow_milestone.transactions.filter(
        kind=kind, status__in=[*OPEN_TX_STATUSES, ChainTxStatus.CONFIRMED]
    ).first()


def escrow_attest_queue(*, escrow_milestone: EscrowMilestone, by=None) -> ChainTx | None:
    """Records the evidence hash of a verified milestone (what every approver is to attest) and queues the signer's
    attestation where govtrack's signer is an approver of the agreement; otherwise (a Safe or other approvers
    alone) no transaction is queued and the Safe transaction the owners sign is built from that hash
    (selectors.safe_transaction_get)."""
    agreement = escrow_milestone.agreement
    check(permissions.can_attest_milestone, by, agreement.organization)
    with transaction.atomic():
        agreement_lock(agreement.pk)  # its parent, then the agreement: docs/controls.md
        escrow_milestone = (
            EscrowMilestone.objects.select_for_update(of=("self",))
            .select_related("milestone")
            .get(pk=escrow_milestone.pk)
        )
        if agreement.status == AgreementStatus.FAILED:
            raise Conflict(
                "The escrow agreement was never created on chain, so nothing can be attested: re-create the "
                "agreement (POST /api/escrow/agreements/{id}/recreate/) or pay the milestone outside escrow "
                "(owner and finance together).",
                {"agreement": str(agreement.pk), "agreement_status": agreement.status},
            )
        if escrow_milestone.milestone.status != MilestoneStatus.VERIFIED:
            raise Conflict("Only a verified milestone is attested on chain.")
        if escrow_milestone.milestone.release_authorized_at is None:
            raise Conflict("The release approvals the organization's policy asks for are not complete yet.")
        if escrow_milestone.onchain_status not in (OnchainMilestoneStatus.NONE, OnchainMilestoneStatus.PENDING):
            raise Conflict(
                f"The milestone is already {escrow_milestone.get_onchain_status_display().lower()} on chain."
            )
        existing = _open_tx(escrow_milestone, ChainTxKind.ATTEST)
        if existing is not None:
            raise Conflict(
                "The attestation of this milestone is already queued or done.", {"chain_tx": str(existing.pk)}
            )
        evidence_hash = milestone_evidence_hash(escrow_milestone.milestone)
        escrow_milestone.evidence_hash = evidence_hash
        escrow_milestone.save(update_fields=["evidence_hash", "updated_at"])
        chain_tx = None
        if govtrack_attests(agreement):
            chain_tx = chaintx_enqueue(
                kind=ChainTxKind.ATTEST,
                to=agreement.contract_address,
                params={"index": escrow_milestone.index, "evidence_hash": evidence_hash},
                organization=agreement.organization,
                agreement=agreement,
                escrow_milestone=escrow_milestone,
            )
        audit_record(
            action="escrow.attestation_queued" if chain_tx else "escrow.attestation_awaited",
            actor=by,
            organization=agreement.organization,
            obj=escrow_milestone,
            after={
                "milestone": str(escrow_milestone.milestone_id),
                "evidence_hash": evidence_hash,
                "govtrack_attests": chain_tx is not None,
            },
        )
    return chain_tx


def escrow_milestone_lock_rows(milestone: Milestone) -> list:
    """MILESTONE_LOCK_HOOKS: an escrowed milestone's agreement and escrow milestone are locked before it, in the
    indexer's order (agreement → escrow milestone → milestone → audit head), so the two never deadlock."""
    row = EscrowMilestone.objects.filter(milestone_id=milestone.pk).values_list("pk", "agreement_id").first()
    if row is None:
        return []
    from apps.escrow.models import EscrowAgreement

    return [(EscrowAgreement, row[1]), (EscrowMilestone, row[0])]


def escrow_milestone_release_approved(*, milestone: Milestone, by=None) -> None:
    """MILESTONE_RELEASE_HOOKS: the approvals of an escrowed milestone suffice, so its attestation is queued in
    the same transaction (an agreement that cannot take it refuses the approval with the way forward)."""
    escrow_milestone = EscrowMilestone.objects.filter(milestone=milestone).select_related("agreement").first()
    if escrow_milestone is not None:
        # `by=None`: the attestation is govtrack's consequence of the approvals, whoever gave the last one.
        escrow_attest_queue(escrow_milestone=escrow_milestone, by=None)


def escrow_refund_queue(*, escrow_milestone: EscrowMilestone, by=None, reason: str = "") -> list[ChainTx]:
    """Queues refund(agreement, index) and claimRefund(agreement) for a milestone that will not be approved.

    The contract refunds only after the deadline, so the transactions wait for it (next_attempt_at). A funding
    milestone still open is recorded as missed now; it becomes refunded when MilestoneRefunded is confirmed.
    """
    agreement = escrow_milestone.agreement
    check(permissions.can_manage_escrow, by, agreement.organization)
    with transaction.atomic():
        agreement_lock(agreement.pk)  # its parent, then the agreement: docs/controls.md
        escrow_milestone = (
            EscrowMilestone.objects.select_for_update(of=("self",))
            .select_related("milestone")
            .get(pk=escrow_milestone.pk)
        )
        milestone = escrow_milestone.milestone
        if escrow_milestone.onchain_status not in (OnchainMilestoneStatus.NONE, OnchainMilestoneStatus.PENDING):
            raise Conflict(
                f"The milestone is already {escrow_milestone.get_onchain_status_display().lower()} on chain."
            )
        if milestone.status in (MilestoneStatus.VERIFIED, MilestoneStatus.RELEASED):
            raise Conflict("A verified milestone is attested, not refunded.")
        existing = _open_tx(escrow_milestone, ChainTxKind.REFUND)
        if existing is not None:
            raise Conflict("The refund of this milestone is already queued or done.", {"chain_tx": str(existing.pk)})
        if milestone.status in (*OPEN_MILESTONE_STATUSES, MilestoneStatus.DISPUTED):
            milestone_mark_missed(
                milestone=milestone, by=by, reason=reason or "Deadline passed without approval; refunded from escrow."
            )
        # The contract refunds strictly after the deadline (block.timestamp > deadline).
        not_before = max(escrow_milestone.deadline + dt.timedelta(seconds=1), timezone.now())
        common = {"organization": agreement.organization, "agreement": agreement, "escrow_milestone": escrow_milestone}
        txs = [
            chaintx_enqueue(
                kind=ChainTxKind.REFUND,
                to=agreement.contract_address,
                params={"index": escrow_milestone.index},
                not_before=not_before,
                **common,
            ),
            chaintx_enqueue(
                kind=ChainTxKind.CLAIM_REFUND, to=agreement.contract_address, not_before=not_before, **common
            ),
        ]
        audit_record(
            action="escrow.refund_queued",
            actor=by,
            organization=agreement.organization,
            obj=escrow_milestone,
            after={"milestone": str(milestone.pk), "not_before": not_before, "reason": reason},
        )
    return txs


def escrow_refund_expired(*, now=None) -> int:
    """Beat: queues the refund of every escrowed milestone past its deadline that the chain has not approved
    and whose funding milestone is not verified (a verified one is being attested)."""
    now = now or timezone.now()
    expired = (
        EscrowMilestone.objects.filter(
            agreement__chain_id=settings.ETH_CHAIN_ID,
            deadline__lt=now,
            onchain_status=OnchainMilestoneStatus.PENDING,
        )
        .exclude(milestone__status__in=[MilestoneStatus.VERIFIED, MilestoneStatus.RELEASED])
        .exclude(transactions__kind=ChainTxKind.REFUND, transactions__status__in=[*OPEN_TX_STATUSES, "confirmed"])
        .select_related("agreement__organization", "milestone")
    )
    queued = 0
    for escrow_milestone in expired:
        try:
            escrow_refund_queue(escrow_milestone=escrow_milestone, by=None)
            queued += 1
        except ApplicationError as exc:
            logger.warning("escrow milestone %s not refunded: %s", escrow_milestone.pk, exc.message)
    return queued
