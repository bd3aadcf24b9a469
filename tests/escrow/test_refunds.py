"""A milestone that misses its deadline goes back to the funder: refund + claimRefund after the deadline
(anvil's evm_increaseTime moves the chain's clock), MilestoneRefunded makes the funding milestone refunded."""

import datetime as dt

from django.utils import timezone

from apps.escrow.models import ChainTx, ChainTxKind, ChainTxStatus, EscrowAgreement, EscrowMilestone
from apps.escrow.services.agreements import escrow_agreement_create
from apps.escrow.services.attestations import escrow_refund_expired
from apps.funding.models import MilestoneStatus
from tests.escrow.conftest import sync
from tests.escrow.factories import escrowable_investment

REFUNDED = 3


def test_refund_after_deadline(chain, org, people):
    investment, (early, late) = escrowable_investment(org, amounts=("100", "200"), days=(1, 30))
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    sync()
    agreement.refresh_from_db()
    funder_before = chain.balance(chain.signer)
    escrow_early = EscrowMilestone.objects.get(milestone=early)

    assert escrow_refund_expired() == 0  # nothing past its deadline yet

    chain.rpc("evm_increaseTime", 3 * 86_400)
    chain.mine(1)
    later = timezone.now() + dt.timedelta(days=3)
    assert escrow_refund_expired(now=later) == 1
    early.refresh_from_db()
    assert early.status == MilestoneStatus.MISSED
    refund = ChainTx.objects.get(kind=ChainTxKind.REFUND)
    assert refund.next_attempt_at == escrow_early.deadline + dt.timedelta(seconds=1)

    ChainTx.objects.update(next_attempt_at=None)  # the chain's clock is ahead of ours
    sync()
    assert set(
        ChainTx.objects.filter(kind__in=[ChainTxKind.REFUND, ChainTxKind.CLAIM_REFUND]).values_list("status", flat=True)
    ) == {ChainTxStatus.CONFIRMED}
    assert chain.milestone(agreement.onchain_id, 0)["status"] == REFUNDED
    assert chain.milestone(agreement.onchain_id, 1)["status"] == 1
    assert chain.balance(chain.signer) == funder_before + 100_000000
    assert chain.balance(chain.escrow.address) == 200_000000
    early.refresh_from_db()
    late.refresh_from_db()
    assert early.status == MilestoneStatus.REFUNDED and late.status == MilestoneStatus.SUBMITTED
    escrow_early.refresh_from_db()
    assert escrow_early.onchain_status == "refunded"
    agreement = EscrowAgreement.objects.get(pk=agreement.pk)
    assert agreement.refunded_base_units == 100_000000
    assert escrow_refund_expired(now=later) == 0  # queued once
