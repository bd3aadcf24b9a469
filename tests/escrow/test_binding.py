"""Which on-chain agreement is govtrack's, against a real anvil: a front-run copying the external ref from the
mempool, terms on chain that differ from the row, and a redeploy (every contract govtrack used stays indexed)."""

import datetime as dt

from django.db.models import F
from django.utils import timezone
from web3.logs import DISCARD

from apps.audit.models import AuditEvent
from apps.escrow.chain import ZERO_ADDRESS, Rpc
from apps.escrow.models import (
    AgreementStatus,
    ChainTx,
    ChainTxKind,
    ChainTxStatus,
    EscrowAgreement,
    EscrowMilestone,
    OnchainMilestoneStatus,
    SyncCursor,
)
from apps.escrow.services import sender
from apps.escrow.services.agreements import escrow_agreement_create
from apps.escrow.services.deployment import contract_deploy, escrow_contract_deploy
from apps.escrow.signer import signer_address
from apps.funding.models import MilestoneStatus
from tests.escrow.conftest import sync, verify_and_approve
from tests.escrow.factories import escrowable_investment

GWEI = 10**9


def _created_ids(chain, receipt) -> list[int]:
    return [
        event.args.agreementId
        for event in chain.escrow.events.AgreementCreated().process_receipt(receipt, errors=DISCARD)
    ]


def test_a_front_run_copying_our_external_ref_is_a_conflict_and_never_moves_our_milestone(
    chain, org, people, client_for
):
    investment, (first, _second) = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    # The allowance first (mined at once); then the create waits in the mempool with automine off.
    create = ChainTx.objects.get(kind=ChainTxKind.CREATE)
    ChainTx.objects.filter(pk=create.pk).update(next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    approve = ChainTx.objects.get(kind=ChainTxKind.TOKEN_APPROVE)
    for _ in range(3):  # a busy machine may see the receipt one round after the send (mined, then confirmed)
        sync()
        approve.refresh_from_db()
        if approve.status == ChainTxStatus.CONFIRMED:
            break
    assert approve.status == ChainTxStatus.CONFIRMED
    chain.rpc("evm_setAutomine", False)
    ChainTx.objects.filter(pk=create.pk).update(next_attempt_at=None)
    sender.escrow_send_due()
    create.refresh_from_db()
    assert create.status == ChainTxStatus.SENT

    # The attacker reads govtrack's pending calldata, copies the external ref, and outbids it for a 1-wei agreement.
    attacker, attacker_beneficiary = chain.w3.eth.accounts[5], chain.w3.eth.accounts[6]
    pending = chain.w3.eth.get_transaction(create.tx_hash)
    _function, args = chain.escrow.decode_function_input(pending["input"])
    assert "0x" + args["externalRef"].hex() == agreement.external_ref
    deadline = int(timezone.now().timestamp()) + 86_400
    attack = chain.escrow.functions.createAgreement(
        attacker_beneficiary, ZERO_ADDRESS, [1], [deadline], [attacker], 1, args["externalRef"]
    ).transact({"from": attacker, "value": 1, "maxPriorityFeePerGas": 50 * GWEI, "maxFeePerGas": 100 * GWEI})
    chain.rpc("evm_mine")
    chain.rpc("evm_setAutomine", True)
    attack_receipt = chain.w3.eth.get_transaction_receipt(attack)
    our_receipt = chain.w3.eth.get_transaction_receipt(create.tx_hash)
    assert attack_receipt.blockNumber == our_receipt.blockNumber
    assert attack_receipt.transactionIndex < our_receipt.transactionIndex  # the attacker's was mined first
    (attacker_id,), (our_id,) = _created_ids(chain, attack_receipt), _created_ids(chain, our_receipt)

    sync()
    agreement.refresh_from_db()
    assert agreement.onchain_id == our_id != attacker_id
    assert agreement.status == AgreementStatus.ACTIVE
    (conflict,) = agreement.conflicts
    assert conflict["onchain_id"] == attacker_id and conflict["funder"] == attacker
    assert conflict["tx_hash"] == "0x" + bytes(attack).hex()
    assert AuditEvent.objects.filter(action="escrow.agreement_conflict", object_id=str(agreement.pk)).count() == 1
    shown = client_for(people["viewer"]).get(f"/api/escrow/agreements/{agreement.pk}/").json()
    assert shown["onchain_id"] == our_id and shown["conflicts"][0]["onchain_id"] == attacker_id

    # The attacker attests its own agreement: it is approved on chain, and govtrack's milestone does not move.
    chain.transact(chain.escrow.functions.attest(attacker_id, 0, b"\x11" * 32), attacker)
    assert chain.milestone(attacker_id, 0)["status"] == 2
    sync()
    first.refresh_from_db()
    assert first.status == MilestoneStatus.SUBMITTED
    assert EscrowMilestone.objects.get(milestone=first).onchain_status == OnchainMilestoneStatus.PENDING
    agreement.refresh_from_db()
    assert len(agreement.conflicts) == 1

    # govtrack's own attestation goes to its own agreement, which holds the deposit, and releases the milestone.
    verify_and_approve(first, people)
    sync()
    attest = ChainTx.objects.get(kind=ChainTxKind.ATTEST)
    assert attest.status == ChainTxStatus.CONFIRMED
    assert chain.milestone(our_id, 0)["status"] == 2 and chain.milestone(our_id, 1)["status"] == 1
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED


def test_terms_on_chain_that_differ_from_the_row_are_a_conflict_not_a_binding(chain, org, people):
    """govtrack's own receipt, but the chain's deadlines are not the row's (the row and the call data came
    apart): the agreement is not bound, shows what differs, and nothing is attested against it."""
    investment, (first, _second) = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    EscrowMilestone.objects.filter(agreement=agreement, index=1).update(deadline=F("deadline") + dt.timedelta(days=1))
    sync()
    assert ChainTx.objects.get(kind=ChainTxKind.CREATE).status == ChainTxStatus.CONFIRMED
    agreement.refresh_from_db()
    assert agreement.onchain_id is None and agreement.status == AgreementStatus.CREATING
    (conflict,) = agreement.conflicts
    assert conflict["onchain_id"] == 1 and conflict["funder"] == signer_address()
    assert any(problem.startswith("milestones (amount, deadline)") for problem in conflict["problems"])
    sync()  # judged once
    agreement.refresh_from_db()
    assert len(agreement.conflicts) == 1
    assert AuditEvent.objects.filter(action="escrow.agreement_conflict").count() == 1
    # A release approved meanwhile waits for an agreement id that govtrack never took from someone else's word.
    verify_and_approve(first, people)
    sync()
    attest = ChainTx.objects.get(kind=ChainTxKind.ATTEST)
    assert attest.status == ChainTxStatus.PENDING and "Waiting for the agreement" in attest.last_error
    first.refresh_from_db()
    assert first.status != MilestoneStatus.RELEASED


def test_after_a_redeploy_every_contract_govtrack_used_is_indexed(chain, org, people, settings):
    """An agreement on the configured contract, then ESCROW_ADDRESS cleared and two contracts deployed by govtrack,
    one agreement on each (all three are agreement #1 of their contract): the events of all three contracts are
    applied, each to its own agreement, from its own cursor."""
    rpc = Rpc()
    configured = settings.ESCROW_ADDRESS
    parents = []

    def escrow_one():
        investment, milestones = escrowable_investment(org)
        agreement = escrow_agreement_create(
            parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
        )
        parents.append((agreement, milestones[0]))
        sync()

    escrow_one()
    settings.ESCROW_ADDRESS = ""
    old, deployed = escrow_contract_deploy(rpc=rpc)
    assert deployed
    escrow_one()
    new = contract_deploy(rpc=rpc, artifact="MilestoneEscrow", args=[signer_address()]).contract_address
    escrow_one()

    contracts = [agreement.contract_address for agreement, _ in parents]
    assert contracts == [configured, old, new]
    assert set(EscrowAgreement.objects.values_list("onchain_id", flat=True)) == {1}
    for _agreement, milestone in parents:
        verify_and_approve(milestone, people)
    sync()
    for agreement, milestone in parents:
        milestone.refresh_from_db()
        assert milestone.status == MilestoneStatus.RELEASED, agreement.contract_address
        escrow_milestone = EscrowMilestone.objects.get(milestone=milestone)
        assert escrow_milestone.onchain_status == OnchainMilestoneStatus.APPROVED
    head = int(chain.rpc("eth_blockNumber"), 16)
    cursors = dict(SyncCursor.objects.values_list("contract_address", "last_block"))
    assert cursors == {configured: head, old: head, new: head}
