"""Storing samples: validation of a pushed batch, the bulk write (COPY on PostgreSQL), per-minute rollups, retention.

A sample is identified by (device, metric, ts): storing the same batch twice stores nothing the second time and
leaves the rollups as they were. Each newly stored sample is merged into its (device, metric, minute) rollup, so the
rollups never depend on the order or the number of deliveries, and outlive the raw samples' retention.

A sample that arrives more than its lateness allowance after its ts, or into a window a report has already read, is
late: it is stored apart (LateSample) and counted on its device and on the reports whose window it falls in, and
never enters Sample or the rollups, so no sealed window's evidence changes (docs/compute.md, "Sealed windows").
An ingest that brings a waiting criterion's fixed window past its seal queues that criterion's evaluation once the
transaction commits.
"""

import bisect
import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from apps.compute.evaluation import device_lateness_seconds
from apps.compute.models import Device, LateSample, ReportSource, Sample, SampleRollup, VerificationReport
from apps.core.outbox import outbox_nudge
from compute_hooks import METRICS

# (device id, metric, ts, value)
Row = tuple[uuid.UUID, str, dt.datetime, float]


@dataclasses.dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    errors: list[dict] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "late": self.late, "errors": self.errors}


@dataclasses.dataclass
class CleanSample:
    index: int
    metric: str
    ts: dt.datetime
    value: float
    labels: dict[str, str]


def _error(index: int, field: str, message: str) -> dict:
    return {"index": index, "field": field, "message": message}


@dataclasses.dataclass(frozen=True)
class TimeBounds:
    """The timestamps a batch may carry: not beyond the allowed clock skew, not older than the raw retention."""

    latest: dt.datetime
    oldest: dt.datetime

    @classmethod
    def at(cls, now: dt.datetime) -> "TimeBounds":
        return cls(
            latest=now + dt.timedelta(seconds=settings.COMPUTE_MAX_CLOCK_SKEW_SECONDS),
            oldest=now - dt.timedelta(days=settings.COMPUTE_RAW_RETENTION_DAYS),
        )


_TS_MESSAGE = "The timestamp must be an ISO 8601 string with a time zone."


def sample_clean(index: int, raw, *, bounds: TimeBounds) -> CleanSample | dict:
    """One wire sample `{"metric", "ts", "value", "labels"}`, checked; an error dict when it is refused."""
    if not isinstance(raw, dict):
        return _error(index, "sample", "Each sample is an object with metric, ts, value and labels.")
    metric = raw.get("metric")
    spec = METRICS.get(metric) if isinstance(metric, str) else None
    if spec is None:
        if not isinstance(metric, str) or not metric:
            return _error(index, "metric", "A metric name is required.")
        return _error(index, "metric", f"Unknown metric '{metric[:64]}'. Known: {', '.join(sorted(METRICS))}.")
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _error(index, "value", "The value must be a number.")
    value = float(value)
    if not math.isfinite(value):
        return _error(index, "value", "The value must be a finite number (not NaN or infinity).")
    if not spec.check(value):
        low = spec.minimum if spec.minimum is not None else "-inf"
        high = spec.maximum if spec.maximum is not None else "inf"
        return _error(index, "value", f"{value:g} is outside the range of {metric} ({low}..{high} {spec.unit}).")
    raw_ts = raw.get("ts")
    if not isinstance(raw_ts, str):
        return _error(index, "ts", _TS_MESSAGE)
    try:
        ts = dt.datetime.fromisoformat(raw_ts)  # "Z" included (Python 3.11)
    except ValueError:
        return _error(index, "ts", _TS_MESSAGE)
    if ts.tzinfo is None:
        return _error(index, "ts", _TS_MESSAGE)
    if ts > bounds.latest:
        skew = settings.COMPUTE_MAX_CLOCK_SKEW_SECONDS
        return _error(index, "ts", f"The timestamp is more than {skew} s in the future; check the device's clock.")
    if ts < bounds.oldest:
        days = settings.COMPUTE_RAW_RETENTION_DAYS
        return _error(index, "ts", f"The timestamp is older than the {days}-day raw retention.")
    labels = raw.get("labels") or {}
    if not isinstance(labels, dict) or any(not isinstance(v, str | int | float) for v in labels.values()):
        return _error(index, "labels", "Labels are an object of names to strings.")
    return CleanSample(index, metric, ts, value, labels)


def samples_ingest(*, device: Device, samples: list, now: dt.datetime | None = None) -> IngestResult:
    """Stores a pushed batch of `device`. Bad samples are reported by index and the rest stored.

    Samples of one metric at one instant (an agent's thermal zones) are kept as one reading, their maximum, as the
    Prometheus mapping does for the same zones; each such sample counts as accepted (or duplicate) with it.
    Accepted samples past the device's lateness allowance are also counted in `late` (stored apart).
    """

    now = now or timezone.now()
    bounds = TimeBounds.at(now)
    result = IngestResult()
    clean: list[CleanSample] = []
    for index, raw in enumerate(samples):
        checked = sample_clean(index, raw, bounds=bounds)
        if isinstance(checked, dict):
            result.errors.append(checked)
        else:
            clean.append(checked)
    if clean:
        merged: dict[tuple[str, dt.datetime], float] = {}
        for item in clean:
            key = (item.metric, item.ts)
            previous = merged.get(key)
            merged[key] = item.value if previous is None or item.value > previous else previous
        rows = [(device.pk, metric, ts, value) for (metric, ts), value in merged.items()]
        with transaction.atomic():
            stored = samples_store_on_time(rows=rows, lateness={device.pk: device_lateness_seconds(device)}, now=now)
            _device_seen(device, now=now, labels=_common_labels(item.labels for item in clean))
            evaluations_queue_sealed(devices=[device], latest=max(ts for _, _, ts, _ in rows), now=now)
        device_id = device.pk
        if stored.duplicates:
            result.duplicates = sum(1 for item in clean if (device_id, item.metric, item.ts) in stored.duplicates)
        if stored.late:
            result.late = sum(1 for item in clean if (device_id, item.metric, item.ts) in stored.late)
        result.accepted = len(clean) - result.duplicates
    return result


@dataclasses.dataclass
class Stored:
    duplicates: set
    late: set


def samples_store_on_time(*, rows: list[Row], lateness: dict, now: dt.datetime) -> Stored:
    """Stores rows the way every path does: those within their device's lateness allowance (`lateness`: seconds by
    device id) into Sample and the rollups, the late ones apart (`late_samples_store`), and so are those that fall
    in a window a report has already read (`rows_in_reported_windows`). Returns the keys of the duplicates and of
    the late rows newly stored. Runs in the caller's transaction."""
    on_time, late = [], []
    for row in rows:
        (late if (now - row[2]).total_seconds() > lateness[row[0]] else on_time).append(row)
    reported = rows_in_reported_windows(on_time)
    if reported:
        late += [row for row in on_time if row[:3] in reported]
        on_time = [row for row in on_time if row[:3] not in reported]
    duplicates = samples_store(rows=on_time)
    stored_late, late_duplicates = late_samples_store(rows=late, now=now)
    return Stored(duplicates=duplicates | late_duplicates, late=stored_late)


def rows_in_reported_windows(rows: list[Row]) -> set:
    """Keys of the rows whose ts lies in the window of a report that read their device and metric. That window was
    sealed without waiting for this device (it had not reported the metric then): its samples come too late for it.
    One indexed query per batch (reports by metric and window end); a fresh batch lies after every window."""
    if not rows:
        return set()
    first, last = min(row[2] for row in rows), max(row[2] for row in rows)
    windows: dict[tuple, list] = {}
    for device_id, metric, start, end in (
        VerificationReport.devices.through.objects.filter(
            device_id__in={row[0] for row in rows},
            verificationreport__source=ReportSource.ROLLUPS,
            verificationreport__metric__in={row[1] for row in rows},
            verificationreport__window_end__gt=first,
            verificationreport__window_start__lte=last,
        )
        .values_list(
            "device_id",
            "verificationreport__metric",
            "verificationreport__window_start",
            "verificationreport__window_end",
        )
        .distinct()
    ):
        windows.setdefault((device_id, metric), []).append((start, end))
    if not windows:
        return set()
    covered = {key: _union(spans) for key, spans in windows.items()}
    return {row[:3] for row in rows if _within(covered.get(row[:2], ()), row[2])}


def _union(spans: list[tuple]) -> list[tuple]:
    """Overlapping [start, end) spans merged, in order (a rolling criterion's reports overlap each other)."""
    merged: list[list] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [tuple(span) for span in merged]


def _within(spans: list[tuple], moment: dt.datetime) -> bool:
    index = bisect.bisect_right(spans, moment, key=lambda span: span[0]) - 1
    return index >= 0 and spans[index][0] <= moment < spans[index][1]


def late_samples_store(*, rows: list[Row], now: dt.datetime) -> tuple[set, set]:
    """Stores late rows apart and counts them on their devices and on the reports whose window they fall in.
    Returns (keys stored now, keys already stored: on time or late). Late samples are rare: plain ORM queries."""
    if not rows:
        return set(), set()
    keys = {(d, m, ts) for d, m, ts, _ in rows}
    first, last = min(k[2] for k in keys), max(k[2] for k in keys)
    device_ids, metrics = {k[0] for k in keys}, {k[1] for k in keys}
    known = set()
    for model in (Sample, LateSample):
        known |= {
            key
            for key in model.objects.filter(
                device_id__in=device_ids, metric__in=metrics, ts__gte=first, ts__lte=last
            ).values_list("device_id", "metric", "ts")
            if key in keys
        }
    new = [row for row in rows if (row[0], row[1], row[2]) not in known]
    with transaction.atomic():
        LateSample.objects.bulk_create(
            [LateSample(device_id=d, metric=m, ts=ts, value=v, received_at=now) for d, m, ts, v in new],
            ignore_conflicts=True,
        )
        per_device: dict = {}
        for device_id, _, _, _ in new:
            per_device[device_id] = per_device.get(device_id, 0) + 1
        for device_id, count in per_device.items():
            Device.objects.filter(pk=device_id).update(late_samples=models.F("late_samples") + count, last_late_at=now)
        reports = VerificationReport.objects.filter(
            devices__in=per_device, metric__in=metrics, window_start__lte=last, window_end__gt=first
        ).values_list("pk", "window_start", "window_end", "metric", "devices")
        hits: dict = {}
        for pk, start, end, metric, report_device in reports:
            hits[pk] = hits.get(pk, 0) + sum(
                1 for d, m, ts, _ in new if d == report_device and m == metric and start <= ts < end
            )
        for pk, count in hits.items():
            if count:
                VerificationReport.objects.filter(pk=pk).update(late_samples=models.F("late_samples") + count)
    return {(d, m, ts) for d, m, ts, _ in new}, known


def evaluations_queue_sealed(*, devices: list[Device], latest: dt.datetime, now: dt.datetime) -> int:
    """Queues, after commit, the evaluation of each waiting compute criterion with a fixed window that one of these
    devices counts for, once the window is sealed for it (its end plus the device's allowance has passed) and the
    criterion has no result for that window yet. Beat's tick evaluates whatever this misses."""
    from apps.compute.tasks import compute_verify_criterion
    from apps.funding.models import CriterionKind, CriterionStatus, MilestoneCriterion, MilestoneStatus

    waiting = (
        MilestoneCriterion.objects.filter(
            kind=CriterionKind.COMPUTE,
            milestone__organization_id=devices[0].organization_id,
            milestone__status__in=(MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED),
        )
        .exclude(status=CriterionStatus.MET)
        .only("pk", "config", "last_result")
    )
    margin = dt.timedelta(seconds=settings.COMPUTE_SEAL_MARGIN_SECONDS)
    queued = 0
    for criterion in waiting:
        config, last = criterion.config or {}, criterion.last_result or {}
        end_text = config.get("end")
        if not isinstance(end_text, str) or config.get("promql") or config.get("start") is None:
            continue
        try:
            end = dt.datetime.fromisoformat(end_text.replace("Z", "+00:00"))
        except ValueError:
            continue
        if last.get("window_end") and dt.datetime.fromisoformat(last["window_end"].replace("Z", "+00:00")) == end:
            continue  # already evaluated over this sealed window
        selector, kind = config.get("device_selector") or {}, config.get("device_kind")
        for device in devices:
            counts = (not kind or device.kind == kind) and all(
                str(device.labels.get(k)) == str(v) for k, v in selector.items()
            )
            sealed = now >= end + dt.timedelta(seconds=device_lateness_seconds(device)) + margin
            if counts and sealed and latest >= end - dt.timedelta(minutes=1):
                outbox_nudge(compute_verify_criterion, str(criterion.pk))
                queued += 1
                break
    return queued


def _common_labels(label_sets: Iterable[dict]) -> dict[str, str]:
    common: dict | None = None
    for labels in label_sets:
        if common is None:
            common = dict(labels)
        elif labels != common:
            common = {k: v for k, v in common.items() if labels.get(k) == v}
        if not common:
            return {}
    return {str(k): str(v) for k, v in (common or {}).items()}


def _device_seen(device: Device, *, now: dt.datetime, labels: dict[str, str]) -> None:
    """Marks the device seen; labels it reports that it has none of yet are added (set labels win)."""
    fields = {"last_seen_at": now}
    missing = {k: v for k, v in labels.items() if k not in device.labels}
    if missing:
        device.labels = {**device.labels, **missing}
        fields["labels"] = device.labels
    Device.objects.filter(pk=device.pk).update(**fields)
    device.last_seen_at = now


def samples_store(*, rows: list[Row]) -> set[tuple[uuid.UUID, str, dt.datetime]]:
    """Inserts the rows that are new and merges them into the rollups of their minutes; returns the keys of the rows
    that were already stored (duplicates).

    Only newly inserted samples are merged (count-weighted average, least minimum, greatest maximum, added counts),
    so a resent sample changes nothing, and concurrent writers to one minute serialize on its rollup row.
    Rows must be unique on (device, metric, ts). Runs in the caller's transaction (or its own).
    """
    if not rows:
        return set()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _store_postgresql(rows)
        return _store_portable(rows)


def _copy_text(rows: list[Row]) -> bytes:
    """The rows in COPY's text format (metric names come from the registry: no tab, newline or backslash)."""
    ids: dict = {}
    lines = []
    for device_id, metric, ts, value in rows:
        text_id = ids.get(device_id) or ids.setdefault(device_id, str(device_id))
        lines.append(f"{text_id}\t{metric}\t{ts.isoformat()}\t{value!r}\n")
    return "".join(lines).encode("utf-8")


def _store_postgresql(rows: list[Row]) -> set[tuple[uuid.UUID, str, dt.datetime]]:
    with connection.cursor() as cursor:
        # A temporary table of the session, emptied at each commit, holds the batch as copied in.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS compute_ingest_rows "
            "(device_id uuid, metric varchar(64), ts timestamptz, value double precision) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE compute_ingest_rows")
        with cursor.copy("COPY compute_ingest_rows (device_id, metric, ts, value) FROM STDIN") as copy:
            copy.write(_copy_text(rows))
        # The duplicates come back rather than the new rows: a first delivery, the usual case, returns nothing.
        cursor.execute(
            """
            WITH inserted AS (
                INSERT INTO compute_sample (device_id, metric, ts, value)
                SELECT device_id, metric, ts, value FROM compute_ingest_rows
                ON CONFLICT (device_id, metric, ts) DO NOTHING
                RETURNING device_id, metric, ts, value
            ), merged AS (
                INSERT INTO compute_samplerollup AS r (device_id, metric, minute, avg, min, max, count)
                SELECT device_id, metric, date_trunc('minute', ts), avg(value), min(value), max(value), count(*)
                FROM inserted GROUP BY 1, 2, 3
                ON CONFLICT (device_id, metric, minute) DO UPDATE SET
                    avg = (r.avg * r.count + EXCLUDED.avg * EXCLUDED.count) / (r.count + EXCLUDED.count),
                    min = least(r.min, EXCLUDED.min),
                    max = greatest(r.max, EXCLUDED.max),
                    count = r.count + EXCLUDED.count
            )
            SELECT t.device_id, t.metric, t.ts FROM compute_ingest_rows t
            WHERE NOT EXISTS (
                SELECT 1 FROM inserted i WHERE i.device_id = t.device_id AND i.metric = t.metric AND i.ts = t.ts
            )
            """
        )
        return {(row[0], row[1], row[2]) for row in cursor.fetchall()}


def _minute(ts: dt.datetime) -> dt.datetime:
    return ts.replace(second=0, microsecond=0)


def _store_portable(rows: list[Row]) -> set[tuple[uuid.UUID, str, dt.datetime]]:
    """SQLite and other databases: find what exists, bulk-insert the rest, merge them into the rollups."""
    first, last = min(row[2] for row in rows), max(row[2] for row in rows)
    existing = set(
        Sample.objects.filter(
            device_id__in={row[0] for row in rows}, metric__in={row[1] for row in rows}, ts__gte=first, ts__lte=last
        ).values_list("device_id", "metric", "ts")
    )
    new_rows = [row for row in rows if (row[0], row[1], row[2]) not in existing]
    Sample.objects.bulk_create(
        [Sample(device_id=d, metric=m, ts=ts, value=v) for d, m, ts, v in new_rows], batch_size=500
    )
    rollups_merge(new_rows)
    return existing


def rollups_merge(new_rows: list[Row]) -> None:
    """Merges newly stored samples into their minutes' rollups (the portable path)."""
    groups: dict[tuple[uuid.UUID, str, dt.datetime], list[float]] = {}
    for device_id, metric, ts, value in new_rows:
        groups.setdefault((device_id, metric, _minute(ts)), []).append(value)
    if not groups:
        return
    minutes = [key[2] for key in groups]
    current = {
        (r.device_id, r.metric, r.minute): r
        for r in SampleRollup.objects.filter(
            device_id__in={key[0] for key in groups},
            metric__in={key[1] for key in groups},
            minute__gte=min(minutes),
            minute__lte=max(minutes),
        )
    }
    rollups = []
    for (device_id, metric, minute), values in groups.items():
        count, avg = len(values), sum(values) / len(values)
        low, high = min(values), max(values)
        old = current.get((device_id, metric, minute))
        if old is not None:
            avg = (old.avg * old.count + avg * count) / (old.count + count)
            low, high, count = min(old.min, low), max(old.max, high), old.count + count
        rollups.append(
            SampleRollup(device_id=device_id, metric=metric, minute=minute, avg=avg, min=low, max=high, count=count)
        )
    SampleRollup.objects.bulk_create(
        rollups,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["device", "metric", "minute"],
        update_fields=["avg", "min", "max", "count"],
    )


def samples_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Deletes raw samples (on time and late) older than COMPUTE_RAW_RETENTION_DAYS; the per-minute rollups stay."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.COMPUTE_RAW_RETENTION_DAYS)
    deleted, _ = Sample.objects.filter(ts__lt=cutoff).delete()
    late, _ = LateSample.objects.filter(ts__lt=cutoff).delete()
    return deleted + late
