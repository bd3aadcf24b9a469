"""Idempotency records keep a hash and a redacted body: a secret is shown once and never stored."""

import pytest
from rest_framework.test import APIClient

from apps.core.idempotency import SECRET_SHOWN_ONCE, redact_secrets
from apps.core.models import IdempotencyRecord
from apps.tenancy.models import ApiToken, Role
from apps.webhooks.models import WebhookEndpoint
from tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db

NOTE = SECRET_SHOWN_ONCE.decode()


@pytest.fixture
def signed_in():
    organization = OrganizationFactory(name="Acme")
    owner = member(organization, Role.OWNER)
    client = APIClient()
    client.force_login(owner)  # a real session, as the browser has: the idempotency layer sees the user
    return client, organization


def stored_bodies() -> list[bytes]:
    return [bytes(body) for body in IdempotencyRecord.objects.values_list("body", flat=True)]


def test_replayed_token_creation_says_the_token_was_shown_once(signed_in):
    client, _organization = signed_in
    first = client.post("/api/tokens/", {"name": "ledger-sync"}, HTTP_IDEMPOTENCY_KEY="token-1")
    assert first.status_code == 201
    raw = first.json()["token"]
    assert raw.startswith("gt_")

    (record,) = IdempotencyRecord.objects.all()
    assert len(record.fingerprint) == 64 and record.status_code == 201
    assert raw.encode() not in bytes(record.body) and b"gt_" not in bytes(record.body)

    replay = client.post("/api/tokens/", {"name": "ledger-sync"}, HTTP_IDEMPOTENCY_KEY="token-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json() | {"token": NOTE}
    assert ApiToken.objects.count() == 1


def test_replayed_webhook_creation_does_not_store_the_signing_secret(signed_in):
    client, organization = signed_in
    body = {"organization": str(organization.pk), "url": "https://hooks.example.com/govtrack", "events": []}
    first = client.post("/api/webhooks/", body, HTTP_IDEMPOTENCY_KEY="hook-1")
    assert first.status_code == 201, first.json()
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    assert all(secret.encode() not in stored and b"whsec_" not in stored for stored in stored_bodies())

    replay = client.post("/api/webhooks/", body, HTTP_IDEMPOTENCY_KEY="hook-1")
    assert replay.status_code == 201
    assert replay.json()["secret"] == NOTE and replay.json()["id"] == first.json()["id"]
    assert WebhookEndpoint.objects.count() == 1


def test_redaction_takes_secrets_and_leaves_names():
    body = (
        b'{"token": "gt_0a1b2c3d_' + b"A" * 43 + b'", "device": "gtd_deadbeef_' + b"b-" * 20 + b'", '
        b'"secret": "whsec_' + b"x_" * 22 + b'", "name": "gt_ledger", "invite": "gti_' + b"Q" * 43 + b'"}'
    )
    redacted = redact_secrets(body).decode()
    assert redacted.count(NOTE) == 4
    assert '"name": "gt_ledger"' in redacted
    assert all(marker not in redacted for marker in ("gt_0a1b", "gtd_", "whsec_", "gti_"))
