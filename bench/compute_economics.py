"""Compute economics speed: a month of cost for 64 GPUs sampled every 10 s, computed from the per-minute rollups
(what govtrack does: GPU-hours provisioned and used, idle cost, energy, cost per budget line and per day), against
the same figures computed by scanning the raw samples.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/compute_economics.py [--raw-days N]

The month's rollups (2 metrics x 64 GPUs x 43,200 minutes = 5.5 M rows) are generated in SQL. Raw samples at 10 s
for the whole month would be 33 M rows; by default the raw baseline covers the last --raw-days days (3), whose
rollups are built from those very samples, so both ways must give identical figures there; the ratio is measured
on that window, and the month's raw time is also measured with --raw-days 30 where the machine has the room.

Goal: the month from rollups in under 500 ms.
"""

import argparse
import datetime as dt
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute_common import bench_database, median_seconds, organization_with_engineer

GPUS, DAYS, STEP_SECONDS = 64, 30, 10
REPEAT = 5
GOAL_MS = 500

# The same per-minute averages the rollups keep, from the raw samples, then the same per-day sums.
RAW_USAGE_SQL = """
SELECT device_id, metric, (minute AT TIME ZONE 'UTC')::date, count(*), sum(round(minute_avg * 1000000)::bigint)
FROM (
    SELECT device_id, metric, date_trunc('minute', ts) AS minute, avg(value) AS minute_avg
    FROM compute_sample
    WHERE device_id = ANY(%s) AND metric = ANY(%s) AND ts >= %s AND ts < %s
    GROUP BY 1, 2, 3
) per_minute
GROUP BY 1, 2, 3
"""
# Six 10-second readings a minute: utilization swings over the day, power follows it.
SAMPLES = """
SELECT d, m, ts, CASE WHEN m = 'gpu.utilization' THEN u ELSE 150 + 8.5 * u END
FROM unnest({ids}::uuid[]) d, unnest(ARRAY['gpu.utilization', 'gpu.power.watts']) m,
     generate_series({start}::timestamptz, {end}::timestamptz - interval '1 second', interval '10 seconds') ts,
     LATERAL (SELECT 55 + 35 * sin(extract(epoch FROM ts) / 13751 + hashtext(d::text) % 7) AS u) w
"""
ROLLUPS = """
INSERT INTO compute_samplerollup (device_id, metric, minute, avg, min, max, count)
SELECT d, m, minute, v, v, v, 6
FROM unnest(%s::uuid[]) d, unnest(ARRAY['gpu.utilization', 'gpu.power.watts']) m,
     generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute', interval '1 minute') minute,
     LATERAL (SELECT 55 + 35 * sin(extract(epoch FROM minute) / 13751 + hashtext(d::text) %% 7) AS u) w,
     LATERAL (SELECT CASE WHEN m = 'gpu.utilization' THEN u ELSE 150 + 8.5 * u END AS v) x
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw-days", type=int, default=3)
    args = parser.parse_args()
    raw_days = max(1, min(args.raw_days, DAYS))
    with bench_database("economics") as url:
        import psycopg
        import psycopg.sql
        from django.db import connection

        from apps.compute.models import Device, DeviceKind
        from apps.economics.costing import (
            USAGE_METRICS,
            Usage,
            compute_economics,
            usage_by_device_day,
            usage_days_refresh,
        )
        from apps.economics.models import CostAttribution, RateCard
        from apps.funding.models import BudgetLine, Funder, Grant

        organization, _, _ = organization_with_engineer()
        devices = [
            Device(
                organization=organization,
                key=f"GPU-{i:03d}",
                kind=DeviceKind.GPU,
                labels={"cluster": "blackwell-a" if i < 48 else "burst", "host": f"node-{i // 8:02d}"},
            )
            for i in range(GPUS)
        ]
        Device.objects.bulk_create(devices)
        end = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - dt.timedelta(days=DAYS)
        raw_start = end - dt.timedelta(days=raw_days)
        ids = [str(d.pk) for d in devices]

        started = time.perf_counter()
        with psycopg.connect(url) as pg, psycopg.connect(url) as source:
            for table in ("compute_sample", "compute_samplerollup"):
                pg.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            generate = psycopg.sql.SQL("COPY (" + SAMPLES + ") TO STDOUT").format(ids=ids, start=raw_start, end=end)
            with (
                source.cursor().copy(generate) as rows_out,
                pg.cursor().copy("COPY compute_sample (device_id, metric, ts, value) FROM STDIN") as rows_in,
            ):
                for data in rows_out:
                    rows_in.write(data)
            # The rollups ingest keeps: from the raw samples where they exist, generated for the rest of the month.
            pg.execute(
                "INSERT INTO compute_samplerollup (device_id, metric, minute, avg, min, max, count) "
                "SELECT device_id, metric, date_trunc('minute', ts), avg(value), min(value), max(value), count(*) "
                "FROM compute_sample GROUP BY 1, 2, 3"
            )
            if raw_start > start:
                pg.execute(ROLLUPS, [ids, start, raw_start])
            pg.commit()
            pg.autocommit = True
            pg.execute("VACUUM ANALYZE compute_sample")
            pg.execute("VACUUM ANALYZE compute_samplerollup")
            samples = pg.execute("SELECT count(*) FROM compute_sample").fetchone()[0]
            rollups = pg.execute("SELECT count(*) FROM compute_samplerollup").fetchone()[0]
        print(
            f"generated {samples:,} raw samples ({raw_days} days) and {rollups:,} rollups ({DAYS} days) "
            f"in {time.perf_counter() - started:.1f} s"
        )

        funder = Funder.objects.create(organization=organization, name="Bench Agency", kind="government_agency")
        grant = Grant.objects.create(
            organization=organization,
            funder=funder,
            title="Bench",
            currency="EUR",
            amount_requested=10**6,
            amount_awarded=10**6,
            period_start=start.date(),
            period_end=end.date(),
            status="active",
        )
        for name, selector in (("On-prem cluster", {"cluster": "blackwell-a"}), ("Cloud burst", {"cluster": "burst"})):
            line = BudgetLine.objects.create(
                organization=organization,
                grant=grant,
                category="compute",
                name=name,
                currency="EUR",
                amount_original=10**5,
                amount=10**5,
            )
            CostAttribution.objects.create(
                organization=organization, name=name, device_selector=selector, budget_line=line
            )
        RateCard.objects.create(
            organization=organization,
            name="Blackwell",
            kind="on_prem",
            currency="EUR",
            device_selector={"cluster": "blackwell-a"},
            purchase_price=38000,
            lifetime_days=1460,
            power_price_per_kwh="0.21",
            valid_from=start.date(),
        )
        RateCard.objects.create(
            organization=organization,
            name="Burst",
            kind="cloud",
            currency="EUR",
            device_selector={"cluster": "burst"},
            price_per_gpu_hour="2.45",
            valid_from=start.date(),
        )

        def raw_usage(*, devices, start, end):
            found = defaultdict(lambda: defaultdict(Usage))
            with connection.cursor() as cursor:
                cursor.execute(RAW_USAGE_SQL, [[d.pk for d in devices], USAGE_METRICS, start, end])
                for device_id, metric, day, count, total in cursor.fetchall():
                    usage = found[device_id][day]
                    if metric == "gpu.utilization":
                        usage.minutes, usage.utilization_micro = int(count), int(total)
                    else:
                        usage.power_minutes, usage.watts_micro = int(count), int(total)
            return found

        def month():
            return compute_economics(organization=organization, start=start, end=end)

        month()
        live_seconds, live_report = median_seconds(month, 3)
        # What beat keeps: each closed day's rollups summed once (UsageDay); the month then reads 3,840 rows.
        started = time.perf_counter()
        written = usage_days_refresh(organization=organization, today=end.date())
        print(
            f"daily usage summary of {DAYS} days: {written:,} device-metric-days in "
            f"{time.perf_counter() - started:.1f} s (beat does one day at a time)"
        )

        def window_from(reader):
            return lambda: compute_economics(organization=organization, start=raw_start, end=end, usage_reader=reader)

        month()
        month_seconds, report = median_seconds(month, REPEAT)
        assert report["totals"] == live_report["totals"] and report["trend"] == live_report["trend"]
        window_rollups_seconds, from_rollups = median_seconds(window_from(usage_by_device_day), REPEAT)
        window_raw_seconds, from_raw = median_seconds(window_from(raw_usage), 3)
        assert from_rollups["totals"] == from_raw["totals"], (from_rollups["totals"], from_raw["totals"])
        assert from_rollups["budget_lines"] == from_raw["budget_lines"]

        totals = report["totals"]
        ratio = window_raw_seconds / window_rollups_seconds
        print(
            f"month: {DAYS} days x {GPUS} GPUs every {STEP_SECONDS} s; cost {totals['total_cost']} EUR, idle "
            f"{totals['idle_cost']} EUR, {totals['provisioned_hours']} GPU-hours provisioned, "
            f"{totals['used_hours']} used, {totals['energy_kwh']} kWh"
        )
        print(
            f"the month from rollups (daily summary): {month_seconds * 1000:.1f} ms (median of {REPEAT}), goal "
            f"< {GOAL_MS} ms: {'OK' if month_seconds * 1000 < GOAL_MS else 'BELOW GOAL'}; straight from the "
            f"per-minute rollups: {live_seconds * 1000:.1f} ms (median of 3); identical figures"
        )
        print(
            f"the last {raw_days} day(s): rollups {window_rollups_seconds * 1000:.1f} ms, raw-sample scan "
            f"{window_raw_seconds * 1000:.1f} ms, identical figures; ratio raw / rollups {ratio:.1f}x"
        )
        raw_month = window_raw_seconds * DAYS / raw_days
        print(
            f"the month from raw samples, scaled from those {raw_days} day(s): ~{raw_month:.1f} s; ratio to the "
            f"month from rollups ~{raw_month / month_seconds:.0f}x"
        )


if __name__ == "__main__":
    main()
