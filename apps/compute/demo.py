"""Demo compute data for seed_demo: a Prometheus source (enabled only when COMPUTE_DEMO_PROMETHEUS_URL is set), eight
GPUs of one cluster and two edge boards, a day of per-minute rollups, and the compute criterion of the demo
milestone "GPU cluster: 8 GPUs at 70% for a week"."""

import datetime as dt
import math
import random

from django.conf import settings
from django.utils import timezone

from apps.compute.models import ComputeSource, DeviceKind, SampleRollup, SourceKind
from apps.compute.services.devices import device_create
from apps.compute.services.sources import source_create
from apps.funding.models import CriterionKind, Milestone
from apps.funding.services.milestones import criterion_add
from apps.tenancy.models import Role

DEMO_MILESTONE = "GPU cluster: 8 GPUs at 70% for a week"
CLUSTER = "blackwell-a"


def seed(*, organization, users, stdout) -> None:
    if ComputeSource.objects.filter(organization=organization).exists():
        return
    engineer, finance = users[Role.ENGINEER], users[Role.FINANCE]
    url = settings.COMPUTE_DEMO_PROMETHEUS_URL
    prometheus = source_create(
        organization=organization,
        by=engineer,
        name="DCGM exporter (Prometheus)",
        kind=SourceKind.PROMETHEUS,
        config={
            "url": url or "https://prometheus.example.invalid",
            "mappings": "dcgm",
            "selector": {"cluster": CLUSTER},
        },
        schedule_seconds=60,
        enabled=bool(url),
    )
    edge = source_create(organization=organization, by=engineer, name="Edge agents", kind=SourceKind.PUSH)
    gpus = [
        device_create(
            organization=organization,
            by=engineer,
            key=f"GPU-demo-{CLUSTER}-{index}",
            kind=DeviceKind.GPU,
            labels={"cluster": CLUSTER, "host": f"dgx-{index // 4 + 1:02d}", "index": str(index % 4)},
            source=prometheus,
            with_token=False,
        )[0]
        for index in range(8)
    ]
    boards = []
    for index in range(2):
        board, token = device_create(
            organization=organization,
            by=engineer,
            key=f"riscv-board-{index + 1}",
            kind=DeviceKind.EDGE,
            labels={"site": "pilot-lyon", "isa": "rv64imafdc"},
            source=edge,
        )
        boards.append(board)
        stdout.write(f"Edge board {board.key}: push token {token} (shown once)")

    rng = random.Random(20261126)  # noqa: S311 - synthetic demo data
    end = timezone.now().replace(second=0, microsecond=0)
    rollups = []
    for minute_index in range(24 * 60):
        minute = end - dt.timedelta(minutes=24 * 60 - minute_index)
        daily = math.sin(2 * math.pi * minute_index / 1440)
        for device, metric, base, swing in [
            *[(gpu, "gpu.utilization", 74, 8) for gpu in gpus],
            *[(board, "cpu.utilization", 35, 15) for board in boards],
        ]:
            avg = min(100.0, max(0.0, base + swing * daily + rng.gauss(0, 3)))
            spread = abs(rng.gauss(0, 4))
            rollups.append(
                SampleRollup(
                    device=device,
                    metric=metric,
                    minute=minute,
                    avg=round(avg, 3),
                    min=round(max(0.0, avg - spread), 3),
                    max=round(min(100.0, avg + spread), 3),
                    count=6,
                )
            )
    SampleRollup.objects.bulk_create(rollups, batch_size=2000, ignore_conflicts=True)

    milestone = Milestone.objects.filter(organization=organization, title=DEMO_MILESTONE).first()
    if milestone is not None and not milestone.criteria.filter(kind=CriterionKind.COMPUTE).exists():
        criterion_add(
            milestone=milestone,
            by=finance,
            kind=CriterionKind.COMPUTE,
            description="Average GPU utilization >= 70% over 7 days on 8 GPUs of cluster blackwell-a, 95% coverage",
            config={
                "metric": "gpu.utilization",
                "aggregation": "avg_of_minute_avg",
                "comparison": "gte",
                "threshold": 70,
                "window_days": 7,
                "device_selector": {"cluster": CLUSTER},
                "device_kind": DeviceKind.GPU,
                "min_devices": 8,
                "min_coverage": 0.95,
                "mode": "fleet",
            },
        )
    stdout.write(f"Compute: {len(gpus)} GPUs and {len(boards)} edge boards with a day of per-minute rollups.")
