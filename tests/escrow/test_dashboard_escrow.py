"""Putting an investment's milestones in escrow from its page, against a real anvil: the form's terms reach the
contract, bad terms come back beside their field, and only owner and finance see or may post the form."""

import re

from django.test import Client

from apps.escrow.models import AgreementStatus, EscrowAgreement
from apps.tenancy.models import Role
from tests.escrow.conftest import sync
from tests.escrow.factories import escrowable_investment


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_finance_puts_an_investment_in_escrow_from_its_page(chain, org, people):
    investment, _ = escrowable_investment(org)
    finance = browser(people[Role.FINANCE])
    page = text(finance.get(f"/investments/{investment.pk}/"))
    assert "Create an escrow agreement…" in page and "DUSD (USD" in page
    url = f"/investments/{investment.pk}/escrow/"
    body = {"token": str(chain.usd.pk), "beneficiary_address": chain.beneficiary, "threshold": "1"}

    bad = finance.post(url, {**body, "approvers": "govtrack\nmultisig 0x12"})
    assert bad.status_code == 400 and "Approvers: Line 2: write govtrack, eoa 0x…, or safe 0x…." in text(bad)
    too_many = finance.post(url, {**body, "approvers": "govtrack", "threshold": "2"})
    assert too_many.status_code == 400 and "Between 1 and 1 (the approvers)." in text(too_many)
    assert not EscrowAgreement.objects.exists()

    done = finance.post(url, {**body, "approvers": "govtrack"}, follow=True)
    assert "Escrow agreement for 2 milestone(s) queued" in text(done)
    agreement = EscrowAgreement.objects.get(investment=investment)
    assert agreement.status == AgreementStatus.CREATING and agreement.threshold == 1
    sync()
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE and agreement.onchain_id is not None
    assert chain.balance(chain.escrow.address) == agreement.total_base_units
    assert "Agreement #1" in text(finance.get(f"/investments/{investment.pk}/"))


def test_only_owner_and_finance_may_put_milestones_in_escrow(chain, org, people):
    investment, _ = escrowable_investment(org)
    body = {"token": str(chain.usd.pk), "beneficiary_address": chain.beneficiary, "threshold": "1"}
    for role in (Role.VIEWER, Role.ENGINEER, Role.COMPLIANCE):
        client = browser(people[role])
        assert "Create an escrow agreement…" not in text(client.get(f"/investments/{investment.pk}/"))
        assert client.post(f"/investments/{investment.pk}/escrow/", body).status_code == 403
    assert not EscrowAgreement.objects.exists()
