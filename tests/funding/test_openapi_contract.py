"""What a finance tool reads in the OpenAPI document is enough for its three everyday jobs."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(org, people, client_for):
    response = client_for(people["finance"]).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_milestones_due_this_quarter_as_csv_is_described(schema):
    operation = schema["paths"]["/api/v1/milestones/"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"due_after", "due_before", "status", "currency", "funder", "format"} <= set(parameters)
    assert parameters["due_after"]["schema"]["format"] == "date"
    assert "text/csv" in operation["responses"]["200"]["content"]


def test_posting_a_kpi_reading_is_described(schema):
    body = schema["paths"]["/api/v1/kpi-readings/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    component = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert {"metric", "value", "period_start", "period_end", "source"} <= set(component["required"])
    assert {"bearer"} == {
        scheme["scheme"] for scheme in schema["components"]["securitySchemes"].values() if scheme.get("type") == "http"
    }


def test_signed_webhooks_are_described(schema):
    create = schema["paths"]["/api/v1/webhooks/"]["post"]
    assert "X-Govtrack-Signature" in create["description"] and "HMAC-SHA256" in create["description"]
    created = create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "secret" in schema["components"]["schemas"][created]["properties"]
    events = schema["components"]["schemas"]["WebhookEventEnum"]["enum"]
    assert "milestone.released" in events
