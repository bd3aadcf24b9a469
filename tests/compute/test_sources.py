"""Compute sources: configuration through the API, and the beat/collect path against a real Prometheus."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.compute.models import ComputeSource, Device, Sample, SampleRollup
from apps.compute.services.sources import source_create
from apps.compute.tasks import compute_schedule_sources
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


def prometheus_config(url, **extra):
    return {"url": url, "mappings": "node_exporter", "selector": {"job": "node"}, "rate_window": "5s", **extra}


def test_source_config_is_checked_by_the_collector_and_secrets_never_shown(org, people, client_for, outsider):
    client = client_for(people["engineer"])
    bad = client.post(
        "/api/compute/sources/",
        {"name": "dcgm", "kind": "prometheus", "config": {"url": "http://p:9090", "scrape": 1}},
        format="json",
    )
    assert bad.status_code == 400
    assert "unknown key(s) for a prometheus collector: scrape" in bad.json()["extra"]["fields"]["config"][0]

    created = client.post(
        "/api/compute/sources/",
        {"name": "dcgm", "kind": "prometheus", "config": {"url": "http://p:9090", "bearer_token": "s3cret"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["config"] == {"url": "http://p:9090", "bearer_token": "********"}
    source = ComputeSource.objects.get(pk=created.json()["id"])

    # Sent back as shown to the same origin, the secret keeps its value; the audit trail never holds it.
    patched = client.patch(
        f"/api/compute/sources/{source.pk}/",
        {"config": {"url": "http://p:9090/prometheus", "bearer_token": "********"}, "schedule_seconds": 30},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    source.refresh_from_db()
    assert source.config == {"url": "http://p:9090/prometheus", "bearer_token": "s3cret"}
    assert source.schedule_seconds == 30
    assert not any("s3cret" in str(e.after) + str(e.before) for e in AuditEvent.objects.all())

    assert client_for(people["viewer"]).get(f"/api/compute/sources/{source.pk}/").status_code == 200
    assert client_for(people["viewer"]).delete(f"/api/compute/sources/{source.pk}/").status_code == 403
    assert (
        client_for(people["finance"])
        .post("/api/compute/sources/", {"name": "x", "kind": "push"}, format="json")
        .status_code
        == 403
    )
    assert client_for(outsider).get(f"/api/compute/sources/{source.pk}/").status_code == 404
    assert (
        client.post(
            "/api/compute/sources/", {"name": "edge", "kind": "push", "config": {"a": 1}}, format="json"
        ).status_code
        == 400
    )
    assert client.delete(f"/api/compute/sources/{source.pk}/").status_code == 204


def test_list_queries_do_not_grow_with_rows(org, people, client_for, django_assert_max_num_queries):
    client = client_for(people["viewer"])
    for i in range(2):
        source_create(organization=org, by=people["engineer"], name=f"edge {i}", kind="push")
    with django_assert_max_num_queries(6) as few:
        assert len(client.get("/api/compute/sources/").json()["results"]) == 2
    for i in range(2, 12):
        source_create(organization=org, by=people["engineer"], name=f"edge {i}", kind="push")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/compute/sources/").json()["results"]) == 12


@pytest.mark.services
def test_beat_collects_a_real_prometheus_and_a_failing_source_backs_off_alone(
    org, people, prometheus_stack, client_for, django_capture_on_commit_callbacks
):
    prometheus_stack.wait_rate_window()
    engineer = people["engineer"]
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    broken = source_create(
        organization=org,
        by=engineer,
        name="down",
        kind="prometheus",
        config=prometheus_config(dead_url, timeout=1),
        schedule_seconds=60,
    )
    live = source_create(
        organization=org,
        by=engineer,
        name="node",
        kind="prometheus",
        config=prometheus_config(prometheus_stack.url),
        device_kind="edge",
        schedule_seconds=60,
    )

    assert compute_schedule_sources() == 2  # eager: each collection runs as it is queued
    broken.refresh_from_db()
    live.refresh_from_db()
    assert broken.consecutive_failures == 1 and broken.last_error == "Prometheus: connection refused"
    assert broken.next_run_at - broken.last_run_at == dt.timedelta(seconds=120)
    assert live.consecutive_failures == 0 and live.last_error == "" and live.last_success_at is not None
    assert live.next_run_at - live.last_success_at == dt.timedelta(seconds=60)

    device = Device.objects.get(organization=org, key=prometheus_stack.node_target)
    assert (device.kind, device.source_id, device.labels) == ("edge", live.pk, {"job": "node"})
    metrics = set(Sample.objects.filter(device=device).values_list("metric", flat=True))
    assert {"device.up", "mem.total_bytes", "mem.available_bytes"} <= metrics
    assert SampleRollup.objects.filter(device=device, metric="device.up").get().avg == 1.0
    assert live.last_sample_count == Sample.objects.filter(device=device).count()

    # Nothing is due before its next run; once due again the broken one doubles its wait, capped.
    assert compute_schedule_sources() == 0
    ComputeSource.objects.filter(pk=broken.pk).update(next_run_at=timezone.now())
    assert compute_schedule_sources() == 1
    broken.refresh_from_db()
    assert broken.consecutive_failures == 2
    assert broken.next_run_at - broken.last_run_at == dt.timedelta(seconds=240)
    assert AuditEvent.objects.filter(action="compute.source_failing", object_id=str(broken.pk)).count() == 1

    # Run now (engineer), then fix the URL: success clears the failures. The collection is queued once the request
    # commits (in-process here, before the answer).
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(engineer).post(f"/api/compute/sources/{live.pk}/run/")
    assert response.status_code == 200 and response.json()["consecutive_failures"] == 0
    client_for(engineer).patch(
        f"/api/compute/sources/{broken.pk}/", {"config": prometheus_config(prometheus_stack.url)}, format="json"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(engineer).post(f"/api/compute/sources/{broken.pk}/run/").status_code == 200
    broken.refresh_from_db()
    assert broken.consecutive_failures == 0
    assert AuditEvent.objects.filter(action="compute.source_recovered", object_id=str(broken.pk)).exists()
