"""Compute criteria evaluated over rollups (and with PromQL against a real Prometheus), reports and their hashes."""

import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest
import rfc8785
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.compute.models import ComputeSource, SampleRollup, VerificationReport
from apps.compute.services.sources import source_create
from apps.compute.services.verification import compute_criteria_verify_due, criterion_verify, report_rebuild
from apps.core.canonical import sha256_hex
from apps.funding.models import CriterionStatus, MilestoneStatus
from apps.funding.services.milestones import criterion_add, milestone_submit
from apps.risks.indicators import observed_value
from compute_hooks.evidence import canonical_bytes
from tests.compute.conftest import NOW, compute_criterion, fill_rollups, gpus, sealed
from tests.conftest import free_port

pytestmark = pytest.mark.django_db

DAY = 1440
START = NOW - dt.timedelta(days=1)
AFTER = sealed(NOW)  # a window ending at NOW is sealed from here on (GPUs: 120 s allowance + 5 s margin)


@pytest.fixture
def fleet(org):
    """Eight GPUs of cluster a (busy), one of cluster b (idle), a day of rollups ending at NOW."""
    cluster = gpus(org, 8, labels={"cluster": "a"})
    for index, device in enumerate(cluster):
        fill_rollups(device, start=START, minutes=DAY, value=lambda i, index=index: 70 + index % 3 + (i % 10) / 10)
    other = gpus(org, 1, labels={"cluster": "b"}, prefix="idle")[0]
    fill_rollups(other, start=START, minutes=DAY, value=5.0)
    return cluster


def test_a_fleet_that_meets_the_criterion_verifies_its_submitted_milestone(org, people, milestone, fleet):
    criterion = compute_criterion(
        milestone, people["finance"], window_days=1, device_selector={"cluster": "a"}, min_devices=8
    )
    assert criterion.config["min_coverage"] == "0.95" and criterion.config["mode"] == "fleet"
    milestone_submit(milestone=milestone, by=people["engineer"])

    report = criterion_verify(criterion=criterion, now=AFTER + dt.timedelta(seconds=30))

    assert report.passed and report.devices_counted == 8 and report.source == "rollups"
    assert (report.window_start, report.window_end) == (START, NOW)
    document = json.loads(report.canonical_json)
    assert sha256_hex(report.canonical_json) == report.sha256
    # docs/compute.md, by hand: the report is RFC 8785 canonical JSON (for its ASCII keys: sorted keys, no
    # whitespace; every number a decimal string or an integer) and the escrow records the SHA-256 of its bytes.
    assert report.canonical_json == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert report.canonical_json.encode() == rfc8785.dumps(document) == canonical_bytes(document)
    assert report.sha256 == hashlib.sha256(report.canonical_json.encode()).hexdigest()
    assert document["inputs"] == criterion.config
    assert document["window"] == {
        "start": "2026-11-25T12:00:00Z",
        "end": "2026-11-26T12:00:00Z",
        "seconds": 86400,
        "step_seconds": 60,
        "expected_steps": DAY,
    }
    assert document["sealing"]["sealed_at"] == "2026-11-26T12:02:05Z"
    assert [d["key"] for d in document["devices"]] == [f"gpu-{i}" for i in range(8)]
    # Coverage is samples over samples expected: 6 a minute at the default 10 s cadence, a whole day.
    assert {(d["samples"], d["expected_samples"], d["coverage"]) for d in document["devices"]} == {(8640, 8640, "1")}
    # Every minute the value was computed from is in the report: [unix minute, avg, min, max, count].
    assert document["devices"][0]["points"][:2] == [
        [int(START.timestamp()), "70", "70", "70", 6],
        [int(START.timestamp()) + 60, "70.1", "70.1", "70.1", 6],
    ]
    assert document["devices"][0]["value"] == "70.45"  # 70 + mean of 0.0 .. 0.9
    assert document["result"]["fleet_value"] == "71.325" and document["result"]["passed"] is True

    criterion.refresh_from_db()
    milestone.refresh_from_db()
    assert criterion.status == CriterionStatus.MET
    assert criterion.last_result["report_id"] == str(report.pk)
    assert criterion.last_result["report_sha256"] == report.sha256
    assert milestone.status == MilestoneStatus.VERIFIED

    rebuilt = report_rebuild(report=report)
    assert rebuilt.ok and rebuilt.rebuilt_sha256 == report.sha256
    call_command("verification_rebuild", str(report.pk))

    # Editing one stored rollup changes what the report rebuilds to: the command says so and exits 1.
    SampleRollup.objects.filter(device=fleet[3], minute=START + dt.timedelta(hours=5)).update(avg=99.0)
    rebuilt = report_rebuild(report=report)
    assert not rebuilt.ok and rebuilt.rebuilt_sha256 != report.sha256
    assert any(line.startswith("device gpu-3: value") for line in rebuilt.differences)
    with pytest.raises(CommandError, match="MISMATCH"):
        call_command("verification_rebuild", str(report.pk))


def test_coverage_devices_and_per_device_mode_decide_the_outcome(org, people, milestone, fleet):
    # Device 0 misses 73 of the day's 1440 minutes: below 95% coverage it no longer counts, so 8 are not reached.
    SampleRollup.objects.filter(device=fleet[0], minute__lt=START + dt.timedelta(minutes=73)).delete()
    strict = compute_criterion(
        milestone, people["finance"], window_days=1, device_selector={"cluster": "a"}, min_devices=8
    )
    report = criterion_verify(criterion=strict, now=AFTER)
    document = json.loads(report.canonical_json)
    assert not report.passed and report.devices_counted == 7
    assert document["devices"][0]["coverage"] == "0.9493" and document["devices"][0]["covered"] is False

    # Per device: the idle GPU of cluster b counts but fails its own threshold.
    per_device = compute_criterion(
        milestone, people["finance"], window_days=1, mode="per_device", min_devices=8, threshold=71
    )
    document = json.loads(criterion_verify(criterion=per_device, now=AFTER).canonical_json)
    passing = [d["key"] for d in document["devices"] if d["passes"]]
    assert passing == ["gpu-1", "gpu-2", "gpu-4", "gpu-5", "gpu-7"]  # 70.45 fails 71; 71.45 and 72.45 pass
    assert document["result"]["devices_counted"] == 5 and document["result"]["passed"] is False

    # p95 over the pooled minute series of the whole fleet, and a fixed window.
    p95 = compute_criterion(
        milestone,
        people["finance"],
        aggregation="p95",
        comparison="lt",
        threshold=80,
        start="2026-11-25T12:00:00Z",
        end="2026-11-26T12:00:00Z",
        device_selector={"cluster": "a"},
        min_devices=7,
    )
    report = criterion_verify(criterion=p95, now=AFTER)
    assert report.criterion.config["aggregation"] == "p95_of_minute_avg"  # the earlier name, written out
    # 7 counted devices (gpu-0 lacks coverage): the nearest rank 9576 of their 10080 pooled minutes.
    assert report.passed and report.value == Decimal("72.8")
    assert report_rebuild(report=report).ok


def test_beat_evaluates_open_criteria_once_per_result_and_leaves_verified_milestones_alone(
    org, people, milestone, fleet
):
    criterion = compute_criterion(
        milestone, people["finance"], window_days=1, device_selector={"cluster": "a"}, min_devices=9
    )
    counts = {"evaluated": 1, "passed": 0, "waiting": 0, "failed_to_evaluate": 0, "verified": 0, "settled": 0}
    assert compute_criteria_verify_due(now=AFTER) == counts
    assert compute_criteria_verify_due(now=AFTER + dt.timedelta(seconds=15))["evaluated"] == 1
    assert VerificationReport.objects.filter(criterion=criterion).count() == 1  # same window, same data: same report

    criterion.config = {**criterion.config, "min_devices": 8}
    criterion.save(update_fields=["config"])
    assert compute_criteria_verify_due(now=AFTER)["passed"] == 1
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.IN_PROGRESS  # met, but not submitted yet

    milestone_submit(milestone=milestone, by=people["engineer"])
    counts = {"evaluated": 0, "passed": 0, "waiting": 0, "failed_to_evaluate": 0, "verified": 1, "settled": 0}
    assert compute_criteria_verify_due(now=AFTER) == counts
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.VERIFIED
    reports = VerificationReport.objects.count()
    assert compute_criteria_verify_due(now=AFTER + dt.timedelta(minutes=5))["verified"] == 0
    assert VerificationReport.objects.count() == reports


def test_evaluate_now_and_reports_api(
    org, people, milestone, fleet, client_for, outsider, django_assert_max_num_queries
):
    criterion = compute_criterion(
        milestone,
        people["finance"],
        start=START.isoformat(),
        end=NOW.isoformat(),
        device_selector={"cluster": "a"},
        min_devices=8,
    )
    engineer = client_for(people["engineer"])
    response = engineer.post(f"/api/compute/criteria/{criterion.pk}/evaluate/")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["passed"] is True and body["sha256"] == sha256_hex(body["canonical_json"])
    assert body["report"]["result"]["devices_counted"] == 8

    assert client_for(people["viewer"]).post(f"/api/compute/criteria/{criterion.pk}/evaluate/").status_code == 403
    assert client_for(outsider).post(f"/api/compute/criteria/{criterion.pk}/evaluate/").status_code == 404
    assert client_for(outsider).get(f"/api/compute/reports/{body['id']}/").status_code == 404

    viewer = client_for(people["viewer"])
    assert viewer.get(f"/api/compute/reports/{body['id']}/rebuild/").json()["ok"] is True
    with django_assert_max_num_queries(8) as few:
        assert len(viewer.get("/api/compute/reports/", {"milestone": str(milestone.pk)}).json()["results"]) == 1
    rolling = compute_criterion(milestone, people["finance"], window_days=1)
    for minutes in range(1, 6):
        criterion_verify(criterion=rolling, now=AFTER + dt.timedelta(minutes=minutes))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(viewer.get("/api/compute/reports/").json()["results"]) == 6
    csv_rows = b"".join(viewer.get("/api/compute/reports/", {"format": "csv"}).streaming_content).decode().splitlines()
    assert len(csv_rows) == 7 and csv_rows[0].startswith("id,created_at,milestone_id")


def test_criterion_config_is_validated_when_added(milestone, people):
    with pytest.raises(Exception) as info:
        criterion_add(
            milestone=milestone,
            by=people["finance"],
            kind="compute",
            description="x",
            config={"metric": "gpu.utilization", "threshold": 70, "window_days": 7, "start": "2026-01-01T00:00:00Z"},
        )
    assert info.value.extra == {
        "fields": {"config.window_days": ["Give either window_days (ending at evaluation time) or start and end."]}
    }
    with pytest.raises(Exception) as info:
        compute_criterion(milestone, people["finance"], window_days=1, aggregation="median")
    assert "config.aggregation" in info.value.extra["fields"]


def test_compute_indicator_values_come_from_rollups(org, fleet):
    values = {
        aggregation: observed_value(
            kind="compute",
            organization=org,
            metric="gpu_utilization",
            aggregation=aggregation,
            window=dt.timedelta(hours=1),
            now=NOW,
        )
        for aggregation in ("avg", "min", "max", "last")
    }
    assert values["min"] == Decimal("5") and values["max"] == Decimal("72.9")
    assert values["last"] == Decimal("64.355556")  # 8 busy GPUs at 70.9..72.9 and the idle one, last minute


@pytest.mark.services
def test_promql_criterion_keeps_its_series_and_rebuilds_without_prometheus(org, people, milestone, prometheus_stack):
    prometheus_stack.wait_rate_window()
    source = source_create(
        organization=org,
        by=people["engineer"],
        name="node",
        kind="prometheus",
        config={"url": prometheus_stack.url, "mappings": "node_exporter", "selector": {"job": "node"}},
        enabled=False,
        lateness_seconds=0,
    )
    minute = timezone.now().replace(second=0, microsecond=0)
    criterion = compute_criterion(
        milestone,
        people["finance"],
        metric="device.up",
        threshold=1,
        promql=True,
        source=str(source.pk),
        step_seconds=1,
        start=(minute - dt.timedelta(minutes=1)).isoformat(),
        end=(minute + dt.timedelta(minutes=1)).isoformat(),
        min_coverage="0.02",
    )
    report = criterion_verify(criterion=criterion, now=sealed(minute + dt.timedelta(minutes=1), lateness=0))
    document = json.loads(report.canonical_json)
    assert report.source == "promql" and report.passed, document["result"]
    assert report.query == 'up{job="node"}'
    assert [d["key"] for d in document["devices"]] == [prometheus_stack.node_target]
    points = document["devices"][0]["points"]  # each step Prometheus answered: [unix s, value, value, value, 1]
    assert len(points) >= 3 and {tuple(p[1:]) for p in points} == {("1", "1", "1", 1)}
    assert document["devices"][0]["samples"] == len(points) and document["devices"][0]["raw"] is None

    # The rebuild reads the stored series, not Prometheus.
    ComputeSource.objects.filter(pk=source.pk).update(config={"url": f"http://127.0.0.1:{free_port()}"})
    assert report_rebuild(report=report).ok


def test_beat_reads_a_failed_fixed_window_once(org, people, milestone, fleet, django_assert_max_num_queries):
    """A sealed fixed window that was not met gives the same report every time: beat evaluates it once, then counts
    it as settled without reading its evidence again; "evaluate now" still reads it (and reuses the report)."""
    criterion = compute_criterion(
        milestone,
        people["finance"],
        start="2026-11-25T12:00:00Z",
        end="2026-11-26T12:00:00Z",
        device_selector={"cluster": "a"},
        min_devices=9,
    )
    first = compute_criteria_verify_due(now=AFTER)
    assert (first["evaluated"], first["passed"], first["settled"]) == (1, 0, 0)
    with django_assert_max_num_queries(6):  # the pending criteria and the submitted milestones, no evidence read
        again = compute_criteria_verify_due(now=AFTER + dt.timedelta(seconds=15))
    assert (again["evaluated"], again["settled"]) == (0, 1)
    assert VerificationReport.objects.filter(criterion=criterion).count() == 1
    assert not criterion_verify(criterion=criterion, now=AFTER).passed
    assert VerificationReport.objects.filter(criterion=criterion).count() == 1
