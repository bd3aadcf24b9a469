"""Drills on a real anvil and PostgreSQL: no deadlock between release approvals and the indexer, and every stuck
escrowed milestone has a way forward (nothing lost, nothing paid twice)."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.escrow.models import AgreementStatus, ChainTx, ChainTxKind, ChainTxStatus, EscrowAgreement
from apps.escrow.services import confirmer, indexer, sender
from apps.escrow.services.agreements import escrow_agreement_create, escrow_agreement_recreate
from apps.funding.models import Milestone, MilestoneStatus
from apps.funding.services.milestones import milestone_approve_release, milestone_verify
from tests.escrow.conftest import sync, verify_and_approve
from tests.escrow.factories import escrowable_investment

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def in_thread(errors: list, barrier: threading.Barrier, work):
    def run():
        try:
            barrier.wait(timeout=30)
            work()
        except Exception as exc:  # a deadlock surfaces here as psycopg's DeadlockDetected
            errors.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run)


def test_release_approvals_and_the_indexer_on_one_agreement_do_not_deadlock(chain, org, people):
    investment, milestones = escrowable_investment(org, amounts=("100", "200", "300", "400"), days=(30, 40, 50, 60))
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    sync()
    first, *others = milestones
    verify_and_approve(first, people)
    sender.escrow_send_due()  # the attestation is mined; its events wait for the indexer
    for milestone in others:
        milestone_verify(milestone=milestone, by=people["finance"])

    errors: list = []
    barrier = threading.Barrier(len(others) + 1)
    threads = [
        in_thread(errors, barrier, lambda m=m: milestone_approve_release(milestone=m, by=people["owner"]))
        for m in others
    ]
    threads.append(in_thread(errors, barrier, lambda: (confirmer.escrow_confirm(), indexer.escrow_index())))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED
    attests = ChainTx.objects.filter(kind=ChainTxKind.ATTEST, agreement=agreement)
    assert sorted(attests.values_list("escrow_milestone__milestone__title", flat=True)) == [m.title for m in milestones]
    for _ in range(3):
        sync()
    assert set(Milestone.objects.filter(investment=investment).values_list("status", flat=True)) == {
        MilestoneStatus.RELEASED
    }
    assert attests.filter(status=ChainTxStatus.CONFIRMED).count() == 4  # each attested once, none twice


def test_a_failed_agreement_is_recreated_and_its_milestone_moves_on(chain, org, people):
    investment, (first, _second) = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    # The create transaction fails for good (e.g. a token the signer no longer holds enough of).
    ChainTx.objects.filter(agreement=agreement).update(status=ChainTxStatus.FAILED, last_error="execution reverted")
    EscrowAgreement.objects.filter(pk=agreement.pk).update(status=AgreementStatus.FAILED)
    milestone_verify(milestone=first, by=people["finance"])
    with pytest.raises(Exception, match="re-create the agreement"):
        milestone_approve_release(milestone=first, by=people["owner"])
    first.refresh_from_db()
    assert first.status == MilestoneStatus.VERIFIED and first.approvals.count() == 0  # nothing half done

    escrow_agreement_recreate(agreement=agreement, by=people["finance"])
    assert AuditEvent.objects.filter(action="escrow.agreement_recreated").count() == 1
    sync()
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE and agreement.onchain_id == 1
    assert chain.balance(chain.escrow.address) == int(agreement.total_base_units)  # deposited once

    milestone_approve_release(milestone=first, by=people["owner"])
    sync()
    sync()
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED
    assert chain.milestone(agreement.onchain_id, 0)["status"] == 2


def test_owner_and_finance_together_pay_a_stuck_milestone_outside_escrow(chain, org, people, client_for):
    investment, (first, _second) = escrowable_investment(org)
    agreement = escrow_agreement_create(
        parent=investment, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary
    )
    EscrowAgreement.objects.filter(pk=agreement.pk).update(status=AgreementStatus.FAILED)
    milestone_verify(milestone=first, by=people["finance"])
    actions = {
        a["action"]: a["allowed"]
        for a in client_for(people["owner"]).get(f"/api/milestones/{first.pk}/").json()["allowed_actions"]
    }
    assert actions["pay_outside_escrow"] is True  # a verified milestone always has a way forward

    url = f"/api/milestones/{first.pk}/pay-outside-escrow/"
    body = client_for(people["owner"]).post(url, {"reason": "Agreement failed; paying by wire"}, format="json").json()
    assert body["status"] == "verified" and body["paid_outside_escrow"] is False
    again = client_for(people["owner"]).post(url, {"reason": "again"}, format="json")
    assert again.status_code == 409
    body = client_for(people["finance"]).post(url, {"reason": "Agreed"}, format="json").json()
    assert body["status"] == "released" and body["paid_outside_escrow"] is True
    paid = client_for(people["finance"]).post(
        "/api/disbursements/",
        {"milestone": str(first.pk), "amount": "1500.25", "paid_on": timezone.localdate().isoformat()},
        format="json",
    )
    assert paid.status_code == 201, paid.json()
    assert AuditEvent.objects.filter(action="milestone.outside_escrow_approved").count() == 2
