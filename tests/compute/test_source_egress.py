"""Compute sources under the egress gate and the operator's rules: no internal Prometheus for tenants, no
program of the tenant's choosing, no answer text in last_error, no stored secret sent to a new host."""

import json
import os
import stat

import pytest

from apps.compute.evaluation import EvaluationUnavailable
from apps.compute.models import ComputeSource, Sample
from apps.compute.services.sources import source_collect
from apps.compute.services.verification import criterion_verify
from tests.compute.conftest import compute_criterion
from tests.listeners import LoopbackListener, http_answer

pytestmark = pytest.mark.django_db

SOURCES = "/api/compute/sources/"


@pytest.fixture
def closed_egress(settings):
    """The production default: no internal address allowed (this directory's conftest allows 127.0.0.1)."""
    settings.EGRESS_ALLOW_NETWORKS = []
    settings.EGRESS_ALLOW_HOSTS = []


def create(client, kind, config, name="src"):
    return client.post(SOURCES, {"name": name, "kind": kind, "config": config}, format="json")


def fields(response) -> list[str]:
    assert response.status_code == 400, response.json()
    return list(response.json()["extra"]["fields"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9090",
        "http://[::1]:9090",
        "http://localhost:9090",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.8:9090",
        "http://192.168.2.2:9090",
        "http://[::ffff:127.0.0.1]:9090",
        "https://127.0.0.1:6379",
    ],
)
def test_an_internal_prometheus_url_is_a_400_naming_the_url(org, people, client_for, closed_egress, url):
    response = create(client_for(people["engineer"]), "prometheus", {"url": url})
    assert fields(response) == ["config.url"]
    assert "Refused by egress policy" in response.json()["message"]
    assert not ComputeSource.objects.exists()


def test_tenant_config_is_limited_to_what_is_safe(org, people, client_for):
    client = client_for(people["engineer"])
    url = "https://prometheus.example.invalid"
    assert fields(create(client, "prometheus", {"url": url, "verify": False})) == ["config.verify"]
    assert fields(create(client, "prometheus", {"url": url, "verify": "/etc/ssl/private/key.pem"})) == ["config.verify"]
    for header in ("Host", "Authorization", "X-Forwarded-For", "Cookie"):
        response = create(client, "prometheus", {"url": url, "headers": {header: "x"}})
        assert fields(response) == ["config.headers"], header
    assert fields(create(client, "prometheus", {"url": url, "headers": {"X-Scope-OrgID": "a\r\nHost: b"}})) == [
        "config.headers"
    ]
    assert fields(create(client, "nvidia_smi", {"binary": "/usr/bin/id"})) == ["config.binary"]
    for timeout in (1e9, 0, -1, 61, True, "5"):
        assert fields(create(client, "nvidia_smi", {"timeout": timeout})) == ["config.timeout"], timeout
        assert fields(create(client, "prometheus", {"url": url, "timeout": timeout})) == ["config.timeout"]
    ok = create(client, "prometheus", {"url": url, "verify": True, "timeout": 60, "headers": {"X-Scope-OrgID": "t1"}})
    assert ok.status_code == 201, ok.json()
    assert create(client, "nvidia_smi", {"timeout": 5}, name="smi").status_code == 201


def test_a_stored_internal_url_is_refused_at_connect_time_and_nothing_reaches_it(org, closed_egress):
    with LoopbackListener() as listener:
        for url in (listener.url, f"http://localhost:{listener.port}"):
            # A row written before the checks existed, or by a name that resolved elsewhere when it was created.
            source = ComputeSource.objects.create(
                organization=org, name=url, kind="prometheus", config={"url": url, "mappings": "node_exporter"}
            )
            assert source_collect(source_id=source.pk)["ok"] is False
            source.refresh_from_db()
            assert source.last_error == "Prometheus: refused by egress policy: loopback address"
        assert listener.connections == 0


def test_a_promql_criterion_on_an_internal_source_is_refused(org, people, milestone, closed_egress):
    with LoopbackListener() as listener:
        source = ComputeSource.objects.create(
            organization=org, name="p", kind="prometheus", config={"url": listener.url, "mappings": "node_exporter"}
        )
        criterion = compute_criterion(
            milestone,
            people["finance"],
            metric="device.up",
            threshold=1,
            promql=True,
            source=str(source.pk),
            window_days=1,
        )
        with pytest.raises(EvaluationUnavailable) as info:
            criterion_verify(criterion=criterion)
        assert listener.connections == 0
    assert info.value.message == "Prometheus could not answer: refused by egress policy: loopback address."


def test_prometheus_answers_never_reach_last_error_and_redirects_are_not_followed(org, people, client_for):
    secret_page = b"<html>internal admin console: password=hunter2</html>"
    with LoopbackListener(answer=http_answer(502, secret_page, {"Content-Type": "text/html"})) as failing:
        source = ComputeSource.objects.create(
            organization=org, name="p", kind="prometheus", config={"url": failing.url, "verify": False}
        )
        source_collect(source_id=source.pk)
        assert failing.connections == 1
    source.refresh_from_db()
    assert source.last_error == "Prometheus: HTTP 502"
    shown = client_for(people["viewer"]).get(f"{SOURCES}{source.pk}/").json()
    assert "hunter2" not in json.dumps(shown)

    error = {"status": "error", "errorType": "bad_data", "error": "parse error near 'hunter2'"}
    with LoopbackListener(answer=http_answer(400, json.dumps(error).encode())) as rejecting:
        ComputeSource.objects.filter(pk=source.pk).update(config={"url": rejecting.url})
        source_collect(source_id=source.pk)
    source.refresh_from_db()
    assert source.last_error == "Prometheus: HTTP 400 (bad_data)"

    with LoopbackListener() as target:
        moved = http_answer(302, b"", {"Location": f"{target.url}/api/v1/query"})
        with LoopbackListener(answer=moved) as redirecting:
            ComputeSource.objects.filter(pk=source.pk).update(config={"url": redirecting.url})
            source_collect(source_id=source.pk)
        assert target.connections == 0
    source.refresh_from_db()
    assert source.last_error == "Prometheus: HTTP 302 (redirects are not followed)"


def test_custom_headers_reach_prometheus_only_from_the_allow_list(org):
    with LoopbackListener(answer=http_answer(503, b"")) as listener:
        headers = {"X-Scope-OrgID": "tenant-1", "Host": "metadata.google.internal", "Authorization": "Basic x"}
        source = ComputeSource.objects.create(
            organization=org, name="p", kind="prometheus", config={"url": listener.url, "headers": headers}
        )
        source_collect(source_id=source.pk)
        request = listener.requests[0].decode()
    assert "X-Scope-OrgID: tenant-1" in request
    assert "metadata.google.internal" not in request and "Basic x" not in request


def _script(path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_the_nvidia_smi_program_is_the_operators(org, settings, tmp_path):
    marker = tmp_path / "tenant-program-ran"
    tenant_program = _script(tmp_path / "evil", f"touch {marker}\n")
    settings.COMPUTE_NVIDIA_SMI_BINARY = _script(
        tmp_path / "nvidia-smi", 'echo "GPU-1111, NVIDIA H200, 0, 87, 1000, 141000, 500, 61"\n'
    )
    source = ComputeSource.objects.create(
        organization=org, name="smi", kind="nvidia_smi", config={"binary": tenant_program, "timeout": 1e9}
    )
    result = source_collect(source_id=source.pk)
    assert result["ok"] is True, result
    assert not marker.exists()
    assert Sample.objects.filter(device__key="GPU-1111", metric="gpu.utilization").get().value == 87

    settings.COMPUTE_NVIDIA_SMI_BINARY = _script(tmp_path / "failing", "echo 'uid=0(root) SECRET' >&2\nexit 3\n")
    source_collect(source_id=source.pk)
    source.refresh_from_db()
    assert source.last_error == "nvidia-smi exited with status 3"

    settings.COMPUTE_NVIDIA_SMI_BINARY = os.fspath(tmp_path / "missing")
    source_collect(source_id=source.pk)
    source.refresh_from_db()
    assert source.last_error == "nvidia-smi not found"


def test_a_stored_secret_is_not_sent_to_a_new_host(org, people, client_for):
    engineer = client_for(people["engineer"])
    config = {
        "url": "https://prom.example.invalid",
        "bearer_token": "s3cret",
        "headers": {"X-Scope-OrgID": "acme"},
    }
    source_id = create(client_for(people["owner"]), "prometheus", config).json()["id"]
    shown = engineer.get(f"{SOURCES}{source_id}/").json()["config"]
    assert shown["bearer_token"] == "********"

    for url in ("https://evil.example.invalid", "http://prom.example.invalid", "https://prom.example.invalid:8443"):
        response = engineer.patch(f"{SOURCES}{source_id}/", {"config": {**shown, "url": url}}, format="json")
        assert fields(response) == ["config.bearer_token"], url
    without_token = {k: v for k, v in shown.items() if k != "bearer_token"}
    response = engineer.patch(
        f"{SOURCES}{source_id}/", {"config": {**without_token, "url": "https://evil.example.invalid"}}, format="json"
    )
    assert fields(response) == ["config.headers"]
    assert ComputeSource.objects.get(pk=source_id).config == config

    # Given again (or left out), the move is fine: the new host gets only what was sent for it.
    moved = {"url": "https://new.example.invalid", "bearer_token": "n3w", "headers": {"X-Scope-OrgID": "acme"}}
    assert engineer.patch(f"{SOURCES}{source_id}/", {"config": moved}, format="json").status_code == 200
    assert ComputeSource.objects.get(pk=source_id).config == moved
