import pytest

from apps.audit.models import AuditEvent
from apps.funding.models import Grant, GrantStatus
from tests.funding.factories import FunderFactory, GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


def grant_body(org, funder, **overrides):
    return {
        "organization": str(org.pk),
        "funder": str(funder.pk),
        "title": "Privacy-preserving inference",
        "program": "Trustworthy AI",
        "focus_areas": ["privacy_compliant_ai"],
        "currency": "eur",
        "amount_requested": "250000.00",
        "period_start": "2026-01-01",
        "period_end": "2027-12-31",
        **overrides,
    }


def test_finance_takes_a_grant_from_draft_to_closed(org, people, client_for):
    client = client_for(people["finance"])
    funder = FunderFactory(organization=org)
    response = client.post("/api/grants/", grant_body(org, funder), format="json")
    assert response.status_code == 201, response.json()
    grant = response.json()
    assert grant["status"] == "draft" and grant["currency"] == "EUR"
    url = f"/api/grants/{grant['id']}"

    assert client.post(f"{url}/submit/").json()["status"] == "submitted"
    assert client.post(f"{url}/start-review/").json()["status"] == "under_review"
    awarded = client.post(f"{url}/award/", {"amount_awarded": "200000"}, format="json").json()
    assert awarded["status"] == "awarded" and awarded["amount_awarded"] == "200000.00"
    assert awarded["summary"]["budget"] == "200000.00"
    for step, expected in (("activate", "active"), ("begin-closing", "closing"), ("close", "closed")):
        response = client.post(f"{url}/{step}/")
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == expected

    changes = AuditEvent.objects.filter(action="grant.status_changed", object_id=grant["id"]).order_by("seq")
    assert [(e.before["status"], e.after["status"]) for e in changes] == [
        ("draft", "submitted"),
        ("submitted", "under_review"),
        ("under_review", "awarded"),
        ("awarded", "active"),
        ("active", "closing"),
        ("closing", "closed"),
    ]
    assert all(e.actor_id == people["finance"].pk for e in changes)


def test_illegal_transition_is_409_with_the_reason_and_changes_nothing(org, people, client_for):
    grant = GrantFactory(organization=org, status=GrantStatus.DRAFT, amount_awarded=None)
    response = client_for(people["finance"]).post(f"/api/grants/{grant.pk}/award/", {"amount_awarded": "10"})
    assert response.status_code == 409
    assert response.json() == {
        "message": "Cannot award this grant: it is draft, and must be under review.",
        "extra": {"status": "draft", "allowed_from": ["under_review"]},
    }
    grant.refresh_from_db()
    assert grant.status == "draft" and grant.amount_awarded is None


def test_engineer_cannot_change_grant_status_and_is_told_why(org, people, client_for):
    grant = GrantFactory(organization=org, status=GrantStatus.DRAFT)
    response = client_for(people["engineer"]).post(f"/api/grants/{grant.pk}/submit/")
    assert response.status_code == 403
    assert response.json()["message"] == (
        "To change a grant's status you need one of the roles: finance, owner. Your role in Acme Compute is engineer."
    )
    assert Grant.objects.get(pk=grant.pk).status == "draft"


def test_rejection_needs_a_reason(org, people, client_for):
    grant = GrantFactory(organization=org, status=GrantStatus.SUBMITTED)
    client = client_for(people["owner"])
    response = client.post(f"/api/grants/{grant.pk}/reject/", {}, format="json")
    assert response.status_code == 400 and list(response.json()["extra"]["fields"]) == ["reason"]
    response = client.post(f"/api/grants/{grant.pk}/reject/", {"reason": "Out of programme scope"}, format="json")
    assert response.json()["status"] == "rejected" and response.json()["status_reason"] == "Out of programme scope"


def test_grant_cannot_close_with_unsettled_milestones(org, people, client_for):
    grant = GrantFactory(organization=org, status=GrantStatus.CLOSING)
    MilestoneFactory(grant=grant, title="GPU cluster online", status="submitted")
    response = client_for(people["finance"]).post(f"/api/grants/{grant.pk}/close/")
    assert response.status_code == 409
    assert "GPU cluster online" in response.json()["message"]


@pytest.mark.parametrize(
    ("overrides", "field", "message_part"),
    [
        ({"amount_requested": "-5"}, "amount_requested", "greater than zero"),
        ({"amount_requested": "lots"}, "amount_requested", "valid number"),
        ({"amount_requested": "10.555"}, "amount_requested", "decimal places"),
        ({"currency": "XYZ"}, "currency", "ISO-4217"),
        ({"period_end": "2025-01-01"}, "period_end", "ends before it starts"),
        ({"focus_areas": ["crypto"]}, "focus_areas", "valid choice"),
        ({"title": ""}, "title", "blank"),
    ],
)
def test_bad_grant_input_names_the_field_and_writes_nothing(org, people, client_for, overrides, field, message_part):
    funder = FunderFactory(organization=org)
    response = client_for(people["finance"]).post("/api/grants/", grant_body(org, funder, **overrides), format="json")
    assert response.status_code == 400, response.json()
    fields = response.json()["extra"]["fields"]
    assert list(fields) == [field]
    assert message_part in " ".join(str(m) for m in fields[field])
    assert not Grant.objects.exists()
    assert not AuditEvent.objects.filter(action="grant.created").exists()


def test_another_organizations_funder_is_unknown_in_the_named_field(org, people, outsider, client_for):
    foreign_funder = FunderFactory()
    response = client_for(people["finance"]).post("/api/grants/", grant_body(org, foreign_funder), format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"funder": ["Unknown in your organizations."]}


def test_another_organizations_grant_is_404(org, outsider, client_for):
    grant = GrantFactory(organization=org)
    client = client_for(outsider)
    assert client.get(f"/api/grants/{grant.pk}/").status_code == 404
    assert client.post(f"/api/grants/{grant.pk}/begin-closing/").status_code == 404
    assert Grant.objects.get(pk=grant.pk).status == "active"


def test_money_fields_freeze_after_submission(org, people, client_for):
    grant = GrantFactory(organization=org, status=GrantStatus.SUBMITTED)
    response = client_for(people["finance"]).patch(f"/api/grants/{grant.pk}/", {"amount_requested": "1"}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"amount_requested": ["Fixed once the grant is submitted."]}
