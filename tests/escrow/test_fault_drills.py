"""Fault drills against a real anvil: each checks what is on chain (getMilestone, token balances, the signer's
nonce), not only the rows."""

import datetime as dt
import http.server
import threading
import time

import pytest
from django.utils import timezone

from apps.escrow.models import ChainEvent, ChainTx, ChainTxKind, ChainTxStatus, EscrowMilestone
from apps.escrow.services import sender
from apps.escrow.services.agreements import escrow_agreement_create
from apps.funding.models import MilestoneStatus
from tests.conftest import free_port
from tests.escrow.conftest import sync, verify_and_approve
from tests.escrow.factories import escrowable_investment

APPROVED, PENDING = 2, 1


@pytest.fixture
def escrowed(chain, org, people):
    """An agreement on chain with two submitted milestones; the first one verified (its attestation queued)."""
    investment, milestones = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    sync()
    agreement.refresh_from_db()
    assert agreement.onchain_id == 1
    verify_and_approve(milestones[0], people)
    attest = ChainTx.objects.get(kind=ChainTxKind.ATTEST)
    return agreement, milestones[0], attest


def make_due() -> None:
    ChainTx.objects.update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def assert_released_once(chain, agreement, milestone, attest) -> None:
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.CONFIRMED
    on_chain = chain.milestone(agreement.onchain_id, 0)
    assert on_chain["status"] == APPROVED and on_chain["approvals"] == 1
    assert ChainEvent.objects.filter(name="Attested", removed=False).count() == 1
    assert ChainEvent.objects.filter(name="MilestoneApproved", removed=False, applied=True).count() == 1
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.RELEASED
    assert EscrowMilestone.objects.get(milestone=milestone).onchain_status == "approved"
    # The whole deposit is still in the contract: an attestation moves no money, and none moved twice.
    assert chain.balance(chain.escrow.address) == int(agreement.total_base_units)
    withdrawable = chain.escrow.functions.getAgreement(agreement.onchain_id).call()[7]
    assert withdrawable == 1500_250000


def test_node_stopped_after_signing_before_broadcast(chain, escrowed, monkeypatch):
    agreement, milestone, attest = escrowed
    nonce_before = chain.signer_nonce()
    real_broadcast = sender.broadcast

    def stop_node_then_broadcast(rpc, tx):
        chain.anvil.stop()
        return real_broadcast(rpc, tx)

    monkeypatch.setattr(sender, "broadcast", stop_node_then_broadcast)
    sync()
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.SIGNED
    assert attest.raw_tx and attest.tx_hash and attest.nonce == nonce_before
    assert "did not answer" in attest.last_error and attest.attempts == 1
    assert attest.next_attempt_at > timezone.now()
    signed_hash = attest.tx_hash

    monkeypatch.setattr(sender, "broadcast", real_broadcast)
    chain.anvil.start()  # same state file: the chain as it was
    chain.reconnect()
    assert chain.signer_nonce() == nonce_before
    assert chain.milestone(agreement.onchain_id, 0)["status"] == PENDING
    make_due()
    sync()
    assert_released_once(chain, agreement, milestone, attest)
    assert attest.tx_hash == signed_hash and attest.previous_hashes == []
    assert chain.signer_nonce() == nonce_before + 1


def test_sender_crash_after_broadcast_is_reconciled(chain, escrowed, monkeypatch):
    agreement, milestone, attest = escrowed
    nonce_before = chain.signer_nonce()

    class Crash(BaseException):
        pass

    def broadcast_then_crash(rpc, tx):
        rpc.send_raw(tx.raw_tx)
        raise Crash  # the process dies before it records "sent"

    monkeypatch.setattr(sender, "broadcast", broadcast_then_crash)
    with pytest.raises(Crash):
        sync()
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.SIGNED
    assert chain.milestone(agreement.onchain_id, 0)["status"] == APPROVED  # it did go out

    monkeypatch.undo()
    sync()  # broadcast again: "nonce too low", and the hash is ours → sent, then confirmed
    assert_released_once(chain, agreement, milestone, attest)
    assert chain.signer_nonce() == nonce_before + 1

    chain.transact(chain.escrow.functions.withdraw(agreement.onchain_id), chain.beneficiary)
    sync()
    assert chain.balance(chain.beneficiary) == 1500_250000
    milestone.refresh_from_db()
    assert milestone.disbursements.count() == 1 and milestone.amount_disbursed == milestone.amount


def test_a_nonce_taken_by_a_transaction_govtrack_did_not_send_is_not_counted_as_sent(chain, escrowed, monkeypatch):
    """ "nonce too low" means sent only when the node knows our hash; a foreign one means sign again, new nonce."""
    agreement, milestone, attest = escrowed
    monkeypatch.setattr(sender, "broadcast", lambda rpc, tx: False)  # signed and committed, not yet broadcast
    sync()
    monkeypatch.undo()
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.SIGNED
    ours, taken = attest.tx_hash, attest.nonce
    # Someone with the signer's key spends that nonce first (a wallet, a second govtrack pointed at the same key).
    foreign = chain.w3.eth.send_transaction({"from": chain.signer, "to": chain.deployer, "value": 1, "nonce": taken})
    chain.w3.eth.wait_for_transaction_receipt(foreign)

    sync()  # the node answers "nonce too low", and the hash it has for that nonce is not ours
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.PENDING and attest.nonce is None
    assert f"Nonce {taken} was used by a transaction govtrack did not send" in attest.last_error
    assert attest.previous_hashes == [ours]
    assert chain.milestone(agreement.onchain_id, 0)["status"] == PENDING  # nothing of ours went out

    for _ in range(3):
        make_due()
        sync()
    assert_released_once(chain, agreement, milestone, attest)
    attest.refresh_from_db()
    assert attest.nonce == taken + 1 and attest.tx_hash != ours
    assert chain.w3.eth.get_transaction_receipt(attest.tx_hash).status == 1


def test_reorg_drops_the_attestation(chain, escrowed, settings):
    agreement, milestone, attest = escrowed
    settings.ESCROW_CONFIRMATIONS = 2
    sync()
    chain.mine(1)
    sync()
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.CONFIRMED
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.RELEASED
    old_block, head = attest.block_number, chain.w3.eth.block_number
    assert head == old_block + 1

    chain.rpc("anvil_reorg", 2, [])  # replaces the attestation's block and the one after it, without it
    assert chain.milestone(agreement.onchain_id, 0)["status"] == PENDING

    sync()  # confirmer: receipt gone → sent, node forgot it → same bytes again; indexer: fork → undo
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.VERIFIED
    assert ChainEvent.objects.filter(name="MilestoneApproved", removed=True).count() == 1
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.SENT and attest.last_error.startswith(f"Reorg: block {old_block}")

    chain.mine(1)
    sync()
    assert_released_once(chain, agreement, milestone, attest)
    assert attest.block_number > old_block + 1  # mined again, in a block of the new chain
    # One release approval (the owner's, which queued the attestation); the release itself came from the chain.
    assert milestone.approvals.count() == 1


class FlakyRpc(http.server.BaseHTTPRequestHandler):
    """Stands in for a hosted RPC provider having a bad minute: anvil itself never answers 500 or hangs."""

    mode = "500"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.mode == "hang":
            time.sleep(3)
        try:
            self.send_response(500 if self.server.mode == "500" else 200)
            self.end_headers()
            self.wfile.write(b"upstream error")
        except BrokenPipeError:  # the client timed out and left, as it should
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_rpc():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), FlakyRpc)
    server.mode = "500"
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_rpc_errors_and_timeouts_back_off_and_show(chain, escrowed, settings, flaky_rpc):
    agreement, milestone, attest = escrowed
    nonce_before = chain.signer_nonce()
    settings.ETH_RPC_URL = f"http://127.0.0.1:{flaky_rpc.server_address[1]}"
    settings.ESCROW_RPC_TIMEOUT_SECONDS = 1

    sync()
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.PENDING and attest.attempts == 1
    assert "answered HTTP 500" in attest.last_error
    first_wait = (attest.next_attempt_at - timezone.now()).total_seconds()
    assert 3 < first_wait <= 5

    sync()  # not due yet: nothing tried
    attest.refresh_from_db()
    assert attest.attempts == 1

    flaky_rpc.mode = "hang"
    make_due()
    sync()
    attest.refresh_from_db()
    assert attest.attempts == 2 and "did not answer (ReadTimeout)" in attest.last_error
    assert 6 < (attest.next_attempt_at - timezone.now()).total_seconds() <= 10  # doubled

    settings.ETH_RPC_URL = f"http://127.0.0.1:{free_port()}"  # nothing listening
    make_due()
    sync()
    attest.refresh_from_db()
    assert attest.attempts == 3 and "ConnectionError" in attest.last_error
    assert chain.signer_nonce() == nonce_before

    settings.ETH_RPC_URL = chain.anvil.url
    make_due()
    sync()
    assert_released_once(chain, agreement, milestone, attest)
    assert attest.last_error == ""


def test_wrong_chain_id_is_refused_and_nothing_sent(chain, escrowed):
    agreement, milestone, attest = escrowed
    nonce_before = chain.signer_nonce()
    chain.rpc("anvil_setChainId", 1)

    sync()
    attest.refresh_from_db()
    assert attest.status == ChainTxStatus.PENDING and attest.raw_tx == "" and attest.nonce is None
    assert "is chain 1, but ETH_CHAIN_ID is 31337" in attest.last_error
    assert "Nothing was sent" in attest.last_error
    assert chain.signer_nonce() == nonce_before
    assert chain.milestone(agreement.onchain_id, 0)["status"] == PENDING
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.VERIFIED

    chain.rpc("anvil_setChainId", 31337)
    make_due()
    sync()
    assert_released_once(chain, agreement, milestone, attest)
