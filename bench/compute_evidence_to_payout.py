"""Evidence to verified milestone: the time from the moment a fleet's samples meet a compute criterion (the last
batch is ingested) to the milestone being verified, with the verification loop ticking every
COMPUTE_VERIFY_EVERY_SECONDS (15 s) as beat does. (Escrow attestation joins this path with the escrow app.)

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/compute_evidence_to_payout.py

Eight GPUs have a week of rollups at ~75% but the last 10 hours are missing (coverage 94%, below the 95% asked).
The loop runs in this process on its own thread and database connection; the missing hours then arrive through the
ingest API. Goal: verified in under 60 s. The baseline is the tick itself: the wait can't be shorter than the time to
the next tick plus one evaluation.
"""

import datetime as dt
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_common import bench_database, organization_with_engineer

GPUS, DAYS, MISSING_HOURS = 8, 7, 10
GOAL_SECONDS = 60


def main() -> None:
    with bench_database("payout") as url:
        import psycopg
        from django.conf import settings
        from django.db import connection
        from django.test import Client
        from django.utils import timezone

        from apps.compute.models import DeviceKind, VerificationReport
        from apps.compute.services.devices import device_create
        from apps.compute.services.verification import compute_criteria_verify_due
        from apps.funding.models import Funder, Grant, Milestone, MilestoneStatus
        from apps.funding.services.milestones import criterion_add, milestone_submit

        tick = settings.COMPUTE_VERIFY_EVERY_SECONDS
        organization, owner, engineer = organization_with_engineer()
        devices = [
            device_create(
                organization=organization, by=engineer, key=f"GPU-{i}", kind=DeviceKind.GPU, labels={"cluster": "a"}
            )
            for i in range(GPUS)
        ]
        now = timezone.now()
        end = now.replace(second=0, microsecond=0)
        gap_start = end - dt.timedelta(hours=MISSING_HOURS)
        with psycopg.connect(url) as pg:
            pg.execute(
                "INSERT INTO compute_samplerollup (device_id, metric, minute, avg, min, max, count) "
                "SELECT d, 'gpu.utilization', m, 75 + 5 * sin(extract(epoch from m) / 3600), 60, 90, 6 "
                "FROM unnest(%s::uuid[]) d, generate_series(%s::timestamptz, %s::timestamptz, interval '1 minute') m",
                [[d.pk for d, _ in devices], end - dt.timedelta(days=DAYS), gap_start - dt.timedelta(minutes=1)],
            )
            pg.commit()

        funder = Funder.objects.create(organization=organization, name="Agency", kind="government_agency")
        grant = Grant.objects.create(
            organization=organization, funder=funder, title="GPU grant", currency="EUR", amount_requested=100000,
            amount_awarded=100000, period_start=(now - dt.timedelta(days=30)).date(),
            period_end=(now + dt.timedelta(days=300)).date(), status="active",
        )  # fmt: skip
        milestone = Milestone.objects.create(
            organization=organization, grant=grant, title="GPU cluster: 8 GPUs at 70% for a week", amount=30000,
            currency="EUR", due_date=(now + dt.timedelta(days=20)).date(), status="in_progress",
        )  # fmt: skip
        criterion_add(
            milestone=milestone,
            by=owner,
            kind="compute",
            description="8 GPUs of cluster a at >= 70% average for 7 days, 95% coverage",
            config={
                "metric": "gpu.utilization",
                "threshold": 70,
                "window_days": DAYS,
                "device_selector": {"cluster": "a"},
                "min_devices": GPUS,
            },
        )
        milestone_submit(milestone=milestone, by=engineer)

        stop = threading.Event()
        ticks: list[tuple[float, float, dict]] = []

        def beat_loop():
            while not stop.is_set():
                started = time.perf_counter()
                counts = compute_criteria_verify_due()
                ticks.append((started, time.perf_counter() - started, counts))
                stop.wait(max(0.0, tick - (time.perf_counter() - started)))
            connection.close()

        loop = threading.Thread(target=beat_loop, daemon=True)
        loop.start()
        time.sleep(tick / 3)  # the evidence lands at an arbitrary point between two ticks
        assert Milestone.objects.get(pk=milestone.pk).status == MilestoneStatus.SUBMITTED

        # The missing hours arrive: six readings a minute per GPU, one batch per GPU.
        client = Client()
        minutes = MISSING_HOURS * 60
        sent = 0
        for device, token in devices:
            samples = [
                {
                    "metric": "gpu.utilization",
                    "ts": (gap_start + dt.timedelta(seconds=10 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "value": 72.0 + (i % 6),
                }
                for i in range(minutes * 6)
                if gap_start + dt.timedelta(seconds=10 * i) < timezone.now()
            ]
            for chunk in range(0, len(samples), 5000):
                body = json.dumps({"device": device.key, "samples": samples[chunk : chunk + 5000]})
                response = client.post(
                    "/api/compute/ingest/", data=body, content_type="application/json",
                    HTTP_AUTHORIZATION=f"Device {token}",
                )  # fmt: skip
                assert response.status_code == 200 and not response.json()["errors"], response.content
                sent += len(samples[chunk : chunk + 5000])
        evidence_at = time.perf_counter()

        while Milestone.objects.get(pk=milestone.pk).status != MilestoneStatus.VERIFIED:
            if time.perf_counter() - evidence_at > 3 * GOAL_SECONDS:
                stop.set()
                sys.exit("not verified within 3 minutes")
            time.sleep(0.05)
        verified_at = time.perf_counter()
        stop.set()
        loop.join(tick + 5)

        elapsed = verified_at - evidence_at
        evaluations = [duration for _, duration, counts in ticks if counts.get("evaluated")]
        report = VerificationReport.objects.filter(milestone=milestone, passed=True).get()
        print(f"fleet: {GPUS} GPUs, {DAYS}-day window; {sent:,} samples ingested to fill the last {MISSING_HOURS} h")
        print(f"verification tick: every {tick} s; one evaluation takes {max(evaluations) * 1000:.0f} ms at most")
        print(f"evidence ingested -> milestone verified: {elapsed:.1f} s (goal < {GOAL_SECONDS} s; bound: tick "
              f"{tick} s + evaluation) {'OK' if elapsed < GOAL_SECONDS else 'ABOVE GOAL'}")  # fmt: skip
        print(f"ratio to the tick interval: {elapsed / tick:.2f}; report {report.sha256[:16]}... value {report.value}")


if __name__ == "__main__":
    main()
