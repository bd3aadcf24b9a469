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


def test_the_fingerprint_is_the_sha256_of_method_path_and_raw_body(org, people, token_client_for):
    # docs/api.md: SHA-256 of "<METHOD> <path with query>\n" followed by the raw body, computed here by hand.
    import hashlib
    import json

    from apps.core.models import IdempotencyRecord

    client = token_client_for(people["finance"])
    raw = json.dumps(BODY).encode()
    response = client.post(
        "/api/kpi-readings/?source=ledger", raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="kpi-raw"
    )
    assert response.status_code == 201, response.json()
    record = IdempotencyRecord.objects.get(key="kpi-raw")
    assert record.fingerprint == hashlib.sha256(b"POST /api/kpi-readings/?source=ledger\n" + raw).hexdigest()
    moved = client.post("/api/kpi-readings/", raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="kpi-raw")
    assert moved.status_code == 422, "the same body on another path is another request"


def test_a_server_error_is_not_stored_so_the_retry_runs_again(org, people, token_client_for, monkeypatch):
    from apps.core.models import IdempotencyRecord
    from apps.funding.api import views

    real_create = views.kpis.kpi_reading_create
    calls = []

    def fail_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real_create(**kwargs)

    monkeypatch.setattr(views.kpis, "kpi_reading_create", fail_once)
    client = token_client_for(people["finance"])
    client.raise_request_exception = False
    first = client.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="kpi-retry")
    assert first.status_code == 500
    assert not IdempotencyRecord.objects.filter(key="kpi-retry").exists()
    second = client.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="kpi-retry")
    assert second.status_code == 201 and "Idempotent-Replayed" not in second
    assert len(calls) == 2 and KpiReading.objects.count() == 1
