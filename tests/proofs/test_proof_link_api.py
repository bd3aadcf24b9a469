"""Proof links over the API, bad input: a 400 naming the field or a 404, never a 500; no account, no list."""

from apps.funding.models import MilestoneStatus
from tests.funding.factories import GrantFactory, MilestoneFactory


def test_bad_input_is_a_400_naming_the_field_or_a_404(client_for, people, org, api_client):
    finance = client_for(people["finance"])
    for body in ({}, {"milestone": "not-a-uuid"}, {"milestone": "6f1c3c3e-0000-4000-8000-000000000000"}):
        response = finance.post("/api/proof-links/", body, format="json")
        assert response.status_code == 400, response.content
        assert "milestone" in response.json()["extra"]["fields"]
    assert finance.get("/api/proof-links/?milestone=garbage").status_code == 400
    assert finance.get("/api/proof-links/not-a-uuid/").status_code == 404
    assert finance.post("/api/proof-links/6f1c3c3e-0000-4000-8000-000000000000/revoke/").status_code == 404
    assert api_client.get("/api/proof-links/").status_code == 401


def test_only_a_released_milestone_gets_a_link(client_for, people, org):
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), status=MilestoneStatus.VERIFIED)
    response = client_for(people["owner"]).post("/api/proof-links/", {"milestone": str(milestone.pk)}, format="json")
    assert response.status_code == 409
    assert "Only a released milestone" in response.json()["message"]
    assert not milestone.proof_links.exists()
