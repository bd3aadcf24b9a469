"""Two requests with one Idempotency-Key at the same moment, on PostgreSQL: one write, one replay."""

import threading

import pytest
from django.db import connections
from rest_framework.test import APIClient

from apps.funding.models import KpiReading
from apps.tenancy.models import Role, TokenScope
from apps.tenancy.services import api_token_create
from tests.factories import OrganizationFactory, member

BODY = {"metric": "revenue", "value": "5", "period_start": "2026-10-01", "period_end": "2026-10-31", "source": "ledger"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_write_once(postgres):
    user = member(OrganizationFactory(), Role.FINANCE)
    _token, raw = api_token_create(user=user, name="ledger", scope=TokenScope.READ_WRITE)
    responses, barrier = [], threading.Barrier(4)

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        barrier.wait()
        responses.append(client.post("/api/kpi-readings/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="same"))
        connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.json()["id"] for r in responses}) == 1
    assert KpiReading.objects.count() == 1
