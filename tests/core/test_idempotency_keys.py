"""Which requests an Idempotency-Key holds, how long, and what a replay answers (docs/api.md, "Idempotency")."""

import datetime as dt
import hashlib
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.idempotency import idempotency_forget_expired
from apps.core.models import IdempotencyRecord
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


def test_a_key_of_255_characters_is_kept_and_one_of_256_is_a_400_naming_the_header(org, people, token_client_for):
    client = token_client_for(people["finance"])
    kept = client.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k" * 255)
    assert kept.status_code == 201
    assert IdempotencyRecord.objects.filter(key="k" * 255).exists()
    too_long = client.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert too_long.status_code == 400
    assert too_long.json() == {
        "message": "Idempotency-Key is at most 255 characters.",
        "extra": {"fields": {"Idempotency-Key": ["Too long."]}},
    }
    assert KpiReading.objects.count() == 1


def test_a_key_belongs_to_the_user_whether_they_send_a_token_or_a_session(org, people, token_client_for):
    finance = people["finance"]
    first = token_client_for(finance).post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201
    assert IdempotencyRecord.objects.get(key="k1").principal == f"user:{finance.pk}"
    browser = APIClient()
    browser.force_login(finance)
    again = browser.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and again["Content-Type"] == first["Content-Type"] == "application/json"
    # A second key of the same user is its own request; each key replays its own answer.
    other = browser.post(
        "/api/kpi-readings/",
        {**BODY, "period_start": "2026-11-01", "period_end": "2026-11-30"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k2",
    )
    assert other.status_code == 201
    replayed = browser.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert replayed.json() == first.json()
    reused = browser.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert reused.status_code == 422
    assert reused.json()["message"] == (
        "This Idempotency-Key was used for a different request; use a new key for a new request."
    )
    assert KpiReading.objects.count() == 2


def test_only_a_signed_in_post_under_api_is_held_by_its_key(org, people, token_client_for):
    anonymous = APIClient().post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="anon")
    assert anonymous.status_code == 401
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer gt_00000000_notarealtokennotarealtoken")
    assert bad_token.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="bad").status_code == 401

    client = token_client_for(people["finance"])
    for _ in range(2):  # a PUT is not replayed: each runs (and is refused by the view itself)
        put = client.put("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="put")
        assert put.status_code == 405 and "Idempotent-Replayed" not in put
    browser = APIClient()
    browser.force_login(people["finance"])
    outside = browser.post("/accounts/logout/", HTTP_IDEMPOTENCY_KEY="page")
    assert outside.status_code in (200, 302)
    assert not IdempotencyRecord.objects.exists()


def test_an_upload_over_the_memory_limit_is_fingerprinted_by_its_length_and_media_type(
    org, people, token_client_for, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    client = token_client_for(people["finance"])
    raw = json.dumps(BODY).encode()
    assert len(raw) > 100
    first = client.post("/api/kpi-readings/", raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="big")
    assert first.status_code < 500
    record = IdempotencyRecord.objects.get(key="big")
    by_hand = hashlib.sha256(b"POST /api/kpi-readings/\n" + f"{len(raw)} application/json".encode()).hexdigest()
    assert record.fingerprint == by_hand
    # The same length and media type stand for the same upload: a replay, not a 422.
    same_size = raw.replace(b"ledger", b"LEDGER")
    again = client.post("/api/kpi-readings/", same_size, content_type="application/json", HTTP_IDEMPOTENCY_KEY="big")
    assert again.status_code == first.status_code and again["Idempotent-Replayed"] == "true"
    # A body of exactly the limit is read and hashed itself.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(raw)
    client.post("/api/kpi-readings/", raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="at-limit")
    at_limit = IdempotencyRecord.objects.get(key="at-limit")
    assert at_limit.fingerprint == hashlib.sha256(b"POST /api/kpi-readings/\n" + raw).hexdigest()


@pytest.mark.urls("tests.core.urls_streaming")
def test_a_streamed_answer_is_not_kept_so_a_retry_runs_again(org, people):
    from tests.core import urls_streaming

    browser = APIClient()
    browser.force_login(people["finance"])
    urls_streaming.streamed.clear()
    for _ in range(2):
        response = browser.post("/api/test-stream/", HTTP_IDEMPOTENCY_KEY="stream")
        assert b"".join(response.streaming_content) == b"part one, part two"
        assert "Idempotent-Replayed" not in response
    assert urls_streaming.streamed == ["POST", "POST"]
    assert not IdempotencyRecord.objects.exists()


def test_keys_older_than_the_ttl_are_forgotten_and_younger_ones_kept(settings, org, people):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    now = timezone.now()
    for key, age in (("old", dt.timedelta(hours=25)), ("young", dt.timedelta(hours=23))):
        record = IdempotencyRecord.objects.create(principal="user:1", key=key, fingerprint="0" * 64)
        IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=now - age)
    assert idempotency_forget_expired() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["young"]
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 22
    assert idempotency_forget_expired() == 1
    assert not IdempotencyRecord.objects.exists()
