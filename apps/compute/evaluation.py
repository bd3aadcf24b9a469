"""Evaluating a compute criterion: the window, each device's series, and the report document.

Each device contributes one series: its per-minute averages (rollups), or with PromQL the values Prometheus
returns at each step. `aggregation` applies to that series (avg, min, max, p95; p95 is the nearest-rank
percentile, an actual value of the series). Coverage is the share of the window's minutes (or steps) with a value.
All numbers in a report are decimals written as strings, so the canonical JSON, and its hash, come out the same
whenever the report is rebuilt from the same stored data.
"""

import dataclasses
import datetime as dt
import math
from decimal import ROUND_DOWN, Decimal, localcontext

from django.db import connection

from apps.compute.criteria import COMPARISONS
from apps.compute.models import ComputeSource, Device, SampleRollup, SourceKind
from apps.compute.services.collectors import collection_failure_text, collector_for_run
from apps.core.errors import ApplicationError, ValidationFailed
from compute_hooks import CollectorError, query_mapping_range, resolve_mappings
from compute_hooks.prometheus import format_selector

REPORT_VERSION = 1
VALUE_PLACES = Decimal("0.000001")
COVERAGE_PLACES = Decimal("0.0001")


class EvaluationUnavailable(ApplicationError):
    """The evidence cannot be read now (the Prometheus source is unreachable or misconfigured)."""

    status_code = 503


@dataclasses.dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    step_seconds: int = 60

    @property
    def expected_points(self) -> int:
        return int((self.end - self.start).total_seconds()) // self.step_seconds

    def as_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "step_seconds": self.step_seconds,
            "expected_points": self.expected_points,
        }


@dataclasses.dataclass
class SeriesStats:
    points: int = 0
    total: Decimal = Decimal(0)
    low: float | None = None
    high: float | None = None
    p95: float | None = None


def _floor_minute(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(second=0, microsecond=0)


def window_for(config: dict, now: dt.datetime) -> Window:
    """The criterion's window: fixed start/end, or window_days ending at the (whole) minute of evaluation."""
    step = config.get("step_seconds", 60) if config.get("promql") else 60
    if config.get("window_days") is not None:
        end = _floor_minute(now)
        return Window(_floor_minute(end - dt.timedelta(days=config["window_days"])), end, step)
    start = dt.datetime.fromisoformat(config["start"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(config["end"].replace("Z", "+00:00"))
    return Window(start, end, step)


def nearest_rank_p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def stats_from_values(values: list[float]) -> SeriesStats:
    if not values:
        return SeriesStats()
    # As in SQL: each value in whole millionths (round half to even), summed exactly.
    total = Decimal(sum(round(float(v) * 1_000_000) for v in values)) / MICRO
    return SeriesStats(len(values), total, min(values), max(values), nearest_rank_p95(values))


# Values are summed as integers of millionths: exact, so the same rows give the same digits whatever the plan
# (and much faster than a numeric sum).
ROLLUP_STATS_SQL = (
    "SELECT device_id, count(*), sum(round(avg * 1000000)::bigint), min(avg), max(avg), NULL::float8 "
    "FROM compute_samplerollup "
    "WHERE device_id = ANY(%s) AND metric = %s AND minute >= %s AND minute < %s GROUP BY device_id"
)
ROLLUP_STATS_P95_SQL = (
    "SELECT device_id, count(*), sum(round(avg * 1000000)::bigint), min(avg), max(avg), "
    "percentile_disc(0.95) WITHIN GROUP (ORDER BY avg) FROM compute_samplerollup "
    "WHERE device_id = ANY(%s) AND metric = %s AND minute >= %s AND minute < %s GROUP BY device_id"
)
MICRO = Decimal(1_000_000)


# --- devices and rollups ------------------------------------------------------------------------------------


def devices_selected(*, organization, selector: dict, kind: str | None) -> list[Device]:
    """The organization's devices carrying every label of `selector` (and of `kind`, if given), by key."""
    devices = Device.objects.filter(organization=organization)
    if kind:
        devices = devices.filter(kind=kind)
    return [d for d in devices.order_by("key") if all(str(d.labels.get(k)) == v for k, v in selector.items())]


def rollup_stats(*, device_ids: list, metric: str, window: Window, with_p95: bool) -> dict:
    """Per device: how many minutes have a rollup in the window, and the sum, min, max (and p95) of their averages."""
    if not device_ids:
        return {}
    if connection.vendor == "postgresql":
        sql = ROLLUP_STATS_P95_SQL if with_p95 else ROLLUP_STATS_SQL
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(device_ids), metric, window.start, window.end])
            rows = cursor.fetchall()
        return {row[0]: SeriesStats(row[1], Decimal(row[2]) / MICRO, row[3], row[4], row[5]) for row in rows}
    values: dict = {}
    rows = SampleRollup.objects.filter(
        device_id__in=device_ids, metric=metric, minute__gte=window.start, minute__lt=window.end
    ).order_by("device_id", "minute")
    for device_id, avg in rows.values_list("device_id", "avg"):
        values.setdefault(device_id, []).append(avg)
    return {device_id: stats_from_values(series) for device_id, series in values.items()}


def rollup_fleet_p95(*, device_ids: list, metric: str, window: Window) -> float | None:
    rows = SampleRollup.objects.filter(
        device_id__in=device_ids, metric=metric, minute__gte=window.start, minute__lt=window.end
    )
    if connection.vendor == "postgresql":
        sql = (
            "SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY avg) FROM compute_samplerollup "
            "WHERE device_id = ANY(%s) AND metric = %s AND minute >= %s AND minute < %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(device_ids), metric, window.start, window.end])
            return cursor.fetchone()[0]
    values = list(rows.values_list("avg", flat=True))
    return nearest_rank_p95(values) if values else None


def rollup_query_text(*, metric: str, window: Window, device_count: int) -> str:
    return (
        f"per-minute rollups (compute_samplerollup.avg) of metric {metric!r} for {device_count} device(s), "
        f"minute >= {window.start.isoformat()} and minute < {window.end.isoformat()}"
    )


# --- PromQL ----------------------------------------------------------------------------------------------------


def promql_series(*, source: ComputeSource, config: dict, window: Window) -> tuple[str, list[dict]]:
    """Runs the metric's mapping of the Prometheus source over the window; returns the query and its series.

    The series are stored in the report as [{"device", "labels", "points": [[unix seconds, value], ...]}].
    """
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
    selector = ",".join(part for part in parts if part)
    step = window.step_seconds
    last = window.end - dt.timedelta(seconds=step)
    try:
        mapped = query_mapping_range(collector.client, mapping, window.start, last, step, selector or None)
    except CollectorError as exc:
        reason = collection_failure_text(exc).removeprefix("Prometheus: ")
        raise EvaluationUnavailable(f"Prometheus could not answer: {reason}.") from None
    by_device: dict[str, dict] = {}
    for series in mapped:
        entry = by_device.setdefault(series.device_key, {"device": series.device_key, "labels": {}, "points": {}})
        entry["labels"].update(series.labels)
        for moment, value in series.points:
            ts = round(moment.timestamp())
            entry["points"][ts] = max(entry["points"].get(ts, value), value)
    series_list = [
        {"device": key, "labels": entry["labels"], "points": [[ts, v] for ts, v in sorted(entry["points"].items())]}
        for key, entry in sorted(by_device.items())
    ]
    return mapping.render(selector or None), series_list


# --- the report document ----------------------------------------------------------------------------------------


def _dec(value) -> Decimal | None:
    if value is None:
        return None
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return number.quantize(VALUE_PLACES)


def _value_of(stats: SeriesStats, aggregation: str) -> Decimal | None:
    if not stats.points:
        return None
    if aggregation == "avg":
        with localcontext(prec=60):
            return (stats.total / stats.points).quantize(VALUE_PLACES)
    return _dec({"min": stats.low, "max": stats.high, "p95": stats.p95}[aggregation])


def document_build(*, frame: dict, stats: dict[str, SeriesStats], fleet_p95=None) -> dict:
    """The full report from its frame (ids, inputs, window, devices or series) and each device's series stats.

    `stats` is keyed like frame["devices"] entries' "key". Fleet p95 needs the pooled series (`fleet_p95`).
    """
    config = frame["inputs"]
    window = frame["window"]
    expected = window["expected_points"]
    threshold = Decimal(config["threshold"])
    min_coverage = Decimal(config["min_coverage"])
    compare = COMPARISONS[config["comparison"]]
    aggregation = config["aggregation"]
    devices, counted = [], []
    for entry in frame["devices"]:
        device_stats = stats.get(entry["key"], SeriesStats())
        value = _value_of(device_stats, aggregation)
        covered = expected > 0 and Decimal(device_stats.points) >= min_coverage * expected
        passes = value is not None and compare(value, threshold)
        with localcontext(prec=60):
            coverage = (Decimal(device_stats.points) / expected if expected else Decimal(0)).quantize(
                COVERAGE_PLACES, rounding=ROUND_DOWN
            )
        devices.append(
            {**entry, "points": device_stats.points, "coverage": coverage, "value": value, "covered": covered,
             "passes": passes}
        )  # fmt: skip
        if covered and (config["mode"] == "fleet" or passes):
            counted.append((entry["key"], device_stats))
    fleet_value = None
    if config["mode"] == "fleet" and counted:
        pooled = SeriesStats(
            points=sum(s.points for _, s in counted),
            total=sum((s.total for _, s in counted), Decimal(0)),
            low=min(s.low for _, s in counted),
            high=max(s.high for _, s in counted),
            p95=fleet_p95,
        )
        fleet_value = _value_of(pooled, aggregation)
    if config["mode"] == "fleet":
        passed = len(counted) >= config["min_devices"] and fleet_value is not None and compare(fleet_value, threshold)
    else:
        passed = len(counted) >= config["min_devices"]
    return {
        **frame,
        "devices": devices,
        "result": {
            "mode": config["mode"],
            "aggregation": aggregation,
            "comparison": config["comparison"],
            "threshold": threshold,
            "fleet_value": fleet_value,
            "devices_counted": len(counted),
            "min_devices": config["min_devices"],
            "passed": passed,
        },
    }


def counted_keys(document: dict) -> list[str]:
    config = document["inputs"]
    return [d["key"] for d in document["devices"] if d["covered"] and (config["mode"] == "fleet" or d["passes"])]


def stats_from_frame(frame: dict) -> tuple[dict[str, SeriesStats], bool]:
    """Series stats recomputed from the stored data the frame names: rollups, or the report's own PromQL series.

    Returns the stats by device key, and whether a fleet p95 must be pooled afterwards.
    """
    config, window_data = frame["inputs"], frame["window"]
    window = Window(_parse(window_data["start"]), _parse(window_data["end"]), window_data["step_seconds"])
    if frame["source"] == "promql":
        return {s["device"]: stats_from_values([v for _, v in s["points"]]) for s in frame["series"]}, False
    ids = {d["key"]: d["id"] for d in frame["devices"]}
    by_id = rollup_stats(
        device_ids=list(ids.values()), metric=config["metric"], window=window, with_p95=config["aggregation"] == "p95"
    )
    return {key: by_id[_uuid(pk)] for key, pk in ids.items() if _uuid(pk) in by_id}, True


def fleet_p95_for(frame: dict, stats_document: dict) -> float | None:
    """The pooled p95 over the counted devices (fleet mode), from the same stored data."""
    config, window_data = frame["inputs"], frame["window"]
    keys = counted_keys(stats_document)
    if config["mode"] != "fleet" or config["aggregation"] != "p95" or not keys:
        return None
    if frame["source"] == "promql":
        return nearest_rank_p95([v for s in frame["series"] if s["device"] in keys for _, v in s["points"]])
    ids = {d["key"]: d["id"] for d in frame["devices"]}
    window = Window(_parse(window_data["start"]), _parse(window_data["end"]), window_data["step_seconds"])
    return rollup_fleet_p95(device_ids=[_uuid(ids[k]) for k in keys], metric=config["metric"], window=window)


def document_from_frame(frame: dict) -> dict:
    """Evaluates a frame against the stored data: what an evaluation writes, and what a rebuild recomputes."""
    stats, _ = stats_from_frame(frame)
    document = document_build(frame=frame, stats=stats)
    if frame["inputs"]["mode"] == "fleet" and frame["inputs"]["aggregation"] == "p95":
        document = document_build(frame=frame, stats=stats, fleet_p95=fleet_p95_for(frame, document))
    return document


def _parse(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _uuid(value):
    import uuid

    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
