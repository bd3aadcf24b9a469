"""Webhooks delivered to a real HTTP receiver on a loopback port; the receiver checks the signature."""

import datetime as dt
import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.webhooks.models import WebhookDelivery
from apps.webhooks.signing import verify
from apps.webhooks.tasks import webhook_deliver, webhook_sweep
from tests.funding.factories import GrantFactory, MilestoneFactory
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture(autouse=True)
def _http_receivers(settings):
    settings.WEBHOOKS_ALLOW_HTTP = True  # the loopback receiver speaks plain http
    settings.EGRESS_ALLOW_NETWORKS = ["127.0.0.1/32"]  # as an operator would allow an internal receiver


def register(client, org, url, events):
    response = client.post("/api/webhooks/", {"organization": str(org.pk), "url": url, "events": events}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_released_milestone_reaches_the_receiver_signed(
    org, people, token_client_for, receiver, django_capture_on_commit_callbacks
):
    finance = token_client_for(people["finance"])
    endpoint = register(finance, org, receiver.url, ["milestone.released"])
    assert endpoint["secret"].startswith("whsec_")
    milestone = MilestoneFactory(grant=GrantFactory(organization=org), amount=Decimal("1000"), status="verified")

    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(f"/api/milestones/{milestone.pk}/approve-release/", {}, format="json")
    assert response.json()["status"] == "released"

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = request["headers"]
    assert headers["X-Govtrack-Event"] == "milestone.released"
    # What a receiver written from docs/webhooks.md computes: HMAC-SHA256(secret, "<timestamp>." + raw body).
    by_hand = hmac.new(
        endpoint["secret"].encode(), headers["X-Govtrack-Timestamp"].encode() + b"." + request["body"], hashlib.sha256
    )
    assert headers["X-Govtrack-Signature"] == f"v1={by_hand.hexdigest()}"
    assert verify(endpoint["secret"], headers["X-Govtrack-Timestamp"], request["body"], headers["X-Govtrack-Signature"])
    assert not verify("whsec_wrong", headers["X-Govtrack-Timestamp"], request["body"], headers["X-Govtrack-Signature"])
    assert abs(int(headers["X-Govtrack-Timestamp"]) - time.time()) < 60
    payload = json.loads(request["body"])
    assert payload["type"] == "milestone.released"
    assert payload["data"]["milestone_id"] == str(milestone.pk) and payload["data"]["previous_status"] == "verified"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


def test_failed_delivery_is_retried_with_backoff_and_logged(
    org, people, token_client_for, receiver, django_capture_on_commit_callbacks
):
    finance = token_client_for(people["finance"])
    register(finance, org, receiver.url, [])
    receiver.statuses = [500, 503]
    grant = GrantFactory(organization=org, status="draft")
    with django_capture_on_commit_callbacks(execute=True):
        finance.post(f"/api/grants/{grant.pk}/submit/")

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error.startswith("HTTP 500")
    assert dt.timedelta(seconds=25) < delivery.next_attempt_at - timezone.now() <= dt.timedelta(seconds=30)

    assert webhook_sweep() == 0  # not due yet: nothing is sent early
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhook_sweep()
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (2, 503)
    assert dt.timedelta(seconds=55) < delivery.next_attempt_at - timezone.now() <= dt.timedelta(seconds=60)

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhook_sweep()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert len({b["id"] for b in bodies}) == 1  # the same event each time, so the receiver can dedupe


def test_a_second_message_before_the_retry_time_sends_nothing(
    org, people, token_client_for, receiver, django_capture_on_commit_callbacks
):
    # The after-commit nudge and the sweep may both queue one delivery: the backoff still holds.
    finance = token_client_for(people["finance"])
    register(finance, org, receiver.url, [])
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        finance.post(f"/api/grants/{GrantFactory(organization=org, status='draft').pk}/submit/")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)

    assert webhook_deliver(str(delivery.pk)) == "skipped"
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_unreachable_receiver_error_is_visible(org, people, token_client_for, django_capture_on_commit_callbacks):
    finance = token_client_for(people["finance"])
    register(finance, org, "http://127.0.0.1:9/nothing-listens-here", [])
    with django_capture_on_commit_callbacks(execute=True):
        finance.post(f"/api/grants/{GrantFactory(organization=org, status='draft').pk}/submit/")
    log = finance.get("/api/webhook-deliveries/").json()["results"]
    assert log[0]["status"] == "pending" and log[0]["last_error"] == "connection refused"


def test_redeliver_sends_the_event_again(org, people, token_client_for, receiver, django_capture_on_commit_callbacks):
    finance = token_client_for(people["finance"])
    register(finance, org, receiver.url, ["grant.status_changed"])
    with django_capture_on_commit_callbacks(execute=True):
        finance.post(f"/api/grants/{GrantFactory(organization=org, status='draft').pk}/submit/")
    delivery_id = finance.get("/api/webhook-deliveries/").json()["results"][0]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(f"/api/webhook-deliveries/{delivery_id}/redeliver/")
    assert response.status_code == 200
    assert len(receiver.requests) == 2
    assert WebhookDelivery.objects.get().attempts == 2


def test_only_finance_and_owners_manage_webhooks(org, people, token_client_for):
    response = token_client_for(people["engineer"]).post(
        "/api/webhooks/", {"organization": str(org.pk), "url": "https://hooks.example.com/x"}, format="json"
    )
    assert response.status_code == 403 and "manage webhooks" in response.json()["message"]


def test_unknown_event_type_names_the_field(org, people, token_client_for):
    response = token_client_for(people["owner"]).post(
        "/api/webhooks/", {"url": "https://hooks.example.com/x", "events": ["grant.exploded"]}, format="json"
    )
    assert response.status_code == 400 and list(response.json()["extra"]["fields"]) == ["events"]
