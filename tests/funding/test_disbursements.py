from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from apps.funding.models import Disbursement, Grant, Milestone
from tests.funding.factories import GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


def record(client, milestone, amount, **extra):
    body = {"milestone": str(milestone.pk), "amount": amount, "paid_on": "2026-11-20", "reference": "SEPA-1", **extra}
    return client.post("/api/disbursements/", body, format="json")


def test_disbursements_add_up_and_show_in_the_budget_summary(org, people, client_for):
    grant = GrantFactory(organization=org, amount_awarded=Decimal("100000"))
    released = MilestoneFactory(grant=grant, amount=Decimal("30000"), status="released")
    MilestoneFactory(grant=grant, amount=Decimal("50000"))
    client = client_for(people["finance"])
    assert record(client, released, "10000").status_code == 201
    assert client.get(f"/api/grants/{grant.pk}/").json()["summary"]["released_unpaid"] == "20000.00"
    assert record(client, released, "20000").status_code == 201

    summary = client.get(f"/api/grants/{grant.pk}/").json()["summary"]
    assert summary == {
        "currency": "EUR",
        "budget": "100000.00",
        "committed": "80000.00",
        "released": "30000.00",
        "released_unpaid": "0.00",
        "escrowed": "0.00",
        "disbursed": "30000.00",
        "uncommitted": "20000.00",
        "undisbursed": "70000.00",
    }


def test_over_disbursement_is_refused_naming_the_amount(org, people, client_for):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), amount=Decimal("30000"), status="released")
    client = client_for(people["finance"])
    assert record(client, milestone, "25000").status_code == 201
    response = record(client, milestone, "5000.01")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"amount": ["Only 5000.00 EUR of this milestone is left to disburse."]}
    assert Disbursement.objects.count() == 1
    assert Milestone.objects.get(pk=milestone.pk).amount_disbursed == Decimal("25000")


def test_database_refuses_disbursing_more_than_awarded_even_past_python(org):
    """A constraint, not only a check in Python: raising the totals directly fails in the database."""
    grant = GrantFactory(organization=org, amount_awarded=Decimal("100000"))
    milestone = MilestoneFactory(grant=grant, amount=Decimal("60000"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Grant.objects.filter(pk=grant.pk).update(amount_disbursed=F("amount_disbursed") + Decimal("100000.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Milestone.objects.filter(pk=milestone.pk).update(amount_disbursed=Decimal("60000.01"))
    unawarded = GrantFactory(organization=org, amount_awarded=None, status="under_review")
    with pytest.raises(IntegrityError), transaction.atomic():
        Grant.objects.filter(pk=unawarded.pk).update(amount_disbursed=Decimal("1"))


def test_disbursement_only_for_released_milestones_and_in_their_currency(org, people, client_for):
    client = client_for(people["finance"])
    verified = MilestoneFactory(grant=GrantFactory(organization=org), status="verified")
    response = record(client, verified, "100")
    assert response.status_code == 409 and "must be released" in response.json()["message"]
    released = MilestoneFactory(grant=GrantFactory(organization=org), status="released")
    response = record(client, released, "100", currency="USD")
    assert response.status_code == 400 and response.json()["extra"]["fields"] == {
        "currency": ["The milestone is in EUR."]
    }


@pytest.mark.parametrize("role", ["viewer", "engineer", "compliance"])
def test_only_finance_and_owners_record_a_disbursement(org, people, client_for, role):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="released")
    response = record(client_for(people[role]), milestone, "100")
    assert response.status_code == 403
    assert response.json()["message"] == (
        f"To record a disbursement you need one of the roles: finance, owner. Your role in Acme Compute is {role}."
    )
    assert not Disbursement.objects.exists()
    assert record(client_for(people["finance"]), milestone, "100").status_code == 201
    assert record(client_for(people["owner"]), milestone, "50", reference="SEPA-2").status_code == 201
    assert Disbursement.objects.count() == 2
