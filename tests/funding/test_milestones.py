import datetime as dt
from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.funding.models import KpiReading, Milestone, MilestoneStatus, OrganizationPolicy
from apps.webhooks.models import WebhookDelivery
from tests.funding.factories import GrantFactory, InvestmentFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


def create(client, grant, **overrides):
    body = {"grant": str(grant.pk), "title": "8 GPUs at 70% for a week", "amount": "40000", "due_date": "2026-10-01"}
    return client.post("/api/milestones/", {**body, **overrides}, format="json")


def test_milestone_is_created_in_the_grants_currency(org, people, client_for):
    grant = GrantFactory(organization=org)
    response = create(client_for(people["finance"]), grant)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["currency"], body["amount"], body["status"], body["funder_name"]) == (
        "EUR",
        "40000.00",
        "planned",
        grant.funder.name,
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": "-1"}, "amount", "The amount must be greater than zero."),
        ({"amount": "abc"}, "amount", "A valid number is required."),
        ({"currency": "USD"}, "currency", "Milestones are in the grant's currency, EUR."),
        ({"currency": "EURO"}, "currency", "Ensure this field has no more than 3 characters."),
        (
            {"due_date": "2027-03-01"},
            "due_date",
            "Due dates must fall within the grant period 2026-01-01 to 2026-12-31.",
        ),
        (
            {"amount": "100000.01"},
            "amount",
            "Milestones would total 100000.01 EUR, more than the award of 100000.00 EUR",
        ),
    ],
)
def test_bad_milestone_input_names_the_field(org, people, client_for, overrides, field, message):
    grant = GrantFactory(organization=org)
    response = create(client_for(people["finance"]), grant, **overrides)
    assert response.status_code == 400
    fields = response.json()["extra"]["fields"]
    assert list(fields) == [field]
    assert fields[field][0].startswith(message)
    assert not Milestone.objects.exists()


def test_another_organizations_grant_id_is_unknown(people, client_for):
    response = create(client_for(people["finance"]), GrantFactory())
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"grant": ["Unknown in your organizations."]}


def test_budget_counts_existing_milestones(org, people, client_for):
    grant = GrantFactory(organization=org)
    MilestoneFactory(grant=grant, amount=Decimal("70000"))
    response = create(client_for(people["finance"]), grant, amount="30000.01")
    assert response.status_code == 400
    assert "70000" in response.json()["message"]
    assert create(client_for(people["finance"]), grant, amount="30000").status_code == 201


def advance(client, milestone, *steps):
    for step, body in steps:
        response = client.post(f"/api/milestones/{milestone.pk}/{step}/", body, format="json")
        assert response.status_code == 200, (step, response.json())
    return response.json()


def test_kpi_criterion_gates_verification(org, people, client_for):
    investment = InvestmentFactory(organization=org)
    milestone = MilestoneFactory(
        grant=None, investment=investment, organization=org, currency="USD", amount=Decimal("500000")
    )
    finance = client_for(people["finance"])
    response = finance.post(
        f"/api/milestones/{milestone.pk}/criteria/",
        {
            "kind": "kpi",
            "description": "MRR of at least 40,000 USD",
            "config": {
                "metric": "revenue",
                "aggregation": "latest",
                "comparison": "gte",
                "threshold": "40000",
                "period_start": "2026-08-01",
                "period_end": "2026-11-30",
            },
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    criterion_id = response.json()["id"]
    advance(client_for(people["engineer"]), milestone, ("submit", {"note": "MRR crossed 40k"}))

    finance.post(
        "/api/kpi-readings/",
        {
            "metric": "revenue",
            "value": "35200",
            "period_start": "2026-09-01",
            "period_end": "2026-09-30",
            "source": "ledger",
        },
        format="json",
    )
    response = finance.post(f"/api/milestones/{milestone.pk}/verify/")
    assert response.status_code == 409
    assert response.json()["message"] == "Cannot verify this milestone: criteria not met: MRR of at least 40,000 USD."
    assert response.json()["extra"]["unmet_criteria"] == [criterion_id]

    finance.post(
        "/api/kpi-readings/",
        {
            "metric": "revenue",
            "value": "41250.50",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "source": "ledger",
        },
        format="json",
    )
    body = advance(finance, milestone, ("verify", {}))
    assert body["status"] == "verified"
    assert body["criteria"][0]["status"] == "met"
    assert body["criteria"][0]["last_result"]["value"] == "41250.500000"
    assert KpiReading.objects.count() == 2


def test_manual_criterion_needs_each_named_role(org, people, client_for):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org))
    finance = client_for(people["finance"])
    criterion = finance.post(
        f"/api/milestones/{milestone.pk}/criteria/",
        {
            "kind": "manual",
            "description": "Privacy review signed off",
            "config": {"approver_roles": ["compliance", "owner"]},
        },
        format="json",
    ).json()
    advance(client_for(people["engineer"]), milestone, ("start", {}), ("submit", {}))

    refused = client_for(people["engineer"]).post(
        f"/api/milestone-criteria/{criterion['id']}/approve/", {}, format="json"
    )
    assert refused.status_code == 403 and "compliance, owner" in refused.json()["message"]

    response = client_for(people["compliance"]).post(
        f"/api/milestone-criteria/{criterion['id']}/approve/", {}, format="json"
    )
    assert response.json()["status"] == "not_met"
    assert finance.post(f"/api/milestones/{milestone.pk}/verify/").status_code == 409
    response = client_for(people["owner"]).post(
        f"/api/milestone-criteria/{criterion['id']}/approve/", {}, format="json"
    )
    assert response.json()["status"] == "met"
    assert advance(finance, milestone, ("verify", {}))["status"] == "verified"


def test_large_release_needs_finance_and_owner_as_two_people(org, people, client_for):
    OrganizationPolicy.objects.create(organization=org, dual_approval_above=Decimal("25000"))
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), amount=Decimal("40000"), status="verified")
    finance = client_for(people["finance"])
    body = advance(finance, milestone, ("approve-release", {"note": "Invoice matches"}))
    assert body["status"] == "verified"
    again = finance.post(f"/api/milestones/{milestone.pk}/approve-release/", {}, format="json")
    assert again.status_code == 409 and "already approved" in again.json()["message"]
    body = advance(client_for(people["owner"]), milestone, ("approve-release", {}))
    assert body["status"] == "released" and body["released_at"]
    assert [a["role"] for a in body["approvals"]] == ["finance", "owner"]
    assert WebhookDelivery.objects.count() == 0  # no endpoints registered: nothing queued


def test_small_release_needs_one_approval(org, people, client_for):
    OrganizationPolicy.objects.create(organization=org, dual_approval_above=Decimal("25000"))
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), amount=Decimal("20000"), status="verified")
    assert advance(client_for(people["finance"]), milestone, ("approve-release", {}))["status"] == "released"


def test_two_owners_are_not_finance_plus_owner(org, people, client_for):
    from tests.factories import member

    second_owner = member(org, "owner")
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), amount=Decimal("90000"), status="verified")
    advance(client_for(people["owner"]), milestone, ("approve-release", {}))
    body = advance(client_for(second_owner), milestone, ("approve-release", {}))
    assert body["status"] == "verified"


def test_funder_contests_and_dispute_is_resolved(org, people, client_for):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="verified")
    investor = client_for(people["viewer"])
    body = advance(investor, milestone, ("dispute", {"reason": "Utilization data covers only 5 days"}))
    assert body["status"] == "disputed" and body["status_reason"] == "Utilization data covers only 5 days"
    refused = investor.post(f"/api/milestones/{milestone.pk}/resolve-dispute/", {"outcome": "resubmit"}, format="json")
    assert refused.status_code == 403
    body = advance(
        client_for(people["finance"]), milestone, ("resolve-dispute", {"outcome": "resubmit", "note": "7 days now"})
    )
    assert body["status"] == "submitted"


def test_viewer_cannot_submit_and_wrong_state_is_409(org, people, client_for):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status="released")
    assert client_for(people["viewer"]).post(f"/api/milestones/{milestone.pk}/submit/", {}).status_code == 403
    response = client_for(people["engineer"]).post(f"/api/milestones/{milestone.pk}/submit/", {}, format="json")
    assert response.status_code == 409
    assert (
        response.json()["message"]
        == "Cannot submit this milestone: it is released, and must be planned or in progress."
    )


def test_missed_then_refunded_is_audited(org, people, client_for):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), due_date=dt.date(2026, 3, 1))
    finance = client_for(people["finance"])
    advance(finance, milestone, ("mark-missed", {"reason": "Deadline passed"}), ("refund", {"reason": "Escrow refund"}))
    statuses = [
        (e.before["status"], e.after["status"])
        for e in AuditEvent.objects.filter(action="milestone.status_changed").order_by("seq")
    ]
    assert statuses == [
        (MilestoneStatus.PLANNED, MilestoneStatus.MISSED),
        (MilestoneStatus.MISSED, MilestoneStatus.REFUNDED),
    ]
