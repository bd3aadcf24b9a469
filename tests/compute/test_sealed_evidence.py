"""Sealed windows, late samples, superseding reports, honest measures, and the ingest that queues an evaluation.

Samples go through the ingest service the push API calls, with the ingest's clock given, so that "on time" and
"late" are exact; the API is used where a user would see the outcome.
"""

import datetime as dt
import hashlib
import json

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.compute.models import Device, LateSample, Sample, SampleRollup, VerificationReport
from apps.compute.services.devices import device_create
from apps.compute.services.ingest import samples_ingest
from apps.compute.services.verification import criterion_verify, report_rebuild, report_supersede
from apps.core.errors import Conflict, ValidationFailed
from apps.funding.models import CriterionStatus, MilestoneStatus
from apps.funding.services.milestones import milestone_submit
from compute_hooks import evidence
from tests.compute.conftest import _iso, compute_criterion, load_minute, wire

pytestmark = pytest.mark.django_db

LATENESS = 30  # the source's allowance in these tests, seconds
MARGIN = 5  # COMPUTE_SEAL_MARGIN_SECONDS


def test_a_late_sample_leaves_the_sealed_report_and_the_milestone_unchanged_and_is_shown_as_late(
    org, people, milestone, h200, minute, client_for
):
    end = minute + dt.timedelta(minutes=1)
    assert load_minute(h200, minute).as_dict() == {"accepted": 18, "duplicates": 0, "late": 0, "errors": []}
    criterion = compute_criterion(
        milestone, people["finance"], start=_iso(minute), end=_iso(end), threshold=50, min_coverage="0.25"
    )
    milestone_submit(milestone=milestone, by=people["engineer"])

    # Before its end plus the allowance the window is not evaluated: 409, saying when it can be.
    with pytest.raises(Conflict) as early:
        criterion_verify(criterion=criterion, now=end + dt.timedelta(seconds=LATENESS))
    assert early.value.extra["evaluable_at"] == _iso(end + dt.timedelta(seconds=LATENESS + MARGIN))
    assert VerificationReport.objects.count() == 0

    report = criterion_verify(criterion=criterion, now=end + dt.timedelta(seconds=LATENESS + MARGIN))
    document = json.loads(report.canonical_json)
    device = document["devices"][0]
    # Coverage: 18 samples of the 60 a 1 s cadence expects in the minute (not "the minute has data": 1).
    assert (device["samples"], device["expected_samples"], device["coverage"]) == (18, 60, "0.3")
    assert device["points"] == [[int(minute.timestamp()), "97.166667", "66", "99", 18]]
    assert report.passed and document["result"]["fleet_value"] == "97.166667"
    milestone.refresh_from_db()
    assert milestone.status == MilestoneStatus.VERIFIED
    sealed_text, sealed_hash = report.canonical_json, report.sha256

    # The agent's offline spool delivers the earlier, idle seconds of that minute, two minutes late.
    spool = [wire(minute + dt.timedelta(seconds=i), 3.0) for i in range(1, 35)]
    result = samples_ingest(device=h200, samples=spool, now=end + dt.timedelta(minutes=2))
    assert result.as_dict() == {"accepted": 34, "duplicates": 0, "late": 34, "errors": []}
    assert LateSample.objects.filter(device=h200).count() == 34 and Sample.objects.filter(device=h200).count() == 18
    again = samples_ingest(device=h200, samples=spool[:3], now=end + dt.timedelta(minutes=3))
    assert (again.accepted, again.duplicates, again.late) == (0, 3, 0)

    report.refresh_from_db()
    assert (report.canonical_json, report.sha256) == (sealed_text, sealed_hash)
    rebuilt = report_rebuild(report=report)
    assert rebuilt.ok, rebuilt.differences
    milestone.refresh_from_db()
    criterion.refresh_from_db()
    assert milestone.status == MilestoneStatus.VERIFIED and criterion.last_result["report_sha256"] == sealed_hash

    viewer = client_for(people["viewer"])
    assert viewer.get(f"/api/compute/reports/{report.pk}/").json()["late_samples"] == 34
    assert viewer.get(f"/api/compute/devices/{h200.pk}/").json()["late_samples"] == 34
    assert viewer.get(f"/api/compute/reports/{report.pk}/rebuild/").json()["ok"] is True
    browser = Client()
    browser.force_login(people["viewer"])
    page = browser.get("/compute/")
    assert page.status_code == 200 and "34 late" in page.content.decode()

    # Re-evaluation is explicit: a reason is required, a new report supersedes the old one and reads the late data.
    finance = client_for(people["finance"])
    refused = finance.post(f"/api/compute/reports/{report.pk}/supersede/", {"reason": " "}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()["extra"]["fields"]
    assert (
        viewer.post(f"/api/compute/reports/{report.pk}/supersede/", {"reason": "x"}, format="json").status_code == 403
    )
    answer = finance.post(
        f"/api/compute/reports/{report.pk}/supersede/", {"reason": "board-7 spool delivered late"}, format="json"
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["supersedes"] == str(report.pk) and body["reason"] == "board-7 spool delivered late"
    new_device = body["report"]["devices"][0]
    assert (new_device["samples"], new_device["coverage"]) == (52, "0.8666")
    assert body["report"]["supersedes"] == {
        "report": str(report.pk),
        "sha256": sealed_hash,
        "reason": "board-7 spool delivered late",
    }
    # (17 x 99 + 66 + 34 x 3) / 52: with the idle seconds the minute no longer passes. The milestone was verified
    # (and may be paid): a re-evaluation does not undo that; both reports and the reason stay on record.
    assert body["passed"] is False and body["report"]["result"]["fleet_value"] == "35.596154"
    milestone.refresh_from_db()
    criterion.refresh_from_db()
    assert milestone.status == MilestoneStatus.VERIFIED and criterion.status == CriterionStatus.NOT_MET
    assert criterion.last_result["report_id"] == body["id"]
    assert viewer.get(f"/api/compute/reports/{report.pk}/").json()["superseded_by"] == body["id"]
    event = AuditEvent.objects.get(action="compute.verification_superseded")
    assert event.actor == people["finance"] and event.after["reason"] == "board-7 spool delivered late"
    assert event.before["sha256"] == sealed_hash
    superseding = VerificationReport.objects.get(pk=body["id"])
    assert report_rebuild(report=superseding).ok
    with pytest.raises(Conflict, match="already superseded"):
        report_supersede(report=report, by=people["finance"], reason="again")

    # A sample arriving later still is late for both, and changes neither.
    samples_ingest(device=h200, samples=[wire(minute, 1.0)], now=timezone.now())
    report.refresh_from_db()
    superseding.refresh_from_db()
    assert (report.late_samples, superseding.late_samples) == (35, 1)
    assert report_rebuild(report=superseding).ok and report_rebuild(report=report).ok
    h200.refresh_from_db()
    assert h200.late_samples == 35 and h200.last_late_at is not None


def test_windows_are_exactly_what_was_asked_or_refused(milestone, people, client_for):
    for field, config in (
        ("config.start", {"start": "2026-11-26T07:13:35Z", "end": "2026-11-26T07:15:00Z"}),
        ("config.end", {"start": "2026-11-26T07:13:00Z", "end": "2026-11-26T07:14:10Z"}),
        ("config.window_days", {"window_days": 0.0001}),
        ("config.window_days", {"window_days": 1.00001}),
    ):
        with pytest.raises(ValidationFailed) as refused:
            compute_criterion(milestone, people["finance"], **config)
        assert field in refused.value.extra["fields"], config

    # Through the API: 400 naming the field, nothing stored.
    response = client_for(people["finance"]).post(
        f"/api/milestones/{milestone.pk}/criteria/",
        {
            "kind": "compute",
            "description": "load minute",
            "config": {"metric": "gpu.utilization", "threshold": 50, "start": "2026-11-26T07:13:35Z",
                       "end": "2026-11-26T07:14:00Z"},
        },
        format="json",
    )  # fmt: skip
    assert response.status_code == 400 and "config.start" in response.json()["extra"]["fields"]
    assert milestone.criteria.count() == 0

    # A window in the future is refused with 409, saying when it can be evaluated.
    start = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    criterion = compute_criterion(
        milestone, people["finance"], start=_iso(start), end=_iso(start + dt.timedelta(minutes=1))
    )
    answer = client_for(people["engineer"]).post(f"/api/compute/criteria/{criterion.pk}/evaluate/")
    assert answer.status_code == 409
    assert "can be evaluated from" in answer.json()["message"]
    assert answer.json()["extra"]["evaluable_at"] == _iso(start + dt.timedelta(minutes=1, seconds=125))


def test_aggregations_name_what_they_aggregate_and_coverage_counts_samples(org, people, milestone, h200, minute):
    load_minute(h200, minute)
    end = minute + dt.timedelta(minutes=1)
    values = {}
    for aggregation in ("max_of_minute_avg", "max_of_samples", "min_of_samples", "avg_of_minute_avg"):
        criterion = compute_criterion(
            milestone, people["finance"], start=_iso(minute), end=_iso(end), aggregation=aggregation, min_coverage=0
        )
        values[aggregation] = criterion_verify(criterion=criterion, now=end + dt.timedelta(minutes=1)).value
    assert {k: str(v) for k, v in values.items()} == {
        "max_of_minute_avg": "97.166667",
        "max_of_samples": "99",
        "min_of_samples": "66",
        "avg_of_minute_avg": "97.166667",
    }

    # One sample in a minute at 1 s cadence is 1/60 of the samples expected, not full coverage.
    other = minute - dt.timedelta(minutes=2)
    samples_ingest(
        device=h200, samples=[wire(other + dt.timedelta(seconds=30), 80.0)], now=other + dt.timedelta(seconds=40)
    )
    single = compute_criterion(
        milestone, people["finance"], start=_iso(other), end=_iso(other + dt.timedelta(minutes=1)), min_coverage="0.5"
    )
    report = criterion_verify(criterion=single, now=other + dt.timedelta(minutes=2))
    device = json.loads(report.canonical_json)["devices"][0]
    assert (device["samples"], device["coverage"], device["covered"]) == (1, "0.0166", False)
    assert not report.passed and report.devices_counted == 0


def test_an_ingest_after_the_seal_queues_the_waiting_criterion_and_verifies_it(
    org, people, milestone, h200, django_capture_on_commit_callbacks
):
    minute = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=3)
    load_minute(h200, minute)  # on time, before the window is sealed: nothing is queued yet
    end = minute + dt.timedelta(minutes=1)
    criterion = compute_criterion(milestone, people["finance"], start=_iso(minute), end=_iso(end), min_coverage="0.25")
    milestone_submit(milestone=milestone, by=people["engineer"])
    assert VerificationReport.objects.count() == 0

    # The GPU's next batch, after the seal: the evaluation is queued on commit (embedded: it runs there).
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        samples_ingest(device=h200, samples=[wire(timezone.now() - dt.timedelta(seconds=1), 40.0)])
    assert len(callbacks) == 1
    criterion.refresh_from_db()
    milestone.refresh_from_db()
    assert criterion.status == CriterionStatus.MET and milestone.status == MilestoneStatus.VERIFIED
    assert criterion.last_result["window_end"] == _iso(end)

    # Evaluated once for its window: further batches queue nothing.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        samples_ingest(device=h200, samples=[wire(timezone.now(), 41.0)])
    assert callbacks == [] and VerificationReport.objects.count() == 1
    assert Device.objects.get(pk=h200.pk).late_samples == 0


def test_a_device_that_never_reported_the_metric_does_not_hold_the_window_open(org, people, milestone, h200, minute):
    """A GPU criterion naming no device kind also selects an edge board (6 h allowance) that reports only its CPU:
    the window seals after the GPU's allowance. Should the board report the GPU metric later into that window, its
    samples are late for the report, which stays as it was."""
    board, _ = device_create(organization=org, by=people["engineer"], key="board-9", kind="edge")
    samples_ingest(device=board, samples=[wire(minute, 12.0, metric="cpu.utilization")], now=minute)
    load_minute(h200, minute)
    end = minute + dt.timedelta(minutes=1)
    criterion = compute_criterion(
        milestone, people["finance"], start=_iso(minute), end=_iso(end), threshold=50, min_coverage="0.25"
    )
    report = criterion_verify(criterion=criterion, now=end + dt.timedelta(seconds=LATENESS + MARGIN))
    document = json.loads(report.canonical_json)
    assert document["sealing"]["lateness_seconds"] == LATENESS
    assert [d["key"] for d in document["devices"]] == ["GPU-h200", "board-9"] and report.passed

    # Ten minutes later the board sends GPU samples of that minute: on time by its own 6 h, late for the report.
    spooled = [wire(minute + dt.timedelta(seconds=i), 1.0) for i in range(5)]
    result = samples_ingest(device=board, samples=spooled, now=end + dt.timedelta(minutes=10))
    assert (result.accepted, result.late) == (5, 5)
    assert not Sample.objects.filter(device=board, metric="gpu.utilization").exists()
    report.refresh_from_db()
    assert report.late_samples == 5 and report_rebuild(report=report).ok

    # Once a board has reported the metric, its allowance holds the next window open.
    later = compute_criterion(
        milestone, people["finance"], start=_iso(minute), end=_iso(end + dt.timedelta(minutes=1)), threshold=50
    )
    with pytest.raises(Conflict) as waiting:
        criterion_verify(criterion=later, now=end + dt.timedelta(minutes=15))
    assert waiting.value.extra["lateness_seconds"] == 6 * 3600


def test_the_evidence_read_in_sql_is_the_text_the_report_format_defines(org, people, milestone, h200, minute):
    """Points and Merkle roots are read as text on PostgreSQL; they are exactly what compute_hooks.evidence defines
    over the stored rows (timestamps with and without microseconds, values whose shortest text is long, whole or
    tiny, and one exactly half a millionth between two roundings)."""
    before = minute - dt.timedelta(minutes=1)
    tie = wire(before + dt.timedelta(seconds=10), 0.0078125)  # 7812.5 millionths
    assert samples_ingest(device=h200, samples=[tie], now=before + dt.timedelta(seconds=15)).late == 0
    values = [99.0, 1e-05, 0.1 + 0.2, 42.125, 0.0, 100.0, 33.333333333333336, 7.0]
    samples = [
        wire(minute + dt.timedelta(seconds=i * 3, microseconds=(0, 1, 500_000, 999_999)[i % 4]), value)
        for i, value in enumerate(values)
    ]
    assert samples_ingest(device=h200, samples=samples, now=minute + dt.timedelta(seconds=25)).late == 0
    end = minute + dt.timedelta(minutes=1)
    criterion = compute_criterion(milestone, people["finance"], start=_iso(before), end=_iso(end), min_coverage=0)
    report = criterion_verify(criterion=criterion, now=end + dt.timedelta(minutes=1))
    device = json.loads(report.canonical_json)["devices"][0]

    stored = Sample.objects.filter(device=h200).values_list("ts", "value")
    assert device["raw"] == {
        "leaves": 1 + len(values),
        "merkle_root": evidence.samples_merkle_root(
            [(evidence.ts_text(ts), evidence.value_text(v)) for ts, v in stored]
        ),
    }
    assert device["points"] == [
        [int(rollup.minute.timestamp()), *(evidence.micro_text(x) for x in (rollup.avg, rollup.min, rollup.max)), c]
        for rollup, c in zip(SampleRollup.objects.filter(device=h200).order_by("minute"), (1, 8), strict=True)
    ]
    assert device["points"][0][1:4] == ["0.007812"] * 3  # rounded half to even
    assert report_rebuild(report=report).ok

    # Memory in bytes beyond 10^12, whose millionths leave the database's bigint: the same text all the same.
    big = [wire(minute + dt.timedelta(seconds=i), 2.5e12 + i / 3, metric="gpu.memory.used_bytes") for i in (1, 2)]
    samples_ingest(device=h200, samples=big, now=minute + dt.timedelta(seconds=25))
    memory = compute_criterion(
        milestone, people["finance"], metric="gpu.memory.used_bytes", start=_iso(minute), end=_iso(end), min_coverage=0
    )
    point = json.loads(criterion_verify(criterion=memory, now=end + dt.timedelta(minutes=1)).canonical_json)["devices"][
        0
    ]["points"][0]
    rollup = SampleRollup.objects.get(device=h200, metric="gpu.memory.used_bytes")
    assert point[1:4] == [evidence.micro_text(x) for x in (rollup.avg, rollup.min, rollup.max)]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 6, 7, 8, 9, 31, 33, 64, 100])
def test_the_merkle_root_is_the_rfc_6962_tree_hash(count):
    def tree(hashes):  # RFC 6962, 2.1: the left subtree holds the largest power of two below the count
        if len(hashes) == 1:
            return hashes[0]
        split = 1 << ((len(hashes) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x01" + tree(hashes[:split]) + tree(hashes[split:])).digest()

    leaves = [evidence.sample_leaf(f"2026-11-26T12:00:{i:02d}.000000Z", "1.0") for i in range(count)]
    expected = tree(leaves).hex() if leaves else hashlib.sha256(b"").hexdigest()
    assert evidence.merkle_root(leaves) == expected
