"""Safe approvers against a real anvil and a real Safe 1.4.1, deployed from the npm @safe-global/safe-contracts
artifacts: a Safe checked when added, the Safe transaction govtrack produces, refused with one owner's signature
and executed with two of three, the beneficiary paid and the disbursement recorded; no doomed attest of govtrack's
own for a Safe-only agreement; a hash that is not govtrack's report holds the milestone in conflict."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from eth_account import Account
from web3.exceptions import ContractLogicError

from apps.escrow.models import ApproverKind, ChainTx, ChainTxKind, EscrowAgreement, EscrowMilestone
from apps.funding.models import Disbursement, DisbursementKind, Milestone, MilestoneStatus
from tests.escrow.conftest import CONTRACTS, sync, verify_and_approve
from tests.escrow.test_services import BENEFICIARY, offline  # noqa: F401 (fixture)
from tests.funding.factories import GrantFactory

SAFE_ARTIFACTS = CONTRACTS / "node_modules" / "@safe-global" / "safe-contracts" / "build" / "artifacts" / "contracts"
# anvil's default accounts 2, 3 and 4 (public keys printed by anvil): the Safe's three owners.
OWNER_KEYS = [
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
]
ZERO = "0x0000000000000000000000000000000000000000"


def safe_artifact(path: str) -> dict:
    return json.loads((SAFE_ARTIFACTS / path).read_text())


class SafeOnAnvil:
    """The Safe 1.4.1 singleton and proxy factory, and one 2-of-3 Safe made through them."""

    def __init__(self, chain, threshold: int = 2):
        self.chain = chain
        w3 = chain.w3
        safe_art = safe_artifact("Safe.sol/Safe.json")
        factory_art = safe_artifact("proxies/SafeProxyFactory.sol/SafeProxyFactory.json")
        singleton = self._deploy(safe_art)
        factory = self._deploy(factory_art)
        self.owners = [Account.from_key(key) for key in OWNER_KEYS]
        setup = w3.eth.contract(abi=safe_art["abi"]).encode_abi(
            "setup", args=[[o.address for o in self.owners], threshold, ZERO, b"", ZERO, ZERO, 0, ZERO]
        )
        create = factory.functions.createProxyWithNonce(singleton.address, bytes.fromhex(setup[2:]), 1)
        address = create.call({"from": chain.deployer})
        chain.transact(create, chain.deployer)
        self.contract = w3.eth.contract(address=address, abi=safe_art["abi"])
        self.address = address

    def _deploy(self, art: dict):
        factory = self.chain.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = self.chain.transact(factory.constructor(), self.chain.deployer)
        return self.chain.w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])

    def signatures(self, safe_tx_hash: str, owners) -> bytes:
        """ECDSA signatures of the safeTxHash, sorted by owner address as the Safe requires."""
        signed = sorted(
            ((o.address.lower(), Account.unsafe_sign_hash(safe_tx_hash, o.key).signature) for o in owners),
            key=lambda pair: pair[0],
        )
        return b"".join(signature for _, signature in signed)

    def exec_call(self, tx: dict, signatures: bytes):
        return self.contract.functions.execTransaction(
            tx["to"],
            int(tx["value"]),
            bytes.fromhex(tx["data"][2:]),
            tx["operation"],
            int(tx["safe_tx_gas"]),
            int(tx["base_gas"]),
            int(tx["gas_price"]),
            tx["gas_token"],
            tx["refund_receiver"],
            signatures,
        )


@pytest.fixture
def safe(chain):
    return SafeOnAnvil(chain)


def grant_page(user, grant) -> str:
    """The grant's dashboard page as the signed-in user's browser gets it."""
    browser = Client()
    browser.force_login(user)
    response = browser.get(f"/grants/{grant.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def escrowable_grant(org, *, amounts=("1200", "800"), status=MilestoneStatus.SUBMITTED):
    grant = GrantFactory(organization=org, currency="USD", amount_requested=Decimal(5000), amount_awarded=Decimal(5000))
    today = timezone.localdate()
    milestones = [
        Milestone.objects.create(
            organization=org,
            grant=grant,
            title=f"Phase {i + 1}",
            amount=Decimal(amount),
            currency="USD",
            due_date=today + dt.timedelta(days=30 * (i + 1)),
            status=status,
        )
        for i, amount in enumerate(amounts)
    ]
    return grant, milestones


def create_through_api(client, grant, chain, approvers, threshold=1):
    body = {
        "grant": str(grant.pk),
        "token": str(chain.usd.pk),
        "beneficiary_address": chain.beneficiary,
        "approvers": approvers,
        "threshold": threshold,
    }
    return client.post("/api/escrow/agreements/", body, format="json")


def test_safe_two_of_three_approves_and_the_beneficiary_is_paid(chain, safe, org, people, client_for):
    client = client_for(people["finance"])
    grant, (first, _) = escrowable_grant(org)

    # An account given as a Safe, and the Safe given as an account, are refused naming the field.
    refused = create_through_api(client, grant, chain, [{"address": chain.beneficiary, "kind": "safe"}])
    assert refused.status_code == 400 and "approvers" in refused.json()["extra"]["fields"]
    assert "not a Safe" in refused.json()["message"]
    refused = create_through_api(client, grant, chain, [{"address": safe.address, "kind": "eoa"}])
    assert refused.status_code == 400 and "kind 'safe'" in refused.json()["message"]
    assert not EscrowAgreement.objects.exists()

    created = create_through_api(client, grant, chain, [{"address": safe.address, "kind": "safe"}])
    assert created.status_code == 201, created.json()
    (approver,) = created.json()["approvers"]
    assert approver["kind"] == "safe" and approver["address"] == safe.address
    assert approver["safe_threshold"] == 2 and approver["safe_owners"] == [o.address for o in safe.owners]
    sync()
    agreement = EscrowAgreement.objects.get()
    assert agreement.onchain_id is not None

    # Nothing to sign before govtrack has a report hash for the milestone.
    escrow_first = EscrowMilestone.objects.get(milestone=first)
    path = f"/api/escrow/milestones/{escrow_first.pk}/safe-transactions/{safe.address}/"
    assert client.get(path).status_code == 409

    # Verified and approved for release: no attest of govtrack's own (its signer is no approver), a Safe transaction.
    verify_and_approve(first, people)
    assert not ChainTx.objects.filter(kind=ChainTxKind.ATTEST).exists()
    response = client.get(path)
    assert response.status_code == 200, response.json()
    tx = response.json()
    escrow_first.refresh_from_db()
    assert tx["to"] == chain.escrow.address and tx["value"] == "0" and tx["operation"] == 0
    assert tx["nonce"] == safe.contract.functions.nonce().call() == 0
    assert tx["data"] == chain.escrow.encode_abi(
        "attest", args=[agreement.onchain_id, 0, bytes.fromhex(escrow_first.evidence_hash[2:])]
    )
    onchain_hash = safe.contract.functions.getTransactionHash(
        tx["to"], 0, bytes.fromhex(tx["data"][2:]), 0, 0, 0, 0, ZERO, ZERO, tx["nonce"]
    ).call()
    assert tx["safe_tx_hash"] == "0x" + onchain_hash.hex()
    other_path = f"/api/escrow/milestones/{escrow_first.pk}/safe-transactions/{chain.beneficiary}/"
    assert client.get(other_path).status_code == 404

    # The grant page shows the Safe, its owners and the hash they sign.
    page = grant_page(people["viewer"], grant)
    assert safe.address in page and tx["safe_tx_hash"] in page and "2 of 3" in page

    # One owner's signature: the Safe refuses (GS020: signatures too short for its threshold).
    with pytest.raises(ContractLogicError, match="GS020"):
        safe.exec_call(tx, safe.signatures(tx["safe_tx_hash"], safe.owners[:1])).call({"from": safe.owners[0].address})
    assert chain.milestone(agreement.onchain_id, 0)["approvals"] == 0

    # Two of three: executed; the escrow approves the milestone with govtrack's hash.
    two = safe.signatures(tx["safe_tx_hash"], [safe.owners[2], safe.owners[0]])
    chain.transact(safe.exec_call(tx, two), safe.owners[1].address)
    on_chain = chain.milestone(agreement.onchain_id, 0)
    assert on_chain["status"] == 2 and on_chain["evidence"] == escrow_first.evidence_hash
    sync()
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED
    (attestation,) = client.get(f"/api/escrow/agreements/{agreement.pk}/attestations/").json()
    assert attestation["approver"] == safe.address and attestation["approver_kind"] == ApproverKind.SAFE
    assert attestation["matches_report"] and attestation["evidence_hash"] == escrow_first.evidence_hash
    assert attestation["tx_hash"] and attestation["block_number"] > 0 and attestation["confirmed"]
    assert client.get(path).status_code == 409  # approved: nothing left to sign

    # The beneficiary withdraws; govtrack indexes it and records the disbursement.
    chain.transact(chain.escrow.functions.withdraw(agreement.onchain_id), chain.beneficiary)
    sync()
    assert chain.balance(chain.beneficiary) == 1200_000000
    disbursement = Disbursement.objects.get()
    assert disbursement.milestone == first and disbursement.amount == Decimal("1200")
    assert disbursement.kind == DisbursementKind.ONCHAIN
    page = grant_page(people["viewer"], grant)
    assert attestation["tx_hash"] in page and "A Safe multisig" in page


def test_a_hash_that_is_not_govtracks_report_holds_the_milestone_in_conflict(chain, safe, org, people, client_for):
    """A Safe attests a planned, never-submitted milestone with 0x1111…: the contract approves it (threshold 1),
    govtrack does not release it: the milestone is in conflict, audited, on the API and the grant page."""
    from apps.audit.models import AuditEvent

    client = client_for(people["finance"])
    grant, (planned, _) = escrowable_grant(org, status=MilestoneStatus.PLANNED)
    assert create_through_api(client, grant, chain, [{"address": safe.address, "kind": "safe"}]).status_code == 201
    sync()
    agreement = EscrowAgreement.objects.get()
    rogue = {
        "to": chain.escrow.address,
        "value": "0",
        "data": chain.escrow.encode_abi("attest", args=[agreement.onchain_id, 0, b"\x11" * 32]),
        "operation": 0,
        "safe_tx_gas": "0",
        "base_gas": "0",
        "gas_price": "0",
        "gas_token": ZERO,
        "refund_receiver": ZERO,
    }
    safe_tx_hash = safe.contract.functions.getTransactionHash(
        rogue["to"], 0, bytes.fromhex(rogue["data"][2:]), 0, 0, 0, 0, ZERO, ZERO, 0
    ).call()
    signatures = safe.signatures("0x" + safe_tx_hash.hex(), safe.owners[:2])
    chain.transact(safe.exec_call(rogue, signatures), safe.owners[0].address)
    assert chain.milestone(agreement.onchain_id, 0)["status"] == 2  # the contract approved it
    sync()
    planned.refresh_from_db()
    assert planned.status == MilestoneStatus.CONFLICT

    # A reorg that removes the Safe's transaction takes the milestone back to planned; mined again, held again.
    chain.rpc("anvil_reorg", 1, [])
    sync()
    planned.refresh_from_db()
    assert planned.status == MilestoneStatus.PLANNED
    chain.transact(safe.exec_call(rogue, signatures), safe.owners[0].address)
    sync()

    planned.refresh_from_db()
    assert planned.status == MilestoneStatus.CONFLICT and planned.released_at is None
    assert "0x" + "11" * 32 in planned.status_reason and "no verified report" in planned.status_reason
    assert AuditEvent.objects.filter(action="milestone.status_changed", object_id=str(planned.pk)).exists()
    escrow_planned = EscrowMilestone.objects.get(milestone=planned)
    milestone_row = client.get(f"/api/escrow/milestones/{escrow_planned.pk}/").json()
    assert milestone_row["milestone_status"] == "conflict" and milestone_row["onchain_status"] == "approved"
    (attestation,) = client.get(f"/api/escrow/agreements/{agreement.pk}/attestations/").json()
    assert attestation["approver"] == safe.address and not attestation["matches_report"]

    # The beneficiary can withdraw (the contract approved it): the escrow row shows what left, the milestone stays
    # in conflict and no disbursement is recorded against a milestone govtrack never released.
    chain.transact(chain.escrow.functions.withdraw(agreement.onchain_id), chain.beneficiary)
    sync()
    planned.refresh_from_db()
    escrow_planned.refresh_from_db()
    assert planned.status == MilestoneStatus.CONFLICT and not Disbursement.objects.exists()
    assert escrow_planned.withdrawn_base_units == 1200_000000
    page = grant_page(people["viewer"], grant)
    assert "Conflict on chain" in page and "0x" + "11" * 32 in page


def test_approvers_default_and_empty(chain, org, people, client_for):
    """Left out: govtrack's signer alone, and its attestation is queued. An empty list: 400 naming the field."""
    client = client_for(people["finance"])
    grant, (first, _) = escrowable_grant(org)
    empty = create_through_api(client, grant, chain, [])
    assert empty.status_code == 400 and "approvers" in empty.json()["extra"]["fields"]
    body = {"grant": str(grant.pk), "token": str(chain.usd.pk), "beneficiary_address": chain.beneficiary}
    created = client.post("/api/escrow/agreements/", body, format="json")
    assert created.status_code == 201
    assert [(a["address"], a["kind"]) for a in created.json()["approvers"]] == [(chain.signer, "govtrack")]
    verify_and_approve(first, people)
    assert ChainTx.objects.filter(kind=ChainTxKind.ATTEST).count() == 1


def test_govtrack_and_a_safe_two_of_two(chain, safe, org, people, client_for):
    """govtrack's signer and a Safe, threshold 2: govtrack queues its own attest, the investment page shows the Safe
    transaction, and the milestone is released once both have attested the same report hash."""
    from tests.escrow.factories import escrowable_investment

    investment, (first, _) = escrowable_investment(org)
    client = client_for(people["finance"])
    body = {
        "investment": str(investment.pk),
        "token": str(chain.usd.pk),
        "beneficiary_address": chain.beneficiary,
        "approvers": [{"kind": "govtrack"}, {"address": safe.address, "kind": "safe"}],
        "threshold": 2,
    }
    created = client.post("/api/escrow/agreements/", body, format="json")
    assert created.status_code == 201, created.json()
    assert [a["kind"] for a in created.json()["approvers"]] == ["govtrack", "safe"]
    sync()
    verify_and_approve(first, people)
    assert ChainTx.objects.filter(kind=ChainTxKind.ATTEST).count() == 1
    sync()
    agreement = EscrowAgreement.objects.get()
    assert chain.milestone(agreement.onchain_id, 0)["approvals"] == 1
    first.refresh_from_db()
    assert first.status == MilestoneStatus.VERIFIED  # one of two

    escrow_first = EscrowMilestone.objects.get(milestone=first)
    tx = client.get(f"/api/escrow/milestones/{escrow_first.pk}/safe-transactions/{safe.address}/").json()
    browser = Client()
    browser.force_login(people["viewer"])
    page = browser.get(f"/investments/{investment.pk}/").content.decode()
    assert tx["safe_tx_hash"] in page and "govtrack&#x27;s signer" in page
    chain.transact(safe.exec_call(tx, safe.signatures(tx["safe_tx_hash"], safe.owners[1:])), safe.owners[1].address)
    sync()
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED
    attestations = client.get(f"/api/escrow/agreements/{agreement.pk}/attestations/").json()
    assert [(a["approver_kind"], a["matches_report"]) for a in attestations] == [("govtrack", True), ("safe", True)]


def test_binding_conflicts_show_on_the_grant_page(offline, org, people):  # noqa: F811
    """An AgreementCreated that claims the agreement but is not govtrack's own is on the grant page, not only in
    the API and the admin (no chain needed: the conflict entry is what the indexer records)."""
    from apps.escrow.services.agreements import escrow_agreement_create

    grant, _ = escrowable_grant(org)
    agreement = escrow_agreement_create(
        parent=grant, by=people["finance"], token=offline, beneficiary_address=BENEFICIARY
    )
    entry = {
        "onchain_id": 7,
        "funder": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "tx_hash": "0x" + "ab" * 32,
        "block_number": 12,
        "block_hash": "0x" + "cd" * 32,
        "log_index": 0,
        "problems": ["not in the receipt of govtrack's own create transaction"],
    }
    EscrowAgreement.objects.filter(pk=agreement.pk).update(conflicts=[entry])
    page = grant_page(people["viewer"], grant)
    assert "other agreements on chain claim this one" in page and entry["tx_hash"] in page
    assert "On-chain agreement #7" in page
