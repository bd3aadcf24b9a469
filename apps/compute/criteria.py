"""The parameters of a compute criterion on a milestone (the funding service calls `criterion_config_clean`).

metric          a compute_hooks metric, e.g. "gpu.utilization"
aggregation     what is aggregated, named as such (default avg_of_minute_avg): avg_of_minute_avg, min_of_minute_avg,
                max_of_minute_avg, p95_of_minute_avg (over each device's per-minute averages; with PromQL its
                step values), min_of_samples, max_of_samples (the least / greatest sample itself)
comparison      gte | gt | lte | lt (default gte), against threshold
threshold       a number
window          window_days (a whole number of minutes, ending where the sealed data ends) or start and end
                (ISO 8601 with a time zone, on whole minutes: a window is exactly what was asked, or refused)
device_selector {label: value} the devices must carry (default: all), device_kind gpu | edge | npu
min_devices     how many devices must count (default 1)
min_coverage    the fraction of the samples expected at the device's cadence over the window (with PromQL: of
                the steps) each counted device must have (default 0.95)
mode            fleet (the aggregate across the counted devices passes) or per_device (each counted device
                passes on its own) (default fleet)
promql, source  evaluate with PromQL against that Prometheus source instead of the stored rollups;
                step_seconds is the range query's step (default 60); a source of flavour victoriametrics
                answers each step's avg, min, max and count of raw samples (apps.compute.evaluation)
"""

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation

from apps.compute.models import DeviceKind
from apps.core.errors import ValidationFailed
from compute_hooks import METRICS, parse_ts
from compute_hooks.evidence import AGGREGATIONS, COMPARISONS

# The earlier short names, still found in stored criteria, are written out as what they always meant.
AGGREGATION_NAMES_BEFORE = {
    "avg": "avg_of_minute_avg",
    "min": "min_of_minute_avg",
    "max": "max_of_minute_avg",
    "p95": "p95_of_minute_avg",
}
MODES = ("fleet", "per_device")
ALLOWED_KEYS = {
    "metric",
    "aggregation",
    "comparison",
    "threshold",
    "window_days",
    "start",
    "end",
    "device_selector",
    "device_kind",
    "min_devices",
    "min_coverage",
    "mode",
    "promql",
    "source",
    "step_seconds",
}
MAX_WINDOW_DAYS = 366


def _fail(key: str, message: str) -> ValidationFailed:
    return ValidationFailed.for_field(f"config.{key}", message)


def _decimal(value, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _fail(key, "Give a number.")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise _fail(key, f"'{value}' is not a number.") from None
    if not number.is_finite() or number.adjusted() >= 18:
        raise _fail(key, "Give a finite number of reasonable size.")
    return number


def _minute(value, key: str) -> dt.datetime:
    if not isinstance(value, str):
        raise _fail(key, "Give an ISO 8601 date and time with a time zone.")
    try:
        moment = parse_ts(value)
    except ValueError:
        raise _fail(key, "Give an ISO 8601 date and time with a time zone.") from None
    if moment.second or moment.microsecond:
        raise _fail(key, f"Give a whole minute (seconds 0): evidence is kept per minute, and {value} is not one.")
    return moment.astimezone(dt.UTC)


def _window(config: dict) -> dict:
    has_days = config.get("window_days") is not None
    has_range = config.get("start") is not None or config.get("end") is not None
    if has_days == has_range:
        raise _fail("window_days", "Give either window_days (ending at evaluation time) or start and end.")
    if has_days:
        days = config["window_days"]
        if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= MAX_WINDOW_DAYS:
            raise _fail("window_days", f"A number of days above 0 and at most {MAX_WINDOW_DAYS}.")
        if days * 1440 < 1:
            raise _fail("window_days", "The window must be at least one minute long.")
        if not float(days * 1440).is_integer():
            raise _fail("window_days", "The window must be a whole number of minutes (e.g. 0.5 for 12 hours).")
        return {"window_days": int(days) if float(days).is_integer() else float(days)}
    start, end = _minute(config.get("start"), "start"), _minute(config.get("end"), "end")
    if end <= start:
        raise _fail("end", "The window ends before it starts.")
    if end - start > dt.timedelta(days=MAX_WINDOW_DAYS):
        raise _fail("end", f"The window is at most {MAX_WINDOW_DAYS} days long.")
    return {"start": start.isoformat().replace("+00:00", "Z"), "end": end.isoformat().replace("+00:00", "Z")}


def _int(config: dict, key: str, default: int, low: int, high: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(key, f"A whole number from {low} to {high}.")
    return value


def criterion_config_clean(config) -> dict:
    """Checks a compute criterion's config and returns it complete, with every default written out."""
    if not isinstance(config, dict):
        raise ValidationFailed.for_field("config", "Give an object.")
    unknown = set(config) - ALLOWED_KEYS
    if unknown:
        raise ValidationFailed.for_field(
            "config", f"Unknown key(s): {', '.join(sorted(unknown))}. Allowed: {', '.join(sorted(ALLOWED_KEYS))}."
        )
    metric = config.get("metric")
    if metric not in METRICS:
        raise _fail("metric", f"Choose one of: {', '.join(sorted(METRICS))}.")
    aggregation = config.get("aggregation", "avg_of_minute_avg")
    aggregation = AGGREGATION_NAMES_BEFORE.get(aggregation, aggregation) if isinstance(aggregation, str) else None
    if aggregation not in AGGREGATIONS:
        raise _fail("aggregation", f"Choose one of: {', '.join(AGGREGATIONS)}.")
    comparison = config.get("comparison", "gte")
    if comparison not in COMPARISONS:
        raise _fail("comparison", f"Choose one of: {', '.join(COMPARISONS)}.")
    if config.get("threshold") is None:
        raise _fail("threshold", "Give the threshold to compare with.")
    threshold = _decimal(config["threshold"], "threshold")
    selector = config.get("device_selector") or {}
    if not isinstance(selector, dict) or any(not isinstance(v, str | int | float) for v in selector.values()):
        raise _fail("device_selector", 'An object of label names to values, e.g. {"cluster": "blackwell-a"}.')
    device_kind = config.get("device_kind")
    if device_kind is not None and device_kind not in DeviceKind.values:
        raise _fail("device_kind", f"Choose one of: {', '.join(DeviceKind.values)}.")
    coverage = _decimal(config.get("min_coverage", "0.95"), "min_coverage")
    if not Decimal(0) <= coverage <= Decimal(1):
        raise _fail("min_coverage", "A fraction from 0 to 1, e.g. 0.95.")
    mode = config.get("mode", "fleet")
    if mode not in MODES:
        raise _fail("mode", f"Choose one of: {', '.join(MODES)}.")
    promql = config.get("promql", False)
    if not isinstance(promql, bool):
        raise _fail("promql", "true or false.")
    cleaned = {
        "metric": metric,
        "aggregation": aggregation,
        "comparison": comparison,
        "threshold": str(threshold),
        **_window(config),
        "device_selector": {str(k): str(v) for k, v in sorted(selector.items())},
        "device_kind": device_kind,
        "min_devices": _int(config, "min_devices", 1, 1, 100_000),
        "min_coverage": str(coverage),
        "mode": mode,
        "promql": promql,
    }
    if promql:
        if aggregation.endswith("_of_samples"):
            raise _fail(
                "aggregation", "A PromQL criterion has Prometheus's step values, not samples: use *_of_minute_avg."
            )
        try:
            cleaned["source"] = str(uuid.UUID(str(config.get("source"))))
        except ValueError:
            raise _fail("source", "Give the id of a Prometheus compute source.") from None
        cleaned["step_seconds"] = _int(config, "step_seconds", 60, 1, 3600)
    elif config.get("source") is not None:
        raise _fail("source", 'A source is used only with "promql": true.')
    return cleaned
