"""Fleet-scale evaluation in VictoriaMetrics: a 7-day criterion (average GPU utilization >= 70 %) over 1,000 GPUs
sampled every 10 s (60.5 M samples) held in VictoriaMetrics, evaluated by govtrack through a Prometheus source of
flavour victoriametrics (hourly steps: avg, min, max and count of every raw sample), against the same criterion over
govtrack's per-minute rollups.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/compute_victoria.py

It starts the Debian victoria-metrics on a free loopback port with a temporary data directory, imports the fleet
with /api/v1/import (JSON lines, BENCH_BATCH_GPUS series a request), and allows loopback in the egress gate as an
operator would (EGRESS_ALLOW_NETWORKS). Rollups of a whole fleet cannot be evaluated on a small machine (each
device-minute is a row read into the report), so the baseline is one rack of 50 GPUs, seeded with COPY
(rollups only, no raw samples), compared with VictoriaMetrics over the same 50 GPUs, and scaled linearly to the
fleet. BENCH_GPUS and BENCH_DAYS scale the fleet down where the import is too slow.
"""

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_common import bench_database, median_seconds, organization_with_engineer

GPUS = int(os.environ.get("BENCH_GPUS", "1000"))
DAYS = int(os.environ.get("BENCH_DAYS", "7"))
BATCH_GPUS = int(os.environ.get("BENCH_BATCH_GPUS", "20"))
CADENCE, STEP = 10, 3600
RACK = 50  # GPUs per rack label; the rollup baseline is rack r0
ROLLUP_GPUS = min(RACK, GPUS)
REPEAT = 3


def utilization(gpu: int, index: int) -> int:
    """The sample `index` of GPU `gpu`: 57 to 87 %, a different phase per GPU (fleet average 72 %)."""
    return 57 + (index * 7 + gpu) % 31


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_victoria(work: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("victoria-metrics")
    if not binary:
        sys.exit("Install the Debian package victoria-metrics (deploy/apt-packages-test.txt).")
    url = f"http://127.0.0.1:{free_port()}"
    args = [binary, f"-storageDataPath={work / 'data'}", f"-httpListenAddr={url.removeprefix('http://')}"]
    log = open(work / "victoria.log", "wb")  # noqa: SIM115 - open for the life of the process
    proc = subprocess.Popen([*args, "-retentionPeriod=100y", "-loggerLevel=WARN"], stdout=log, stderr=log)
    for _ in range(100):
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.2)
    sys.exit("victoria-metrics did not start")


def import_fleet(url: str, start: dt.datetime) -> tuple[int, float]:
    """Every GPU's week as one JSON line; the timestamps are the same text for all of them."""
    first = int(start.timestamp()) + 5  # samples at :05, :15, ...: none on a step's edge
    count = DAYS * 86400 // CADENCE
    timestamps = "[" + ",".join(str((first + CADENCE * i) * 1000) for i in range(count)) + "]"
    # utilization() repeats every 31 samples and its phase every 31 GPUs: 31 value texts serve the fleet.
    values = ["[" + ",".join(str(utilization(g, i)) for i in range(count)) + "]" for g in range(31)]
    started = time.perf_counter()
    session = requests.Session()
    for batch in range(0, GPUS, BATCH_GPUS):
        lines = [
            f'{{"metric":{{"__name__":"DCGM_FI_DEV_GPU_UTIL","UUID":"GPU-{g:04d}","rack":"r{g // RACK}",'
            f'"job":"dcgm"}},"values":{values[g % 31]},"timestamps":{timestamps}}}'
            for g in range(batch, min(batch + BATCH_GPUS, GPUS))
        ]
        session.post(f"{url}/api/v1/import", data="\n".join(lines).encode(), timeout=600).raise_for_status()
    session.get(f"{url}/internal/force_flush", timeout=60).raise_for_status()
    return GPUS * count, time.perf_counter() - started


def seed_rollups(pg_url: str, organization, start: dt.datetime, gpus: int) -> list:
    """The per-minute rollups ingest would have kept for the first `gpus` GPUs, written with COPY."""
    import psycopg

    from apps.compute.models import Device, DeviceKind

    devices = Device.objects.bulk_create(
        Device(organization=organization, key=f"GPU-{g:04d}", kind=DeviceKind.GPU, labels={"rack": f"r{g // RACK}"})
        for g in range(gpus)
    )
    per_minute = 60 // CADENCE
    with psycopg.connect(pg_url) as pg:
        copy = "COPY compute_samplerollup (device_id, metric, minute, avg, min, max, count) FROM STDIN"
        with pg.cursor().copy(copy) as rows:
            for g, device in enumerate(devices):
                for minute in range(DAYS * 1440):
                    values = [utilization(g, minute * per_minute + k) for k in range(per_minute)]
                    moment = start + dt.timedelta(minutes=minute)
                    rows.write_row(
                        (device.pk, "gpu.utilization", moment, sum(values) / per_minute, min(values), max(values),
                         per_minute)
                    )  # fmt: skip
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE compute_samplerollup")
    return devices


def main() -> None:
    os.environ["EGRESS_ALLOW_NETWORKS"] = "127.0.0.1/32"  # the store is on loopback, allowed by the operator
    work = Path(tempfile.mkdtemp(prefix="govtrack-victoria-"))
    proc, url = start_victoria(work)
    try:
        with bench_database("victoria") as pg_url:
            run(url, pg_url)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def run(url: str, pg_url: str) -> None:
    from apps.compute.services.sources import source_create
    from apps.compute.services.verification import criterion_verify
    from apps.funding.models import Funder, Grant, Milestone
    from apps.funding.services.milestones import criterion_add

    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    start = end - dt.timedelta(days=DAYS)
    samples, import_seconds = import_fleet(url, start)
    print(f"imported {samples:,} samples ({GPUS} GPUs x {DAYS} days at {CADENCE} s) in {import_seconds:.1f} s: "
          f"{samples / import_seconds:,.0f} samples/s")  # fmt: skip

    organization, owner, engineer = organization_with_engineer()
    store = source_create(
        organization=organization, by=engineer, name="fleet store", kind="prometheus",
        config={"url": url, "flavour": "victoriametrics", "mappings": "dcgm", "selector": {"job": "dcgm"},
                "timeout": 60},
        enabled=False, cadence_seconds=CADENCE, lateness_seconds=0,
    )  # fmt: skip
    funder = Funder.objects.create(organization=organization, name="Bench Agency", kind="government_agency")
    grant = Grant.objects.create(
        organization=organization, funder=funder, title="Bench", currency="EUR", amount_requested=1000,
        amount_awarded=1000, period_start=start.date(), period_end=end.date() + dt.timedelta(days=30),
        status="active",
    )  # fmt: skip

    def criterion(title: str, **config):
        milestone = Milestone.objects.create(
            organization=organization, grant=grant, title=title, amount=100, currency="EUR", due_date=end.date(),
            status="in_progress",
        )  # fmt: skip
        base = {"metric": "gpu.utilization", "threshold": 70, "start": start.isoformat(), "end": end.isoformat()}
        return criterion_add(milestone=milestone, by=owner, kind="compute", description=title, config=base | config)

    def evaluate(item):
        return median_seconds(lambda: criterion_verify(criterion=item), REPEAT)

    small = {"rack": "r0"}
    steps = f'DCGM_FI_DEV_GPU_UTIL{{job="dcgm"}}[{STEP}s]'
    query = {
        "query": f'union(rollup({steps}), label_set(count_over_time({steps}), "rollup", "count"))',
        "start": int(start.timestamp()) + STEP, "end": int(end.timestamp()), "step": STEP, "nocache": 1,
    }  # fmt: skip
    answer_seconds, answer = median_seconds(
        lambda: requests.post(f"{url}/api/v1/query_range", data=query, timeout=120), REPEAT
    )
    print(f"the range query alone: {answer_seconds:.2f} s, answer {len(answer.content) / 2**20:.1f} MiB")
    fleet_seconds, fleet = evaluate(
        criterion("fleet", promql=True, source=str(store.pk), step_seconds=STEP, min_devices=GPUS)
    )
    small_vm_seconds, small_vm = evaluate(
        criterion("rack", promql=True, source=str(store.pk), step_seconds=STEP, min_devices=ROLLUP_GPUS,
                  device_selector=small)
    )  # fmt: skip

    started = time.perf_counter()
    seed_rollups(pg_url, organization, start, ROLLUP_GPUS)
    print(f"seeded {ROLLUP_GPUS * DAYS * 1440:,} per-minute rollups ({ROLLUP_GPUS} GPUs) with COPY in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    rollup_seconds, rolled = evaluate(criterion("rollups", min_devices=ROLLUP_GPUS, device_selector=small))

    scaled = rollup_seconds * GPUS / ROLLUP_GPUS
    print(f"criterion: avg GPU utilization >= 70 % over {DAYS} days, every device covered (>= 95 % of its samples)")
    print(f"VictoriaMetrics, {GPUS} GPUs, {STEP} s steps: {fleet_seconds:.2f} s (median of {REPEAT}); "
          f"passed={fleet.passed} value={fleet.value} devices={fleet.devices_counted}, "
          f"report {len(fleet.canonical_json) / 2**20:.1f} MiB")  # fmt: skip
    print(f"VictoriaMetrics, {ROLLUP_GPUS} GPUs: {small_vm_seconds:.2f} s; value={small_vm.value}")
    print(f"rollups, {ROLLUP_GPUS} GPUs: {rollup_seconds:.2f} s; value={rolled.value} "
          f"(the same as VictoriaMetrics's: {rolled.value == small_vm.value}), "
          f"report {len(rolled.canonical_json) / 2**20:.1f} MiB")  # fmt: skip
    print(f"ratio rollups / VictoriaMetrics, same {ROLLUP_GPUS} GPUs: {rollup_seconds / small_vm_seconds:.1f}x")
    print(f"rollups scaled to {GPUS} GPUs: {scaled:.0f} s; ratio to VictoriaMetrics over {GPUS} GPUs: "
          f"{scaled / fleet_seconds:.1f}x")  # fmt: skip
    if (GPUS, DAYS) != (1000, 7):
        print(f"scaled down: {GPUS} GPUs x {DAYS} days; 1,000 x 7 is {1000 * 7 / (GPUS * DAYS):.1f}x the samples")


if __name__ == "__main__":
    main()
