import csv
import io
from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.funding.models import BudgetAmendment, BudgetLine, Expense
from tests.funding.factories import GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


def add_line(client, grant, name, category, amount):
    body = {"grant": str(grant.pk), "name": name, "category": category, "amount": amount}
    return client.post("/api/budget-lines/", body, format="json")


def lines_of(client, grant) -> dict:
    rows = client.get(f"/api/budget-lines/?grant={grant.pk}").json()["results"]
    return {row["name"]: row for row in rows}


@pytest.fixture
def grant_with_lines(org, people, client_for):
    grant = GrantFactory(organization=org, amount_awarded=Decimal("100000"))
    client = client_for(people["finance"])
    for name, category, amount in [("GPU hours", "compute", "60000"), ("Engineers", "personnel", "30000")]:
        assert add_line(client, grant, name, category, amount).status_code == 201
    return grant


def test_budget_vs_committed_vs_actual_per_line(grant_with_lines, people, client_for):
    grant, client = grant_with_lines, client_for(people["finance"])
    compute = BudgetLine.objects.get(grant=grant, name="GPU hours")
    milestone = MilestoneFactory(grant=grant, amount=Decimal("40000"), status="released")
    body = {"milestone": str(milestone.pk), "amount": "25000", "paid_on": "2026-06-01", "budget_line": str(compute.pk)}
    assert client.post("/api/disbursements/", body, format="json").status_code == 201
    for amount, day in [("12000.50", "2026-06-10"), ("3000", "2026-07-01")]:
        body = {"budget_line": str(compute.pk), "amount": amount, "spent_on": day, "description": "Cloud bill"}
        assert client.post("/api/expenses/", body, format="json").status_code == 201

    line = lines_of(client, grant)["GPU hours"]
    assert (line["amount"], line["committed"], line["actual"], line["remaining"]) == (
        "60000.00",
        "25000.00",
        "15000.50",
        "44999.50",
    )
    assert lines_of(client, grant)["Engineers"]["actual"] == "0.00"

    response = client.get(f"/api/budget-lines/?grant={grant.pk}&format=csv")
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))}
    assert (rows["GPU hours"]["budget"], rows["GPU hours"]["committed"], rows["GPU hours"]["actual"]) == (
        "60000.00",
        "25000.00",
        "15000.50",
    )


def test_lines_stay_within_the_award_and_bad_input_names_the_field(grant_with_lines, people, client_for):
    client = client_for(people["finance"])
    response = add_line(client, grant_with_lines, "Travel", "travel", "10000.01")
    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["amount"]
    response = add_line(client, grant_with_lines, "Travel", "snacks", "100")
    assert list(response.json()["extra"]["fields"]) == ["category"]
    response = add_line(client, grant_with_lines, "GPU hours", "compute", "100")
    assert response.json()["extra"]["fields"] == {"name": ["This grant already has a budget line named 'GPU hours'."]}
    assert add_line(client_for(people["engineer"]), grant_with_lines, "Travel", "travel", "100").status_code == 403
    assert BudgetLine.objects.filter(grant=grant_with_lines).count() == 2


def test_a_disbursement_tagged_to_another_grants_line_is_refused(grant_with_lines, org, people, client_for):
    other_line = BudgetLine.objects.create(
        organization=org,
        grant=GrantFactory(organization=org),
        category="travel",
        name="x",
        currency="EUR",
        amount_original=0,
        amount=0,
    )
    milestone = MilestoneFactory(grant=grant_with_lines, status="released")
    body = {"milestone": str(milestone.pk), "amount": "10", "paid_on": "2026-06-01", "budget_line": str(other_line.pk)}
    response = client_for(people["finance"]).post("/api/disbursements/", body, format="json")
    assert response.json()["extra"]["fields"] == {
        "budget_line": ["Not a budget line of this milestone's grant or investment."]
    }


def test_an_expense_is_corrected_by_a_void_never_edited(grant_with_lines, people, client_for):
    client = client_for(people["finance"])
    line = BudgetLine.objects.get(grant=grant_with_lines, name="Engineers")
    body = {"budget_line": str(line.pk), "amount": "5000", "spent_on": "2026-03-31", "description": "Payroll March"}
    expense = client.post("/api/expenses/", body, format="json").json()
    void = client.post(f"/api/expenses/{expense['id']}/void/", {"reason": "Booked twice"}, format="json")
    assert void.status_code == 201 and void.json()["amount"] == "-5000.00"
    assert Expense.objects.count() == 2
    assert lines_of(client, grant_with_lines)["Engineers"]["actual"] == "0.00"
    again = client.post(f"/api/expenses/{expense['id']}/void/", {"reason": "again"}, format="json")
    assert again.status_code == 409


def test_reallocation_applies_at_once_and_keeps_what_is_spent(grant_with_lines, people, client_for):
    client = client_for(people["finance"])
    compute = BudgetLine.objects.get(grant=grant_with_lines, name="GPU hours")
    people_line = BudgetLine.objects.get(grant=grant_with_lines, name="Engineers")
    body = {"budget_line": str(compute.pk), "amount": "55000", "spent_on": "2026-05-01", "description": "Cluster"}
    client.post("/api/expenses/", body, format="json")
    move = {"from_line": str(compute.pk), "to_line": str(people_line.pk), "reason": "Hire earlier"}
    refused = client.post("/api/budget-amendments/", {**move, "amount": "5000.01"}, format="json")
    assert refused.status_code == 409 and "at most 5000.00" in refused.json()["message"]
    response = client.post("/api/budget-amendments/", {**move, "amount": "5000"}, format="json")
    assert response.status_code == 201 and response.json()["status"] == "applied"
    lines = lines_of(client, grant_with_lines)
    assert (lines["GPU hours"]["amount"], lines["Engineers"]["amount"]) == ("55000.00", "35000.00")
    assert lines["GPU hours"]["amount_original"] == "60000.00"
    event = AuditEvent.objects.filter(action="budget.amendment_changed").get()
    assert event.after["moved"] == "5000" and event.before == {
        "status": "proposed",
        "decided_at": None,
        "decided_by_id": None,
    }


def test_reallocation_waits_for_the_funder_where_the_grant_says_so(grant_with_lines, people, client_for):
    grant = grant_with_lines
    grant.reallocation_needs_funder_approval = True
    grant.save(update_fields=["reallocation_needs_funder_approval"])
    compute = BudgetLine.objects.get(grant=grant, name="GPU hours")
    people_line = BudgetLine.objects.get(grant=grant, name="Engineers")
    finance = client_for(people["finance"])
    move = {"from_line": str(compute.pk), "to_line": str(people_line.pk), "reason": "Hire", "amount": "10000"}
    proposed = finance.post("/api/budget-amendments/", move, format="json").json()
    assert proposed["status"] == "proposed"
    assert lines_of(finance, grant)["GPU hours"]["amount"] == "60000.00"
    assert finance.post(f"/api/budget-amendments/{proposed['id']}/approve/", {}, format="json").status_code == 403

    funder = client_for(people["viewer"])
    actions = {
        a["action"]: a["allowed"]
        for a in funder.get(f"/api/budget-amendments/{proposed['id']}/").json()["allowed_actions"]
    }
    assert actions == {"apply": False, "approve": True, "reject": True}
    approved = funder.post(f"/api/budget-amendments/{proposed['id']}/approve/", {}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "applied"
    assert approved.json()["decided_by"] == people["viewer"].pk
    assert lines_of(finance, grant)["Engineers"]["amount"] == "40000.00"
    assert BudgetAmendment.objects.get().status == "applied"
