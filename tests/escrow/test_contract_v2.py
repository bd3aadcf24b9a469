"""Contract v2 against a real anvil: a rogue approver cannot block an honest 2-of-3, a paused contract holds
govtrack's attestation until it is unpaused, funder and beneficiary extend a deadline, and the contract is
deployed with a separate owner (never the signing key)."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from eth_account import Account

from apps.escrow.models import (
    ChainEvent,
    ChainTx,
    ChainTxKind,
    ChainTxStatus,
    EscrowContract,
    EscrowMilestone,
    OnchainMilestoneStatus,
)
from apps.escrow.services.agreements import escrow_agreement_create
from apps.escrow.services.deployment import escrow_contract_deploy
from apps.escrow.signer import signer_address
from apps.funding.models import Disbursement, DisbursementKind, MilestoneStatus
from tests.escrow.conftest import OWNER_KEY, sync, verify_and_approve
from tests.escrow.factories import escrowable_investment
from tests.escrow.test_services import BENEFICIARY, offline  # noqa: F401 (fixture)
from tests.funding.factories import GrantFactory, MilestoneFactory

ROGUE_HASH = "0x" + "ba" * 32


def _escrowed(chain, org, people, **terms):
    investment, milestones = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary, **terms
    )
    sync()
    agreement.refresh_from_db()
    assert agreement.onchain_id is not None
    return agreement, milestones


def test_rogue_approver_cannot_block_honest_two_of_three(chain, org, people):
    honest, rogue = chain.w3.eth.accounts[3], chain.w3.eth.accounts[4]
    agreement, (first, _second) = _escrowed(
        chain,
        org,
        people,
        approvers=[
            {"address": chain.signer, "kind": "govtrack"},
            {"address": honest, "kind": "eoa"},
            {"address": rogue, "kind": "eoa"},
        ],
        threshold=2,
    )
    escrow = chain.escrow.functions

    # The rogue approver attests a wrong hash first (in v1 this bound the milestone and blocked everyone else).
    chain.transact(escrow.attest(agreement.onchain_id, 0, bytes.fromhex(ROGUE_HASH[2:])), rogue)
    verify_and_approve(first, people)
    # The approval's own after-commit round may hold the row while this one runs (rows are taken skip-locked):
    # the next round confirms what that one left mined, as beat's next tick would.
    for _ in range(5):
        sync()
        attest = ChainTx.objects.get(kind=ChainTxKind.ATTEST)
        if attest.status == ChainTxStatus.CONFIRMED:
            break
    assert attest.status == ChainTxStatus.CONFIRMED, attest.last_error
    escrow_first = EscrowMilestone.objects.get(milestone=first)
    report_hash = escrow_first.evidence_hash
    assert escrow.evidenceVotes(agreement.onchain_id, 0, bytes.fromhex(report_hash[2:])).call() == 1
    assert chain.milestone(agreement.onchain_id, 0)["status"] == 1  # one vote per hash: not yet

    # The second honest approver attests govtrack's report: released.
    chain.transact(escrow.attest(agreement.onchain_id, 0, bytes.fromhex(report_hash[2:])), honest)
    sync()
    escrow_first.refresh_from_db()
    first.refresh_from_db()
    assert escrow_first.onchain_status == OnchainMilestoneStatus.APPROVED
    assert first.status == MilestoneStatus.RELEASED
    assert escrow_first.onchain_evidence_hash == report_hash
    assert "0x" + escrow.approvedEvidenceHash(agreement.onchain_id, 0).call().hex() == report_hash

    # The disagreement stays visible: who attested which hash, and the rogue hash's own count.
    attested = ChainEvent.objects.filter(name="Attested", agreement_onchain_id=agreement.onchain_id).order_by(
        "block_number", "log_index"
    )
    assert [(e.args["approver"], e.args["evidenceHash"], e.args["approvals"]) for e in attested] == [
        (rogue, ROGUE_HASH, "1"),
        (chain.signer, report_hash, "1"),
        (honest, report_hash, "2"),
    ]
    assert escrow.evidenceVotes(agreement.onchain_id, 0, bytes.fromhex(ROGUE_HASH[2:])).call() == 1

    # The beneficiary withdraws; govtrack records the disbursement.
    chain.transact(escrow.withdraw(agreement.onchain_id), chain.beneficiary)
    sync()
    paid = Disbursement.objects.get(milestone=first)
    assert paid.kind == DisbursementKind.ONCHAIN and paid.amount == first.amount


def test_paused_contract_holds_the_attestation_until_unpaused(chain, org, people, settings, monkeypatch, client_for):
    settings.ESCROW_POLL_SECONDS = 0  # a waiting row is due again at once
    monkeypatch.setenv("ESCROW_DEV_OWNER_KEY", OWNER_KEY)
    assert Account.from_key(OWNER_KEY).address == chain.deployer == chain.escrow.functions.owner().call()
    agreement, (first, _second) = _escrowed(chain, org, people)

    printed = StringIO()
    call_command("escrow_pause", stdout=printed)  # without --send: what the owner signs
    assert "pause() for the owner to sign" in printed.getvalue() and "data  0x8456cb59" in printed.getvalue()
    assert chain.escrow.functions.paused().call() is False
    call_command("escrow_pause", send=True, stdout=StringIO())
    assert chain.escrow.functions.paused().call() is True

    verify_and_approve(first, people)
    sync()
    sync()
    attest = ChainTx.objects.get(kind=ChainTxKind.ATTEST)
    assert attest.status == ChainTxStatus.PENDING and attest.attempts == 0 and not attest.tx_hash
    assert "paused" in attest.last_error
    assert chain.milestone(agreement.onchain_id, 0)["status"] == 1
    contract = EscrowContract.objects.get(address=chain.escrow.address)
    assert contract.paused and contract.paused_changed_tx
    response = client_for(people["viewer"]).get(f"/api/escrow/agreements/{agreement.pk}/")
    assert response.status_code == 200 and response.json()["contract_paused"] is True
    listed = client_for(people["viewer"]).get("/api/escrow/agreements/").json()["results"]
    assert [row["contract_paused"] for row in listed] == [True]

    call_command("escrow_pause", unpause=True, send=True, stdout=StringIO())
    sync()
    sync()
    attest.refresh_from_db()
    first.refresh_from_db()
    assert attest.status == ChainTxStatus.CONFIRMED, attest.last_error
    assert first.status == MilestoneStatus.RELEASED
    contract.refresh_from_db()
    assert contract.paused is False
    response = client_for(people["viewer"]).get(f"/api/escrow/agreements/{agreement.pk}/")
    assert response.json()["contract_paused"] is False


def test_attestation_signed_before_a_pause_is_queued_again(chain, org, people, settings):
    """Signed and sent, then the owner's pause is mined first in the same block: the attestation reverts with
    EnforcedPause, and the same attestation is queued again and waits for the unpause."""
    settings.ESCROW_POLL_SECONDS = 0
    _agreement, (first, _second) = _escrowed(chain, org, people)
    verify_and_approve(first, people)
    chain.rpc("evm_setAutomine", False)
    try:
        sync()  # signed and broadcast, not mined
        attest = ChainTx.objects.get(kind=ChainTxKind.ATTEST)
        assert attest.status == ChainTxStatus.SENT
        gwei = 10**9
        chain.escrow.functions.pause().transact(
            {"from": chain.deployer, "maxPriorityFeePerGas": 100 * gwei, "maxFeePerGas": 400 * gwei}
        )
        chain.mine()
    finally:
        chain.rpc("evm_setAutomine", True)
    assert chain.escrow.functions.paused().call() is True
    sync()
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.FAILED and "EnforcedPause" in attest.last_error
    again = ChainTx.objects.get(retry_of=attest)
    sync()
    again.refresh_from_db()
    assert again.status == ChainTxStatus.PENDING and "paused" in again.last_error

    chain.transact(chain.escrow.functions.unpause(), chain.deployer)
    sync()
    sync()
    again.refresh_from_db()
    first.refresh_from_db()
    assert again.status == ChainTxStatus.CONFIRMED, again.last_error
    assert first.status == MilestoneStatus.RELEASED


def test_deadline_extended_by_funder_and_beneficiary(chain, org, people, client_for):
    agreement, (first, _second) = _escrowed(chain, org, people)
    escrow_first = EscrowMilestone.objects.get(milestone=first)
    old = escrow_first.deadline
    later = old + dt.timedelta(days=14)
    client = client_for(people["finance"])
    url = f"/api/escrow/milestones/{escrow_first.pk}/deadline-extension/"

    assert client.post(url, {"deadline": old.isoformat()}).status_code == 400  # not later
    assert client.post(url, {"deadline": later.isoformat(), "confirm": True}).status_code == 409  # nothing proposed
    assert client_for(people["viewer"]).post(url, {"deadline": later.isoformat()}).status_code == 403

    # govtrack (the funder) proposes through the outbox; the beneficiary confirms on chain.
    response = client.post(url, {"deadline": later.isoformat()})
    assert response.status_code == 202, response.json()
    sync()
    escrow_first.refresh_from_db()
    assert escrow_first.proposed_deadline == later.replace(microsecond=0)
    assert escrow_first.proposed_deadline_by == signer_address()
    seconds = int(later.timestamp())
    chain.transact(chain.escrow.functions.confirmDeadlineExtension(agreement.onchain_id, 0, seconds), chain.beneficiary)
    sync()
    escrow_first.refresh_from_db()
    assert escrow_first.deadline == dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    assert escrow_first.proposed_deadline is None
    assert chain.escrow.functions.getMilestone(agreement.onchain_id, 0).call()[1] == seconds

    # The other way round: the beneficiary proposes, govtrack confirms exactly that deadline.
    even_later = seconds + 7 * 86400
    chain.transact(
        chain.escrow.functions.proposeDeadlineExtension(agreement.onchain_id, 0, even_later), chain.beneficiary
    )
    sync()
    proposed = dt.datetime.fromtimestamp(even_later, tz=dt.UTC).isoformat()
    response = client.post(url, {"deadline": proposed, "confirm": True}, format="json")
    assert response.status_code == 202, response.json()
    sync()
    escrow_first.refresh_from_db()
    assert int(escrow_first.deadline.timestamp()) == even_later
    assert chain.escrow.functions.getMilestone(agreement.onchain_id, 0).call()[1] == even_later


def test_deploy_with_a_separate_owner(chain, settings):
    from apps.escrow.chain import Rpc

    rpc = Rpc()
    settings.ESCROW_ADDRESS = ""
    settings.ESCROW_OWNER_ADDRESS = signer_address()
    with pytest.raises(CommandError, match="signing key"):
        call_command("escrow_deploy", stdout=StringIO())

    owner = chain.w3.eth.accounts[5]
    settings.ESCROW_OWNER_ADDRESS = owner
    address, deployed = escrow_contract_deploy(rpc=rpc)
    assert deployed
    deployed_escrow = chain.w3.eth.contract(address=address, abi=chain.escrow.abi)
    assert deployed_escrow.functions.owner().call() == owner != signer_address()
    deploy = ChainTx.objects.get(kind=ChainTxKind.DEPLOY)
    assert deploy.params["args"] == [owner]


def test_grant_page_says_when_the_contract_is_paused(offline, org, people, client):  # noqa: F811
    grant = GrantFactory(organization=org, currency="USD")
    MilestoneFactory(grant=grant, organization=org, currency="USD", amount=Decimal("100"))
    agreement = escrow_agreement_create(
        parent=grant, by=people["finance"], token=offline, beneficiary_address=BENEFICIARY
    )
    client.force_login(people["viewer"])

    def notice() -> bool:
        page = client.get(f"/grants/{grant.pk}/")
        assert page.status_code == 200
        return 'data-testid="escrow-paused"' in page.content.decode()

    assert not notice()
    contract = EscrowContract.objects.create(chain_id=31337, address=agreement.contract_address, paused=True)
    assert notice()
    contract.paused = False
    contract.save()
    assert not notice()


def test_a_reorged_pause_is_undone(db):
    from apps.escrow.services.effects import contract_event_apply, event_remove

    address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    paused = ChainEvent.objects.create(
        chain_id=31337,
        contract_address=address,
        block_number=7,
        block_hash="0x" + "07" * 32,
        block_timestamp=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        tx_hash="0x" + "aa" * 32,
        log_index=0,
        name="Paused",
        args={"account": "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"},
    )
    contract_event_apply(event=paused)
    contract_event_apply(event=paused)  # once
    contract = EscrowContract.objects.get(address=address)
    assert contract.paused and contract.paused_changed_tx == paused.tx_hash
    event_remove(event=paused)
    contract.refresh_from_db()
    assert not contract.paused and contract.paused_changed_at is None and contract.paused_changed_tx == ""


def test_the_signing_key_is_the_owner_only_on_the_local_chain_when_asked(offline, settings):  # noqa: F811
    from apps.core.errors import Conflict
    from apps.escrow.owner import escrow_owner_address

    settings.ESCROW_OWNER_ADDRESS = ""
    signer = signer_address()
    with pytest.raises(Conflict, match="signing key"):
        escrow_owner_address(owner=signer)
    assert escrow_owner_address(owner=signer, allow_signer_owner=True) == signer
    settings.ETH_CHAIN_ID = 1
    with pytest.raises(Conflict, match="signing key"):
        escrow_owner_address(owner=signer, allow_signer_owner=True)
    settings.ESCROW_ALLOW_LOCAL_DEV_KEY = True
    with pytest.raises(Conflict, match="ESCROW_OWNER_ADDRESS"):
        escrow_owner_address()  # no dev owner off the local chain
    with pytest.raises(Conflict, match="not an address"):
        escrow_owner_address(owner="0x12")
