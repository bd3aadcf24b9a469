"""Evaluating a compute criterion: its sealed window, each device's points, and the report's frame.

A window is evaluated only once it is sealed: its end plus the lateness allowance of its devices that have reported
the criterion's metric (their source's `lateness_seconds`, or COMPUTE_LATENESS_SECONDS of their kind) plus
COMPUTE_SEAL_MARGIN_SECONDS. A sample that arrives after its own ts plus that allowance, or into a window a report
has already read, is late: ingest keeps it apart (LateSample), so what a sealed window's report read can never
change. The arithmetic of a report lives in compute_hooks.evidence (standard library), shared
with the standalone verifier.
"""

import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from apps.compute.models import COLLECTED_KINDS, ComputeSource, Device, LateSample, Sample, SampleRollup, SourceKind
from apps.compute.services.collectors import collection_failure_text, collector_for_run
from apps.core.errors import ApplicationError, Conflict, ValidationFailed
from compute_hooks import CollectorError, query_mapping_range, query_mapping_step_rollups, resolve_mappings
from compute_hooks.evidence import MerkleTree, micro_text, sample_leaf, ts_text, value_text
from compute_hooks.prometheus import VICTORIAMETRICS, format_selector

VALUE_PLACES = Decimal("0.000001")  # the risk indicators' rounding (apps.compute.indicators)


class EvaluationUnavailable(ApplicationError):
    """The evidence cannot be read now (the Prometheus source is unreachable or misconfigured)."""

    status_code = 503


class WindowNotSealed(Conflict):
    """The window has not ended plus its lateness allowance: samples may still arrive for it."""


@dataclasses.dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    step_seconds: int = 60

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def expected_steps(self) -> int:
        return self.seconds // self.step_seconds

    def as_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "seconds": self.seconds,
            "step_seconds": self.step_seconds,
            "expected_steps": self.expected_steps,
        }


def nearest_rank_p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def _floor_minute(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(second=0, microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# --- cadence and lateness ---------------------------------------------------------------------------------------


def source_cadence_seconds(source: ComputeSource | None) -> int:
    """Seconds between two samples of one device and metric: the source's cadence, else its schedule (collected
    kinds), else COMPUTE_DEFAULT_CADENCE_SECONDS."""
    if source is not None and source.cadence_seconds:
        return source.cadence_seconds
    if source is not None and source.kind in COLLECTED_KINDS:
        return source.schedule_seconds
    return settings.COMPUTE_DEFAULT_CADENCE_SECONDS


def device_cadence_seconds(device: Device) -> int:
    return source_cadence_seconds(device.source)


def device_lateness_seconds(device: Device) -> int:
    """How long after its ts a sample of the device is on time: its source's allowance, else its kind's."""
    source = device.source
    if source is not None and source.lateness_seconds is not None:
        return source.lateness_seconds
    return settings.COMPUTE_LATENESS_SECONDS.get(device.kind, settings.COMPUTE_LATENESS_SECONDS["gpu"])


def devices_lateness_seconds(*, devices: list[Device], metric: str, kind: str | None) -> int:
    """What a window of these devices waits for: the largest allowance of those that have ever reported `metric` (a
    rollup of it, kept for good, or a late sample). One that never did holds no window open (an edge board with its
    6 h allowance does not delay a GPU criterion); should it report the metric later into a window a report has
    already read, ingest keeps those samples apart as late. Without any: the allowance of `kind` (GPU when none)."""
    reported = set(
        Device.objects.filter(pk__in=[d.pk for d in devices])
        .filter(
            Exists(SampleRollup.objects.filter(device_id=OuterRef("pk"), metric=metric))
            | Exists(LateSample.objects.filter(device_id=OuterRef("pk"), metric=metric))
        )
        .values_list("pk", flat=True)
    )
    allowances = [device_lateness_seconds(d) for d in devices if d.pk in reported]
    return max(allowances or [settings.COMPUTE_LATENESS_SECONDS[kind or "gpu"]])


def source_lateness_seconds(source: ComputeSource) -> int:
    if source.lateness_seconds is not None:
        return source.lateness_seconds
    return settings.COMPUTE_LATENESS_SECONDS.get(source.device_kind, settings.COMPUTE_LATENESS_SECONDS["gpu"])


def window_for(config: dict, *, now: dt.datetime, lateness_seconds: int) -> Window:
    """The criterion's window, sealed at `now`: a fixed start/end (refused before it is sealed), or window_days
    ending at the last whole minute that is sealed."""
    step = config.get("step_seconds", 60) if config.get("promql") else 60
    delay = dt.timedelta(seconds=lateness_seconds + settings.COMPUTE_SEAL_MARGIN_SECONDS)
    if config.get("window_days") is not None:
        end = _floor_minute(now - delay)
        return Window(end - dt.timedelta(minutes=round(config["window_days"] * 1440)), end, step)
    start = dt.datetime.fromisoformat(config["start"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(config["end"].replace("Z", "+00:00"))
    sealed_at = end + delay
    if now < sealed_at:
        raise WindowNotSealed(
            f"The window ends at {_iso(end)} and samples may arrive for it until {_iso(end + delay)} "
            f"({lateness_seconds} s lateness allowance plus {settings.COMPUTE_SEAL_MARGIN_SECONDS} s): it can be "
            f"evaluated from {_iso(sealed_at)}.",
            {"evaluable_at": _iso(sealed_at), "window_end": _iso(end), "lateness_seconds": lateness_seconds},
        )
    return Window(start, end, step)


# --- devices, rollups and raw samples ---------------------------------------------------------------------------


def devices_selected(*, organization, selector: dict, kind: str | None) -> list[Device]:
    """The organization's devices carrying every label of `selector` (and of `kind`, if given), by key."""
    devices = Device.objects.filter(organization=organization).select_related("source")
    if kind:
        devices = devices.filter(kind=kind)
    return [d for d in devices.order_by("key") if all(str(d.labels.get(k)) == v for k, v in selector.items())]


# On PostgreSQL the evidence is read as the report writes it: a minute as unix seconds, a raw sample's ts already in
# the leaf's text (to_char gives exactly ts_text), a rollup's avg, min and max in whole millionths as micro_text
# writes them (the double product rounded half to even by rint, then exact numeric), so no datetime or Decimal is
# built per row. Beyond 10^12 the millionths leave bigint: those (and merged late minutes) are written in Python.
# Other databases (SQLite, the embedded default) read the same rows through the ORM.
ROLLUP_ROWS_SQL = """
SELECT extract(epoch FROM minute)::bigint, avg, min, max, count,
    CASE WHEN abs(avg) < 1e12 THEN trim_scale(round(avg * 1000000)::bigint * 0.000001)::text END,
    CASE WHEN abs(min) < 1e12 THEN trim_scale(round(min * 1000000)::bigint * 0.000001)::text END,
    CASE WHEN abs(max) < 1e12 THEN trim_scale(round(max * 1000000)::bigint * 0.000001)::text END
FROM compute_samplerollup
WHERE device_id = %(device)s AND metric = %(metric)s AND minute >= %(start)s AND minute < %(end)s
ORDER BY minute
"""
RAW_ROWS_SQL = """
SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), value FROM (
    SELECT ts, value FROM compute_sample
    WHERE device_id = %(device)s AND metric = %(metric)s AND ts >= %(start)s AND ts < %(end)s
    UNION ALL
    SELECT ts, value FROM compute_latesample
    WHERE device_id = %(device)s AND metric = %(metric)s AND ts >= %(start)s AND ts < %(end)s
        AND received_at <= %(late_until)s
) AS raw
ORDER BY ts
"""
RAW_CHUNK = 10_000


def _late_rows(*, device_ids: list, metric: str, window: Window, late_until: dt.datetime | None):
    if late_until is None:
        return LateSample.objects.none()
    return LateSample.objects.filter(
        device_id__in=device_ids,
        metric=metric,
        ts__gte=window.start,
        ts__lt=window.end,
        received_at__lte=late_until,
    ).order_by("device_id", "ts")


def _rollup_rows(*, device_id, metric: str, window: Window) -> list[tuple]:
    """A device's rollups in the window, in minute order: (unix seconds of the minute, avg, min, max, count, and
    the texts of avg, min and max where the database wrote them, else None)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(ROLLUP_ROWS_SQL, {"device": device_id, "metric": metric, **_bounds(window)})
            return cursor.fetchall()
    rows = SampleRollup.objects.filter(
        device_id=device_id, metric=metric, minute__gte=window.start, minute__lt=window.end
    ).order_by("minute")
    return [
        (int(minute.timestamp()), *rest, None, None, None)
        for minute, *rest in rows.values_list("minute", "avg", "min", "max", "count")
    ]


def _raw_rows(*, device_id, metric: str, window: Window, late_until: dt.datetime | None) -> Iterator[tuple[str, float]]:
    """A device's raw samples in the window, with the late ones received by `late_until`, in time order: (ts as
    the leaf writes it, value). Streamed in chunks (a server-side cursor on PostgreSQL)."""
    if connection.vendor == "postgresql":
        params = {"device": device_id, "metric": metric, "late_until": late_until, **_bounds(window)}
        with transaction.atomic(), connection.chunked_cursor() as cursor:
            cursor.execute(RAW_ROWS_SQL, params)
            while rows := cursor.fetchmany(RAW_CHUNK):
                yield from rows
        return
    on_time = Sample.objects.filter(device_id=device_id, metric=metric, ts__gte=window.start, ts__lt=window.end)
    late = _late_rows(device_ids=[device_id], metric=metric, window=window, late_until=late_until)
    yield from sorted((ts_text(ts), value) for rows in (on_time, late) for ts, value in rows.values_list("ts", "value"))


def _bounds(window: Window) -> dict:
    return {"start": window.start, "end": window.end}


def rollup_points(
    *, device_ids: list, metric: str, window: Window, late_until: dt.datetime | None = None
) -> dict[uuid.UUID, list[list]]:
    """Per device with samples in the window, its points: [unix minute, avg, min, max, count] of each minute with
    samples, in minute order.

    A superseding report also merges the late samples received up to `late_until` (in ts order, as ingest would
    have merged them).
    """
    late: dict = {}
    for device_id, ts, value in _late_rows(
        device_ids=device_ids, metric=metric, window=window, late_until=late_until
    ).values_list("device_id", "ts", "value"):
        late.setdefault(str(device_id), []).append((int(ts.timestamp()) // 60 * 60, value))
    points = {}
    for device_id in device_ids:
        rows = _rollup_rows(device_id=device_id, metric=metric, window=window)
        if str(device_id) in late:
            rows = _late_merged(rows, late[str(device_id)])
        if rows:
            points[device_id] = [
                [minute, avg_text or micro_text(avg), low_text or micro_text(low), high_text or micro_text(high), n]
                for minute, avg, low, high, n, avg_text, low_text, high_text in rows
            ]
    return points


def _late_merged(rows: list[tuple], late: list[tuple[int, float]]) -> list[tuple]:
    """Rollup rows with late samples ((unix minute, value), in ts order) merged in as ingest merges a sample."""
    minutes = {row[0]: list(row[1:5]) for row in rows}
    for minute, value in late:
        current = minutes.get(minute)
        if current is None:
            minutes[minute] = [value, value, value, 1]
        else:
            avg, low, high, count = current
            current[:] = [(avg * count + value) / (count + 1), min(low, value), max(high, value), count + 1]
    return [(minute, *values, None, None, None) for minute, values in sorted(minutes.items())]


def raw_merkle(
    *, device_ids: list, metric: str, window: Window, late_until: dt.datetime | None = None
) -> dict[str, dict]:
    """Per device, the Merkle root over its raw samples in the window (compute_hooks.evidence) and their number."""
    roots = {}
    for device_id in device_ids:
        tree = MerkleTree()
        for ts, value in _raw_rows(device_id=device_id, metric=metric, window=window, late_until=late_until):
            tree.add(sample_leaf(ts, value_text(value)))
        roots[str(device_id)] = {"leaves": tree.count, "merkle_root": tree.root()}
    return roots


def raw_samples_for_export(
    *, device_ids: list, metric: str, window: Window, late_until: dt.datetime | None = None
) -> Iterator[tuple]:
    """(device id, ts text, value text) of the raw samples a report's Merkle roots cover, by device and time."""
    for device_id in sorted(device_ids, key=str):
        for ts, value in _raw_rows(device_id=device_id, metric=metric, window=window, late_until=late_until):
            yield device_id, ts, value_text(value)


def rollup_query_text(*, metric: str, window: Window, device_count: int) -> str:
    return (
        f"per-minute rollups (compute_samplerollup: avg, min, max, count) of metric {metric!r} for "
        f"{device_count} device(s), minute >= {_iso(window.start)} and minute < {_iso(window.end)}; "
        f"raw samples (compute_sample) of the same range for the Merkle roots"
    )


# --- PromQL ----------------------------------------------------------------------------------------------------


def promql_series(*, source: ComputeSource, config: dict, window: Window) -> tuple[str, list[dict]]:
    """Runs the metric's mapping of the Prometheus source over the window; returns the query and, per device, its
    labels, `expected_samples` and points ([unix seconds, avg, min, max, count]).

    Prometheus: each step is the series' value at it (start to end - step), a point of count 1, and a device
    expects one per step. VictoriaMetrics: each step end t (start + step to end) carries the avg, min, max and
    count of the raw samples in (t - step, t], and a device expects the window's seconds over the source's
    cadence, as over the rollups: a long step still reads every sample of the window."""
    if source.kind != SourceKind.PROMETHEUS:
        raise ValidationFailed.for_field("config.source", "PromQL criteria need a Prometheus source.")
    source_config = dict(source.config)
    try:
        collector = collector_for_run(SourceKind.PROMETHEUS, source_config)
        mappings = resolve_mappings(
            source_config.get("mappings", "dcgm"),
            rate_window=source_config.get("rate_window", "5m"),
            device_label=source_config.get("device_label"),
        )
    except CollectorError as exc:
        raise EvaluationUnavailable(f"The Prometheus source is misconfigured: {exc}") from None
    mapping = next((m for m in mappings if m.metric == config["metric"]), None)
    if mapping is None:
        raise ValidationFailed.for_field(
            "config.metric", f"The source's mappings do not read {config['metric']} from Prometheus."
        )
    parts = [format_selector(source_config.get("selector")), format_selector(config.get("device_selector") or None)]
    selector = ",".join(part for part in parts if part) or None
    try:
        if collector.client.flavour == VICTORIAMETRICS:
            return _victoria_devices(collector.client, mapping, window, source_cadence_seconds(source), selector)
        return _prometheus_devices(collector.client, mapping, window, selector)
    except CollectorError as exc:
        reason = collection_failure_text(exc).removeprefix("Prometheus: ")
        raise EvaluationUnavailable(f"Prometheus could not answer: {reason}.") from None


def _prometheus_devices(client, mapping, window: Window, selector: str | None) -> tuple[str, list[dict]]:
    last = window.end - dt.timedelta(seconds=window.step_seconds)
    mapped = query_mapping_range(client, mapping, window.start, last, window.step_seconds, selector)
    by_device: dict[str, dict] = {}
    for series in mapped:
        entry = by_device.setdefault(series.device_key, {"labels": {}, "points": {}})
        entry["labels"].update({str(k): str(v) for k, v in series.labels.items()})
        for moment, value in series.points:
            ts = round(moment.timestamp())
            entry["points"][ts] = max(entry["points"].get(ts, value), value)
    devices = []
    for key, entry in sorted(by_device.items()):
        points = [[ts, micro_text(v), micro_text(v), micro_text(v), 1] for ts, v in sorted(entry["points"].items())]
        devices.append(
            {"key": key, "labels": entry["labels"], "expected_samples": window.expected_steps, "points": points}
        )
    return mapping.render(selector), devices


def _victoria_devices(client, mapping, window: Window, cadence: int, selector: str | None) -> tuple[str, list[dict]]:
    query, stepped = query_mapping_step_rollups(
        client, mapping, window.start, window.end, window.step_seconds, cadence, selector
    )
    devices = [
        {
            "key": series.device_key,
            "labels": {str(k): str(v) for k, v in series.labels.items()},
            "cadence_seconds": cadence,
            "expected_samples": window.seconds // cadence,
            "points": [
                [ts, micro_text(avg), micro_text(low), micro_text(high), count]
                for ts, (avg, low, high, count) in sorted(series.steps.items())
            ],
        }
        for series in stepped
    ]
    return query, devices
