import pytest

from apps.funding.models import KpiReading

pytestmark = pytest.mark.django_db

BODY = {
    "metric": "revenue",
    "value": "41250.50",
    "unit": "USD",
    "period_start": "2026-10-01",
    "period_end": "2026-10-31",
    "source": "ledger",
}


def test_same_key_and_body_replays_the_response_without_a_second_row(org, people, token_client_for):
    client = token_client_for(people["finance"])
    first = client.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="kpi-oct-2026")
    second = client.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="kpi-oct-2026")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert KpiReading.objects.count() == 1


def test_same_key_with_a_different_body_is_422(org, people, token_client_for):
    client = token_client_for(people["finance"])
    client.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="kpi-oct-2026")
    response = client.post(
        "/api/kpi-readings/", {**BODY, "value": "1"}, format="json", HTTP_IDEMPOTENCY_KEY="kpi-oct-2026"
    )
    assert response.status_code == 422
    assert response.json()["extra"]["fields"] == {"Idempotency-Key": ["Reused with a different request body or path."]}
    assert KpiReading.objects.get().value == 41250.5


def test_keys_are_per_user_and_errors_are_replayed_too(org, people, token_client_for):
    finance, engineer = token_client_for(people["finance"]), token_client_for(people["engineer"])
    assert finance.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    # Another user's same key is their own: it runs, and here meets the duplicate-reading rule (409).
    conflict = engineer.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert conflict.status_code == 409
    again = engineer.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 409 and again["Idempotent-Replayed"] == "true"


def test_without_a_key_a_repeat_is_a_duplicate(org, people, token_client_for):
    client = token_client_for(people["finance"])
    assert client.post("/api/kpi-readings/", BODY, format="json").status_code == 201
    response = client.post("/api/kpi-readings/", BODY, format="json")
    assert response.status_code == 409
    assert "already exists" in response.json()["message"]
