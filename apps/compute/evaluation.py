"""Evaluating a compute criterion: its sealed window, each device's points, and the report's frame.

A window is evaluated only once it is sealed: its end plus the lateness allowance of its devices (their source's
`lateness_seconds`, or COMPUTE_LATENESS_SECONDS of their kind) plus COMPUTE_SEAL_MARGIN_SECONDS. A sample that
arrives after its own ts plus that allowance is late: ingest keeps it apart (LateSample), so what a sealed window's
report read can never change. The arithmetic of a report lives in compute_hooks.evidence (standard library), shared
with the standalone verifier.
"""

import dataclasses
import datetime as dt
import math
import uuid
from decimal import Decimal

from django.conf import settings

from apps.compute.models import COLLECTED_KINDS, ComputeSource, Device, LateSample, Sample, SampleRollup, SourceKind
from apps.compute.services.collectors import collection_failure_text, collector_for_run
from apps.core.errors import ApplicationError, Conflict, ValidationFailed
from compute_hooks import CollectorError, query_mapping_range, query_mapping_step_rollups, resolve_mappings
from compute_hooks.evidence import merkle_root as _merkle_root
from compute_hooks.evidence import micro_text, sample_leaf, ts_text, value_text
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


def rollup_points(
    *, device_ids: list, metric: str, window: Window, late_until: dt.datetime | None = None
) -> dict[uuid.UUID, list[list]]:
    """Per device, its points in the window: [unix minute, avg, min, max, count] of each minute with samples.

    A superseding report also merges the late samples received up to `late_until` (in ts order, as ingest would
    have merged them).
    """
    minutes: dict[uuid.UUID, dict[dt.datetime, list]] = {}
    rows = SampleRollup.objects.filter(
        device_id__in=device_ids, metric=metric, minute__gte=window.start, minute__lt=window.end
    ).order_by("device_id", "minute")
    for device_id, minute, avg, low, high, count in rows.values_list(
        "device_id", "minute", "avg", "min", "max", "count"
    ):
        minutes.setdefault(device_id, {})[minute] = [avg, low, high, count]
    late = _late_rows(device_ids=device_ids, metric=metric, window=window, late_until=late_until)
    merged_late = False
    for device_id, ts, value in late.values_list("device_id", "ts", "value"):
        merged_late = True
        current = minutes.setdefault(device_id, {}).get(_floor_minute(ts))
        if current is None:
            minutes[device_id][_floor_minute(ts)] = [value, value, value, 1]
        else:
            avg, low, high, count = current
            current[:] = [(avg * count + value) / (count + 1), min(low, value), max(high, value), count + 1]
    return {
        device_id: [
            [int(minute.timestamp()), micro_text(avg), micro_text(low), micro_text(high), count]
            # Rollups come in minute order; only merged late minutes need sorting.
            for minute, (avg, low, high, count) in (sorted(by_minute.items()) if merged_late else by_minute.items())
        ]
        for device_id, by_minute in minutes.items()
    }


def raw_merkle(
    *, device_ids: list, metric: str, window: Window, late_until: dt.datetime | None = None
) -> dict[str, dict]:
    """Per device, the Merkle root over its raw samples in the window (compute_hooks.evidence) and their number."""
    pairs: dict[str, list[tuple[str, str]]] = {str(device_id): [] for device_id in device_ids}
    rows = Sample.objects.filter(device_id__in=device_ids, metric=metric, ts__gte=window.start, ts__lt=window.end)
    late = _late_rows(device_ids=device_ids, metric=metric, window=window, late_until=late_until)
    for queryset in (rows, late):
        for device_id, ts, value in queryset.values_list("device_id", "ts", "value").iterator(chunk_size=5000):
            pairs[str(device_id)].append((ts_text(ts), value_text(value)))
    return {
        device_id: {"leaves": len(items), "merkle_root": _merkle_root([sample_leaf(*p) for p in sorted(items)])}
        for device_id, items in pairs.items()
    }


def raw_samples_for_export(*, device_ids: list, metric: str, window: Window, late_until: dt.datetime | None = None):
    """(device id, ts text, value text) of the raw samples a report's Merkle roots cover, by device and time."""
    rows = Sample.objects.filter(device_id__in=device_ids, metric=metric, ts__gte=window.start, ts__lt=window.end)
    late = _late_rows(device_ids=device_ids, metric=metric, window=window, late_until=late_until)
    items = [
        (device_id, ts_text(ts), value_text(value))
        for queryset in (rows, late)
        for device_id, ts, value in queryset.values_list("device_id", "ts", "value").iterator(chunk_size=5000)
    ]
    return sorted(items, key=lambda item: (str(item[0]), item[1]))


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
