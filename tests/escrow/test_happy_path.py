"""The whole way through, against a real anvil: agreement created on chain, attested when verified, released by the
indexer, withdrawn by the beneficiary and recorded as an on-chain disbursement."""

from decimal import Decimal

from apps.escrow.models import (
    AgreementStatus,
    ChainEvent,
    ChainTx,
    ChainTxKind,
    ChainTxStatus,
    EscrowMilestone,
    OnchainMilestoneStatus,
)
from apps.escrow.services.agreements import escrow_agreement_create
from apps.funding.models import Disbursement, DisbursementKind, MilestoneStatus
from tests.escrow.conftest import sync, verify_and_approve
from tests.escrow.factories import escrowable_investment


def test_agreement_attest_release_withdraw(chain, org, people):
    investment, (first, second) = escrowable_investment(org)
    signer_before = chain.balance(chain.signer)

    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    assert agreement.total_base_units == 4000_250000  # 1500.25 + 2500 USD at 6 decimals
    sync()
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE and agreement.onchain_id == 1
    assert chain.balance(chain.escrow.address) == 4000_250000
    assert chain.balance(chain.signer) == signer_before - 4000_250000
    assert set(ChainTx.objects.values_list("kind", "status")) == {
        (ChainTxKind.TOKEN_APPROVE, ChainTxStatus.CONFIRMED),
        (ChainTxKind.CREATE, ChainTxStatus.CONFIRMED),
    }

    verify_and_approve(first, people)
    attest = ChainTx.objects.get(kind=ChainTxKind.ATTEST)
    assert attest.status == ChainTxStatus.PENDING
    sync()
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.CONFIRMED and attest.tx_hash and attest.raw_tx

    escrow_first = EscrowMilestone.objects.get(milestone=first)
    on_chain = chain.milestone(agreement.onchain_id, 0)
    assert on_chain["status"] == 2 and on_chain["approvals"] == 1
    assert on_chain["evidence"] == escrow_first.evidence_hash == escrow_first.onchain_evidence_hash
    assert escrow_first.onchain_status == OnchainMilestoneStatus.APPROVED
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED
    second.refresh_from_db()
    assert second.status == MilestoneStatus.SUBMITTED
    assert chain.milestone(agreement.onchain_id, 1)["status"] == 1

    chain.transact(chain.escrow.functions.withdraw(agreement.onchain_id), chain.beneficiary)
    sync()
    assert chain.balance(chain.beneficiary) == 1500_250000
    disbursement = Disbursement.objects.get()
    assert disbursement.milestone == first and disbursement.amount == Decimal("1500.25")
    assert disbursement.kind == DisbursementKind.ONCHAIN
    assert disbursement.reference == ChainEvent.objects.get(name="Withdrawn").tx_hash
    first.refresh_from_db()
    assert first.amount_disbursed == Decimal("1500.25")

    # Indexing the same logs again changes nothing.
    from apps.escrow.models import SyncCursor

    SyncCursor.objects.update(last_block=-1, last_block_hash="")
    sync()
    assert Disbursement.objects.count() == 1
    assert ChainEvent.objects.filter(name="MilestoneApproved").count() == 1

    # And again in pages of one block, each next page fetched while the current one is stored.
    events = ChainEvent.objects.count()
    SyncCursor.objects.update(last_block=-1, last_block_hash="", page_size=1)
    result = sync()
    assert result["indexed"]["pages"] > 3
    assert ChainEvent.objects.count() == events and Disbursement.objects.count() == 1
