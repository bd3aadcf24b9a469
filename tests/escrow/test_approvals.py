"""Token approvals that cannot race, on a real anvil and PostgreSQL: agreements created at the same time by several
workers each get their own allowance (approve, then create, one pair at a time per token), a failed approve or
create has a way back, and a revert says what the token or the contract refused."""

import threading
import time

import pytest
from django.db import connection

from apps.escrow.chain import Rpc, RpcError
from apps.escrow.models import AgreementStatus, ChainTx, ChainTxKind, ChainTxStatus, EscrowAgreement
from apps.escrow.services import confirmer, sender
from apps.escrow.services.agreements import escrow_agreement_create, escrow_agreement_recreate
from tests.escrow.conftest import sync
from tests.escrow.factories import escrowable_investment

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WORKERS, PER_WORKER = 4, 5


class NoTracerRpc(Rpc):
    """A node that refuses debug_* methods, as most hosted JSON-RPC providers do."""

    def call(self, method: str, *params):
        if method.startswith("debug_"):
            raise RpcError(method, -32601, "the method does not exist/is not available")
        return super().call(method, *params)


@pytest.fixture
def quick(chain, settings):
    """No waits between rounds, backoffs of a second: a drill of many rounds runs in seconds."""
    settings.ESCROW_POLL_SECONDS = 0
    settings.ESCROW_RETRY_BASE_SECONDS = 1
    settings.ESCROW_RETRY_MAX_SECONDS = 2
    return chain


def onchain_deposit(chain, agreement: EscrowAgreement) -> int:
    count = chain.escrow.functions.getAgreement(agreement.onchain_id).call()[5]
    return sum(chain.milestone(agreement.onchain_id, i)["amount"] for i in range(count))


def test_twenty_agreements_from_four_workers_are_all_created_with_their_own_deposit(quick, org, people):
    chain = quick
    # Amounts differ so an allowance overwritten by another agreement's approve cannot go unnoticed.
    parents = [
        escrowable_investment(org, amounts=(f"{100 + 7 * i}.25", f"{40 + i}"), days=(30, 60))[0]
        for i in range(WORKERS * PER_WORKER)
    ]
    errors: list = []
    barrier = threading.Barrier(WORKERS)

    def worker(mine):
        try:
            barrier.wait(timeout=30)
            for parent in mine:
                escrow_agreement_create(
                    parent=parent, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
                )
                sync()
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                sync()
                if not EscrowAgreement.objects.filter(status=AgreementStatus.CREATING).exists():
                    break
                time.sleep(0.2)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(parents[w::WORKERS],)) for w in range(WORKERS)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=200)
    assert not errors, errors
    sync()

    agreements = list(EscrowAgreement.objects.order_by("created_at"))
    assert len(agreements) == 20
    failed = list(ChainTx.objects.filter(status=ChainTxStatus.FAILED).values_list("kind", "last_error"))
    assert failed == []
    assert {a.status for a in agreements} == {AgreementStatus.ACTIVE}
    assert sorted(a.onchain_id for a in agreements) == list(range(1, 21))
    for agreement in agreements:
        assert onchain_deposit(chain, agreement) == int(agreement.total_base_units), agreement.pk
    assert chain.balance(chain.escrow.address) == sum(int(a.total_base_units) for a in agreements)
    # Every allowance was used by its own create: nothing is left for the contract to take.
    assert chain.token.functions.allowance(chain.signer, chain.escrow.address).call() == 0
    assert ChainTx.objects.filter(kind=ChainTxKind.TOKEN_APPROVE, status=ChainTxStatus.CONFIRMED).count() == 20


def automine(chain, on: bool) -> None:
    chain.rpc("evm_setAutomine", on)


def allowance_slot(owner: str, spender: str) -> str:
    """Where OpenZeppelin 5's ERC20 keeps allowance[owner][spender] (`_allowances` is its second variable)."""
    from eth_utils import keccak

    inner = keccak(bytes.fromhex(owner[2:].rjust(64, "0")) + (1).to_bytes(32, "big"))
    return "0x" + keccak(bytes.fromhex(spender[2:].rjust(64, "0")) + inner).hex()


def create_and_approve_on_nonzero_slot(chain, org, people):
    """An agreement whose approve is estimated while the signer's allowance slot holds a leftover 1, and then meets
    a cleared slot when it is mined (as when the allowance changed between the estimate and the block)."""
    chain.transact(chain.token.functions.approve(chain.escrow.address, 1), chain.signer)
    investment, _ = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    automine(chain, False)
    sender.escrow_send_due()
    approve = ChainTx.objects.get(agreement=agreement, kind=ChainTxKind.TOKEN_APPROVE)
    assert approve.status == ChainTxStatus.SENT
    slot = allowance_slot(chain.signer, chain.escrow.address)
    chain.rpc("anvil_setStorageAt", chain.token.address, slot, "0x" + "00" * 32)
    chain.mine()
    automine(chain, True)
    return agreement, approve


def test_an_approve_estimated_on_a_set_slot_still_has_the_gas_for_a_cleared_one(quick, org, people):
    agreement, approve = create_and_approve_on_nonzero_slot(quick, org, people)
    for _ in range(3):
        sync()
    approve.refresh_from_db()
    agreement.refresh_from_db()
    assert approve.status == ChainTxStatus.CONFIRMED and approve.gas >= sender.APPROVE_MIN_GAS
    assert approve.gas_used > 40_000  # the zero-to-non-zero write it met, more than its estimate allowed for
    assert agreement.status == AgreementStatus.ACTIVE


def test_an_approve_that_ran_out_of_gas_says_so_and_its_retry_creates_the_agreement(
    quick, org, people, client_for, monkeypatch
):
    chain = quick
    monkeypatch.setattr(sender, "APPROVE_MIN_GAS", 0)  # the estimate alone, as before the floor
    agreement, approve = create_and_approve_on_nonzero_slot(chain, org, people)
    sync()
    approve.refresh_from_db()
    agreement.refresh_from_db()
    create = ChainTx.objects.get(agreement=agreement, kind=ChainTxKind.CREATE)
    assert approve.status == ChainTxStatus.FAILED
    assert f"ran out of gas (used {approve.gas} of its {approve.gas} gas limit)" in approve.last_error
    assert create.status == ChainTxStatus.FAILED and create.nonce is None  # never signed: nothing to deposit twice
    assert f"its token approve (transaction {approve.pk}) failed" in create.last_error
    assert agreement.status == AgreementStatus.FAILED

    monkeypatch.undo()
    response = client_for(people["finance"]).post(f"/api/escrow/transactions/{approve.pk}/retry/")
    assert response.status_code == 202, response.json()
    assert response.json()["kind"] == ChainTxKind.TOKEN_APPROVE and response.json()["retry_of"] == str(approve.pk)
    again = client_for(people["finance"]).post(f"/api/escrow/transactions/{approve.pk}/retry/")
    assert again.status_code == 409
    sync()
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE
    assert chain.balance(chain.escrow.address) == int(agreement.total_base_units)
    fresh = ChainTx.objects.filter(agreement=agreement, retry_of__isnull=False).order_by("created_at")
    assert [(tx.kind, tx.status) for tx in fresh] == [
        (ChainTxKind.TOKEN_APPROVE, ChainTxStatus.CONFIRMED),
        (ChainTxKind.CREATE, ChainTxStatus.CONFIRMED),
    ]


def test_a_create_reverted_by_a_change_in_its_block_shows_the_tokens_error_and_its_retry_works(
    quick, org, people, client_for
):
    chain = quick
    investment, _ = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    automine(chain, False)
    sender.escrow_send_due()  # the approve is sent; the create waits for it to be mined
    create = ChainTx.objects.get(agreement=agreement, kind=ChainTxKind.CREATE)
    assert create.status == ChainTxStatus.PENDING and "to be mined" in create.last_error
    chain.mine()
    ChainTx.objects.filter(pk=create.pk).update(next_attempt_at=None)
    sender.escrow_send_due()  # estimated against the allowance it spends, and sent
    create.refresh_from_db()
    assert create.status == ChainTxStatus.SENT
    # In the same block, ahead of it, the signer's tokens go (the mock token lets anyone burn).
    held = chain.balance(chain.signer)
    chain.w3.eth.send_transaction(
        {
            "from": chain.deployer,
            "to": chain.token.address,
            "data": chain.token.encode_abi("burn", args=[chain.signer, held]),
            "maxPriorityFeePerGas": 50 * 10**9,
            "maxFeePerGas": 100 * 10**9,
        }
    )
    chain.mine()
    automine(chain, True)
    confirmer.escrow_confirm()
    create.refresh_from_db()
    agreement.refresh_from_db()
    assert create.status == ChainTxStatus.FAILED and create.receipt_status == 0
    total = int(agreement.total_base_units)
    assert f"ERC20InsufficientBalance(sender={chain.signer}, balance=0, needed={total})" in create.last_error
    assert agreement.status == AgreementStatus.FAILED
    # A node without the debug namespace (as hosted providers are): the replay on the block before passes, and
    # the reason says so instead of "reason unavailable".
    block = create.block_number
    assert confirmer._revert_reason(NoTracerRpc(chain.anvil.url), create, block) == (
        f"no reason given, and the same call succeeds on block {block - 1}: an earlier transaction of block "
        f"{block} changed the state it met"
    )

    chain.transact(chain.token.functions.mint(chain.signer, held), chain.deployer)
    response = client_for(people["owner"]).post(f"/api/escrow/transactions/{create.pk}/retry/")
    assert response.status_code == 202, response.json()
    assert response.json()["kind"] == ChainTxKind.CREATE
    sync()
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE and agreement.onchain_id == 1
    assert chain.balance(chain.escrow.address) == total  # deposited once
    assert chain.token.functions.allowance(chain.signer, chain.escrow.address).call() == 0


def test_a_recreate_supersedes_unsigned_rows_and_refuses_while_one_is_in_flight(quick, org, people):
    chain = quick
    investment, _ = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    automine(chain, False)
    sender.escrow_send_due()
    EscrowAgreement.objects.filter(pk=agreement.pk).update(status=AgreementStatus.FAILED)
    with pytest.raises(Exception, match="signed and not mined yet"):
        escrow_agreement_recreate(agreement=agreement, by=people["finance"])
    chain.mine()
    automine(chain, True)
    confirmer.escrow_confirm()
    escrow_agreement_recreate(agreement=agreement, by=people["finance"])
    old_create = ChainTx.objects.get(agreement=agreement, kind=ChainTxKind.CREATE, retry_of__isnull=True)
    assert old_create.status == ChainTxStatus.FAILED and "superseded" in old_create.last_error
    sync()
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE
    assert chain.balance(chain.escrow.address) == int(agreement.total_base_units)
    assert (
        ChainTx.objects.filter(agreement=agreement, kind=ChainTxKind.CREATE, status=ChainTxStatus.CONFIRMED).count()
        == 1
    )
