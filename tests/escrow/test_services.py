"""Service rules that need no chain node: what may go into escrow, the evidence hash, the release guard, retry."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.canonical import canonical_json, sha256_hex
from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.escrow.models import ChainTx, ChainTxKind, ChainTxStatus, EscrowToken
from apps.escrow.services.agreements import base_units, escrow_agreement_create
from apps.escrow.services.attestations import milestone_evidence_hash
from apps.escrow.services.outbox import chaintx_retry
from apps.funding.models import CriterionKind, CriterionStatus, MilestoneCriterion, MilestoneStatus
from apps.funding.services.milestones import milestone_approve_release
from tests.escrow.conftest import SIGNER_KEY
from tests.escrow.factories import escrowable_investment

BENEFICIARY = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.fixture
def offline(settings, monkeypatch, db):
    monkeypatch.setenv("ESCROW_SIGNER_KEY", SIGNER_KEY)
    settings.ETH_CHAIN_ID = 31337
    settings.ESCROW_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    settings.ESCROW_SEND_ON_COMMIT = False
    return EscrowToken.objects.create(
        chain_id=31337, address="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", symbol="DUSD", decimals=6, currency="USD"
    )


def test_base_units_are_exact():
    assert base_units(Decimal("1500.25"), 6) == 1_500_250_000
    with pytest.raises(ValidationFailed):
        base_units(Decimal("0.05"), 1)


def test_agreement_queues_allowance_then_create(offline, org, people):
    investment, _ = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=offline, beneficiary_address=BENEFICIARY
    )
    kinds = list(ChainTx.objects.order_by("created_at").values_list("kind", flat=True))
    assert kinds == [ChainTxKind.TOKEN_APPROVE, ChainTxKind.CREATE]
    assert agreement.milestones.count() == 2 and agreement.external_ref.startswith("0x")
    assert len(agreement.external_ref) == 66


def test_agreement_refuses_other_currency_roles_and_past_deadlines(offline, org, people):
    investment, milestones = escrowable_investment(org)
    eur = EscrowToken.objects.create(
        chain_id=31337, address="0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0", symbol="EURC", decimals=6, currency="EUR"
    )
    with pytest.raises(ValidationFailed, match="stands for EUR"):
        escrow_agreement_create(parent=investment, by=people["finance"], token=eur, beneficiary_address=BENEFICIARY)
    with pytest.raises(PermissionDenied, match="finance"):
        escrow_agreement_create(
            parent=investment, by=people["engineer"], token=offline, beneficiary_address=BENEFICIARY
        )
    milestones[0].due_date = timezone.localdate() - dt.timedelta(days=2)
    milestones[0].save()
    with pytest.raises(ValidationFailed, match="deadline has passed"):
        escrow_agreement_create(parent=investment, by=people["finance"], token=offline, beneficiary_address=BENEFICIARY)
    assert not ChainTx.objects.exists()


def test_evidence_hash_is_the_compute_report_or_the_record(offline, org):
    _, (compute_only, manual) = escrowable_investment(org)
    report = "ab" * 32
    MilestoneCriterion.objects.create(
        milestone=compute_only,
        kind=CriterionKind.COMPUTE,
        description="8 GPUs at 70%",
        status=CriterionStatus.MET,
        last_result={"report_sha256": report, "passed": True},
    )
    assert milestone_evidence_hash(compute_only) == "0x" + report

    criterion = MilestoneCriterion.objects.create(
        milestone=manual, kind=CriterionKind.MANUAL, description="Board approval", status=CriterionStatus.MET
    )
    record = {
        "milestone": manual.pk,
        "criteria": [
            {"id": criterion.pk, "kind": "manual", "description": "Board approval", "status": "met", "result": {}}
        ],
        "evidence": [],
    }
    assert milestone_evidence_hash(manual) == "0x" + sha256_hex(canonical_json(record))


def test_escrowed_milestone_is_not_released_by_approval(offline, org, people):
    investment, (milestone, _) = escrowable_investment(org, status=MilestoneStatus.VERIFIED)
    escrow_agreement_create(parent=investment, by=people["finance"], token=offline, beneficiary_address=BENEFICIARY)
    # A milestone verified before it went into escrow waits for its release approvals like any other.
    assert ChainTx.objects.filter(kind=ChainTxKind.ATTEST).count() == 0
    released = milestone_approve_release(milestone=milestone, by=people["finance"])
    # The approval queues the attestation; the chain's MilestoneApproved event releases it, not the approval.
    assert released.status == MilestoneStatus.VERIFIED and released.release_authorized_at is not None
    assert ChainTx.objects.filter(kind=ChainTxKind.ATTEST, escrow_milestone__milestone=milestone).count() == 1
    with pytest.raises(Conflict, match="already approved"):
        milestone_approve_release(milestone=milestone, by=people["owner"])


def test_escrowed_milestone_is_not_refunded_or_paid_by_hand(offline, org, people):
    from apps.funding.models import Disbursement, Milestone
    from apps.funding.services.disbursements import disbursement_record
    from apps.funding.services.milestones import milestone_refund

    investment, (missed, released) = escrowable_investment(org, status=MilestoneStatus.PLANNED)
    escrow_agreement_create(parent=investment, by=people["finance"], token=offline, beneficiary_address=BENEFICIARY)
    Milestone.objects.filter(pk=missed.pk).update(status=MilestoneStatus.MISSED)
    Milestone.objects.filter(pk=released.pk).update(status=MilestoneStatus.RELEASED)
    with pytest.raises(Conflict, match="refund happens on chain"):
        milestone_refund(milestone=Milestone.objects.get(pk=missed.pk), by=people["finance"])
    with pytest.raises(Conflict, match="paid from the escrow contract"):
        disbursement_record(milestone=released, by=people["finance"], amount="10", paid_on="2026-11-20")
    assert Milestone.objects.get(pk=missed.pk).status == MilestoneStatus.MISSED
    assert not Disbursement.objects.exists()


def test_retry_of_a_failed_transaction_queues_a_new_one(offline, org, people):
    investment, _ = escrowable_investment(org)
    escrow_agreement_create(parent=investment, by=people["finance"], token=offline, beneficiary_address=BENEFICIARY)
    failed = ChainTx.objects.get(kind=ChainTxKind.CREATE)
    failed.status, failed.last_error = ChainTxStatus.FAILED, "The node refuses the call: DepositMismatch(...)."
    failed.save()
    with pytest.raises(PermissionDenied):
        chaintx_retry(chain_tx=failed, by=people["viewer"])
    retry = chaintx_retry(chain_tx=failed, by=people["owner"])
    assert retry.pk != failed.pk and retry.retry_of == failed and retry.status == ChainTxStatus.PENDING
    # A create goes again with a fresh approve of its own (the allowance the failed one met may be gone).
    approve = ChainTx.objects.get(pk=retry.params["approve"])
    assert approve.kind == ChainTxKind.TOKEN_APPROVE and approve.status == ChainTxStatus.PENDING
    assert retry.params["data"] == failed.params["data"]
    with pytest.raises(Conflict, match="already retried"):
        chaintx_retry(chain_tx=failed, by=people["owner"])


@pytest.mark.parametrize("amount", ["1500.25", "500000"])
def test_one_person_cannot_release_an_escrowed_milestone_at_any_amount(offline, org, people, amount):
    from apps.funding.models import OrganizationPolicy
    from apps.funding.services.milestones import milestone_verify

    OrganizationPolicy.objects.create(organization=org, dual_approval_above=Decimal("50000"))
    investment, (milestone, _) = escrowable_investment(org, amounts=(amount, "10"))
    escrow_agreement_create(parent=investment, by=people["finance"], token=offline, beneficiary_address=BENEFICIARY)
    milestone_verify(milestone=milestone, by=people["finance"])
    if Decimal(amount) <= 50000:
        with pytest.raises(PermissionDenied, match="a second person must approve"):
            milestone_approve_release(milestone=milestone, by=people["finance"])
    else:  # above the threshold the verifier may give the finance approval; the owner's is still missing
        assert milestone_approve_release(milestone=milestone, by=people["finance"]).release_authorized_at is None
        with pytest.raises(Conflict, match="already approved"):
            milestone_approve_release(milestone=milestone, by=people["finance"])
    assert not ChainTx.objects.filter(kind=ChainTxKind.ATTEST).exists()
    milestone_approve_release(milestone=milestone, by=people["owner"])
    assert ChainTx.objects.filter(kind=ChainTxKind.ATTEST).count() == 1
