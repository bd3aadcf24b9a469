"""Webhooks go through the egress gate: no internal receivers for tenants, no answer bodies stored, a new secret
for a new host."""

import pytest

from apps.audit.models import AuditEvent
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import webhook_delivery_attempt
from apps.webhooks.signing import verify
from tests.funding.factories import GrantFactory
from tests.listeners import LoopbackListener, http_answer
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production_egress(settings):
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.EGRESS_ALLOW_NETWORKS = []  # the production default: no internal address is allowed
    settings.EGRESS_ALLOW_HOSTS = []


def submit_grant(client, org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/grants/{GrantFactory(organization=org, status='draft').pk}/submit/")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:5432/",
        "https://127.0.0.1:6379/",
        "https://[::1]/hook",
        "https://localhost:8443/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hook",
        "https://172.16.4.4/hook",
        "https://192.168.0.10/hook",
        "https://100.64.1.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",
    ],
)
def test_internal_receivers_are_refused_with_a_400_naming_url(org, people, token_client_for, url):
    response = token_client_for(people["finance"]).post(
        "/api/webhooks/", {"organization": str(org.pk), "url": url}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert list(response.json()["extra"]["fields"]) == ["url"]
    assert "Refused by egress policy" in response.json()["extra"]["fields"]["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_credentials_in_the_url_are_refused(org, people, token_client_for):
    response = token_client_for(people["owner"]).post(
        "/api/webhooks/", {"url": "https://user:pw@hooks.example.invalid/x"}, format="json"
    )
    assert response.status_code == 400 and list(response.json()["extra"]["fields"]) == ["url"]


def test_a_stored_internal_url_is_refused_when_connecting_and_nothing_reaches_it(
    org, people, token_client_for, django_capture_on_commit_callbacks
):
    finance = token_client_for(people["finance"])
    with LoopbackListener() as listener:
        for url in (f"{listener.url}/hook", f"http://localhost:{listener.port}/hook"):
            # Written before the checks existed (or by a name that resolved elsewhere at creation time).
            WebhookEndpoint.objects.all().delete()
            WebhookEndpoint.objects.create(organization=org, url=url, secret="whsec_x", events=[])
            submit_grant(finance, org, django_capture_on_commit_callbacks)
        assert listener.connections == 0
    errors = set(WebhookDelivery.objects.values_list("last_error", flat=True))
    assert errors == {"refused by egress policy: loopback address"}
    shown = token_client_for(people["viewer"]).get("/api/webhook-deliveries/").json()["results"]
    assert {d["last_error"] for d in shown} == errors and {d["last_status_code"] for d in shown} == {None}


def test_the_receivers_answer_is_never_stored(org, people, token_client_for, settings):
    settings.EGRESS_ALLOW_NETWORKS = ["127.0.0.1/32"]  # the operator allows a loopback receiver
    answer = http_answer(500, b"postgres://admin:hunter2@db:5432 stack trace")
    with LoopbackListener(answer=answer) as listener:
        endpoint = WebhookEndpoint.objects.create(organization=org, url=listener.url + "/h", secret="whsec_x")
        delivery = WebhookDelivery.objects.create(
            organization=org,
            endpoint=endpoint,
            event_id="6c1b0c6e-3f0e-4a53-9d7a-4a3f4a1c2b10",
            event_type="grant.status_changed",
            payload={},
        )
        webhook_delivery_attempt(delivery_id=delivery.pk)
        assert listener.connections == 1
    delivery.refresh_from_db()
    assert (delivery.last_status_code, delivery.last_error) == (500, "HTTP 500")
    shown = token_client_for(people["viewer"]).get(f"/api/webhook-deliveries/{delivery.pk}/").json()
    assert "hunter2" not in str(shown) and "stack trace" not in str(shown)


def test_redirects_are_not_followed(org, settings):
    settings.EGRESS_ALLOW_NETWORKS = ["127.0.0.1/32"]
    with LoopbackListener() as target:
        moved = http_answer(307, b"", {"Location": f"{target.url}/elsewhere"})
        with LoopbackListener(answer=moved) as receiver:
            endpoint = WebhookEndpoint.objects.create(organization=org, url=receiver.url + "/h", secret="whsec_x")
            delivery = WebhookDelivery.objects.create(
                organization=org,
                endpoint=endpoint,
                event_id="6c1b0c6e-3f0e-4a53-9d7a-4a3f4a1c2b11",
                event_type="grant.status_changed",
                payload={},
            )
            webhook_delivery_attempt(delivery_id=delivery.pk)
        assert target.connections == 0
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.last_error == "HTTP 307 (redirects are not followed)"


def test_a_url_moved_to_another_host_gets_a_new_secret(
    org, people, token_client_for, settings, django_capture_on_commit_callbacks
):
    settings.EGRESS_ALLOW_NETWORKS = ["127.0.0.1/32"]
    owner, finance = token_client_for(people["owner"]), token_client_for(people["finance"])
    with Receiver() as first, Receiver() as second:
        created = owner.post("/api/webhooks/", {"url": first.url, "events": []}, format="json").json()
        old_secret = created["secret"]

        # Same origin, another path: the secret stays, none is shown.
        same = finance.patch(f"/api/webhooks/{created['id']}/", {"url": first.url + "/v2"}, format="json")
        assert same.status_code == 200 and same.json()["secret"] is None
        assert WebhookEndpoint.objects.get().secret == old_secret

        # Another host (here another port): a new secret, shown once; the new host never sees the old one's work.
        moved = finance.patch(f"/api/webhooks/{created['id']}/", {"url": second.url}, format="json")
        assert moved.status_code == 200
        new_secret = moved.json()["secret"]
        assert new_secret.startswith("whsec_") and new_secret != old_secret
        assert WebhookEndpoint.objects.get().secret == new_secret
        assert finance.get(f"/api/webhooks/{created['id']}/").json().get("secret") is None

        submit_grant(finance, org, django_capture_on_commit_callbacks)
        assert first.requests == [] and len(second.requests) == 1
        headers, body = second.requests[0]["headers"], second.requests[0]["body"]
        signature = headers["X-Govtrack-Signature"]
        assert verify(new_secret, headers["X-Govtrack-Timestamp"], body, signature)
        assert not verify(old_secret, headers["X-Govtrack-Timestamp"], body, signature)
    event = AuditEvent.objects.filter(action="webhook.updated").last()
    assert event.after.get("secret") == "renewed" and old_secret not in str(event.after) + str(event.before)


def test_a_long_answer_is_not_read_and_its_status_still_counts(org, settings):
    settings.EGRESS_ALLOW_NETWORKS = ["127.0.0.1/32"]
    with LoopbackListener(answer=http_answer(200, b"<html>" + b"x" * 1_000_000, length=False)) as receiver:
        endpoint = WebhookEndpoint.objects.create(organization=org, url=receiver.url + "/h", secret="whsec_x")
        delivery = WebhookDelivery.objects.create(
            organization=org,
            endpoint=endpoint,
            event_id="6c1b0c6e-3f0e-4a53-9d7a-4a3f4a1c2b12",
            event_type="grant.status_changed",
            payload={},
        )
        webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("delivered", 200, "")
