"""/metrics of a live gunicorn (two workers, multiprocess metrics) scraped by the real Prometheus."""

import os
import uuid

import pytest
import requests
from django.db import connection

from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.deploy.live import Gunicorn, Prometheus, production_env
from tests.factories import OrganizationFactory

TOKEN = "metrics-scrape-token-" + uuid.uuid4().hex

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    log = tmp_path_factory.mktemp("web") / "web.log"
    web = Gunicorn(
        env=production_env(connection, METRICS_TOKEN=TOKEN, REDIS_URL=os.environ.get("REDIS_URL", "")), log=log
    )
    web.start()
    yield web
    web.stop()


@pytest.fixture
def prometheus(tmp_path, server):
    work = tmp_path / "prometheus"
    work.mkdir()
    job = {
        "job_name": "govtrack",
        "metrics_path": "/metrics",
        "authorization": {"type": "Bearer", "credentials": TOKEN},
        "static_configs": [{"targets": [server.url.removeprefix("http://")]}],
    }
    prom = Prometheus(work, [job]).start()
    yield prom
    prom.stop()


def test_metrics_need_the_token(server, redis_url):
    assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 404
    wrong = requests.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 404
    right = requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert right.status_code == 200 and "govtrack_outbox_backlog" in right.text


def test_prometheus_scrapes_request_latency_and_outbox_backlog(server, prometheus):
    # Requests spread over both gunicorn workers; the scrape, answered by either one, counts them all.
    healthz = 'sum(govtrack_http_request_duration_seconds_count{job="govtrack",route="healthz",status="2xx"})'
    before = prometheus.value_when(healthz, lambda v: v >= 1)  # the start-up probes
    for _ in range(12):
        assert requests.get(f"{server.url}/healthz", timeout=10).ok
    for _ in range(3):
        assert requests.get(f"{server.url}/api/me/", timeout=10).status_code in {401, 403}
    assert prometheus.value_when(healthz, lambda v: v >= before + 12) == before + 12
    refused = 'sum(govtrack_http_request_duration_seconds_count{job="govtrack",route="api/me/",status="4xx"})'
    assert prometheus.value_when(refused, lambda v: v >= 3) == 3

    org = OrganizationFactory(name="Scraped")
    endpoint = WebhookEndpoint.objects.create(organization=org, url="https://example.org/h", secret="whsec_x")
    for _ in range(2):
        WebhookDelivery.objects.create(
            organization=org, endpoint=endpoint, event_id=uuid.uuid4(), event_type="grant.status_changed", payload={}
        )
    backlog = 'govtrack_outbox_backlog{job="govtrack",kind="webhook_delivery"}'
    assert prometheus.value_when(backlog, lambda v: v == 2) == 2
    assert prometheus.value_when('govtrack_metrics_source_up{source="queues"}', lambda v: v == 1) == 1
    assert prometheus.value_when('up{job="govtrack"}', lambda v: v == 1) == 1
