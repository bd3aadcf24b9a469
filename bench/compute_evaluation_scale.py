"""Evaluation at fleet scale: a compute criterion over N GPUs for 7 days at 10 s sampling, evaluated the way beat does
it (points from the rollups, a Merkle root over every raw sample, the RFC 8785 report, its hash, the audit), then
rebuilt from the stored data (`verification_rebuild`), which must give the same hash.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/compute_evaluation_scale.py

BENCH_GPUS (default "8,64") names the fleet sizes: the largest is seeded once (raw samples generated in SQL and
written with COPY, the rollups ingest would have kept), and each size is a criterion selecting the first N GPUs by a
label. Per size it prints the evaluation's and the rebuild's time, the report's size, and the baseline measured in
the same run: the bare reading of the same evidence (the window's rollups and raw samples copied out of PostgreSQL
with psycopg, no Python per row), which no evaluation that reads all of its evidence can beat.
BENCH_PROFILE=1 prints the top of a cProfile of the smallest size's evaluation instead of timing the others.
"""

import cProfile
import datetime as dt
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_common import bench_database, organization_with_engineer

SIZES = sorted(int(n) for n in os.environ.get("BENCH_GPUS", "8,64").split(","))
DAYS, STEP_SECONDS = 7, 10
PROFILE = os.environ.get("BENCH_PROFILE") == "1"

BARE_READ_SQL = (
    "COPY (SELECT device_id, minute, avg, min, max, count FROM compute_samplerollup "
    "WHERE device_id = ANY({ids}) AND metric = 'gpu.utilization' AND minute >= {start} AND minute < {end} "
    "ORDER BY device_id, minute) TO STDOUT",
    "COPY (SELECT device_id, ts, value FROM compute_sample "
    "WHERE device_id = ANY({ids}) AND metric = 'gpu.utilization' AND ts >= {start} AND ts < {end} "
    "ORDER BY device_id, ts) TO STDOUT",
)


def seed(url: str, organization, start: dt.datetime, end: dt.datetime) -> list:
    """The largest fleet's devices, each labelled with the sizes it belongs to, and a week of samples and rollups."""
    import psycopg
    import psycopg.sql

    from apps.compute.models import Device, DeviceKind

    devices = [
        Device(
            organization=organization,
            key=f"GPU-{i:03d}",
            kind=DeviceKind.GPU,
            labels={"cluster": "bench", **{f"first{n}": "yes" for n in SIZES if i < n}},
        )
        for i in range(SIZES[-1])
    ]
    Device.objects.bulk_create(devices)
    started = time.perf_counter()
    generate = (
        "COPY (SELECT d, 'gpu.utilization', ts, round((60 + 30 * random())::numeric, 3)::float8 "
        "FROM unnest({}::uuid[]) d, "
        "generate_series({}::timestamptz, {}::timestamptz - interval '1 second', {}::interval) ts) TO STDOUT"
    )
    with psycopg.connect(url) as pg, psycopg.connect(url) as source:
        pg.execute("ALTER TABLE compute_sample SET (autovacuum_enabled = false)")
        query = psycopg.sql.SQL(generate).format(
            [str(d.pk) for d in devices], start, end, dt.timedelta(seconds=STEP_SECONDS)
        )
        with (
            source.cursor().copy(query) as rows_out,
            pg.cursor().copy("COPY compute_sample (device_id, metric, ts, value) FROM STDIN") as rows_in,
        ):
            for data in rows_out:
                rows_in.write(data)
        pg.execute(
            "INSERT INTO compute_samplerollup (device_id, metric, minute, avg, min, max, count) "
            "SELECT device_id, metric, date_trunc('minute', ts), avg(value), min(value), max(value), count(*) "
            "FROM compute_sample GROUP BY 1, 2, 3"
        )
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE compute_sample")
        pg.execute("VACUUM ANALYZE compute_samplerollup")
        samples = pg.execute("SELECT count(*) FROM compute_sample").fetchone()[0]
    print(f"seeded {len(devices)} GPUs, {samples:,} raw samples in {time.perf_counter() - started:.1f} s")
    return devices


def bare_read_seconds(url: str, device_ids: list, start: dt.datetime, end: dt.datetime) -> tuple[float, int]:
    import psycopg
    import psycopg.sql

    started, size = time.perf_counter(), 0
    with psycopg.connect(url) as pg:
        for text in BARE_READ_SQL:
            query = psycopg.sql.SQL(text).format(ids=[str(i) for i in device_ids], start=start, end=end)
            with pg.cursor().copy(query) as rows:
                size += sum(len(data) for data in rows)
    return time.perf_counter() - started, size


def main() -> None:
    with bench_database("evaluation_scale") as url:
        from apps.compute.services.verification import criterion_verify, report_rebuild
        from apps.funding.models import Funder, Grant, Milestone
        from apps.funding.services.milestones import criterion_add

        organization, owner, _ = organization_with_engineer()
        end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
        start = end - dt.timedelta(days=DAYS)
        devices = seed(url, organization, start, end)
        funder = Funder.objects.create(organization=organization, name="Bench Agency", kind="government_agency")
        grant = Grant.objects.create(
            organization=organization, funder=funder, title="Bench", currency="EUR", amount_requested=1000,
            amount_awarded=1000, period_start=start.date(), period_end=end.date() + dt.timedelta(days=30),
            status="active",
        )  # fmt: skip
        iso = {"start": start.isoformat().replace("+00:00", "Z"), "end": end.isoformat().replace("+00:00", "Z")}
        now = end + dt.timedelta(minutes=5)  # past the GPUs' 120 s allowance and the margin
        print(f"window: {DAYS} days at {STEP_SECONDS} s sampling ({iso['start']} to {iso['end']})")
        for size in SIZES:
            milestone = Milestone.objects.create(
                organization=organization, grant=grant, title=f"{size} GPUs at 70% for a week", amount=100,
                currency="EUR", due_date=end.date(), status="in_progress",
            )  # fmt: skip
            criterion = criterion_add(
                milestone=milestone,
                by=owner,
                kind="compute",
                description=f"{size} GPUs average >= 70% for {DAYS} days",
                config={
                    "metric": "gpu.utilization", "threshold": 70, **iso, "min_devices": size,
                    "device_selector": {f"first{size}": "yes"},
                },
            )  # fmt: skip
            ids = [d.pk for d in devices[:size]]
            bare, bare_bytes = bare_read_seconds(url, ids, start, end)
            if PROFILE:
                profile = cProfile.Profile()
                profile.enable()
                report = criterion_verify(criterion=criterion, now=now)
                profile.disable()
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
                print(out.getvalue())
                pstats.Stats(profile, stream=(out := io.StringIO())).sort_stats("tottime").print_stats(25)
                print(out.getvalue())
                return
            started = time.perf_counter()
            report = criterion_verify(criterion=criterion, now=now)
            evaluation = time.perf_counter() - started
            started = time.perf_counter()
            rebuilt = report_rebuild(report=report)
            rebuild = time.perf_counter() - started
            assert rebuilt.ok, rebuilt.differences
            print(
                f"{size} GPUs: evaluation {evaluation:.2f} s, rebuild {rebuild:.2f} s (same hash), report "
                f"{len(report.canonical_json.encode()) / 1e6:.2f} MB, passed={report.passed} "
                f"sha256={report.sha256[:16]}...; bare read of its evidence {bare:.2f} s "
                f"({bare_bytes / 1e6:.1f} MB); evaluation / bare read {evaluation / bare:.1f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
