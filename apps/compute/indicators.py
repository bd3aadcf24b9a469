"""Compute values for key risk indicators (apps.risks registers `compute_indicator_value` as the "compute" source).

The value is taken over the per-minute rollups of the organization's devices (those matching `device_selector`
and `device_kind`) in [now - window, now): avg, min, max and p95 of the per-minute averages across all those
devices, "last" the fleet average of the latest minute with data, "sum" the sum of the raw values.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import Avg, F, Max, Min, Sum
from django.utils import timezone

from apps.compute.evaluation import VALUE_PLACES, devices_selected, nearest_rank_p95
from apps.compute.models import SampleRollup
from apps.core.errors import ValidationFailed
from compute_hooks import METRICS

AGGREGATIONS = ("avg", "min", "max", "p95", "last", "sum")
# Indicators may name metrics with underscores ("gpu_utilization" for "gpu.utilization").
_ALIASES = {name.replace(".", "_"): name for name in METRICS}


def metric_name(metric: str) -> str:
    name = metric if metric in METRICS else _ALIASES.get(metric)
    if name is None:
        raise ValidationFailed.for_field("metric", f"Unknown compute metric '{metric}'. Known: {', '.join(METRICS)}.")
    return name


def compute_indicator_value(
    *,
    organization,
    metric: str,
    aggregation: str,
    window: dt.timedelta,
    now: dt.datetime | None = None,
    device_selector: dict | None = None,
    device_kind: str | None = None,
) -> Decimal | None:
    """The aggregated value, or None when no device has data in the window."""
    if aggregation not in AGGREGATIONS:
        raise ValidationFailed.for_field("aggregation", f"Choose one of: {', '.join(AGGREGATIONS)}.")
    now = now or timezone.now()
    devices = devices_selected(
        organization=organization,
        selector={str(k): str(v) for k, v in (device_selector or {}).items()},
        kind=device_kind,
    )
    rows = SampleRollup.objects.filter(
        device_id__in=[d.pk for d in devices], metric=metric_name(metric), minute__gte=now - window, minute__lt=now
    )
    if aggregation == "p95":
        values = list(rows.values_list("avg", flat=True))
        value = nearest_rank_p95(values) if values else None
    elif aggregation == "last":
        latest = rows.order_by("-minute").values_list("minute", flat=True).first()
        value = None if latest is None else rows.filter(minute=latest).aggregate(v=Avg("avg"))["v"]
    elif aggregation == "sum":
        value = rows.aggregate(v=Sum(F("avg") * F("count")))["v"]
    else:
        function = {"avg": Avg, "min": Min, "max": Max}[aggregation]
        value = rows.aggregate(v=function("avg"))["v"]
    return None if value is None else Decimal(repr(float(value))).quantize(VALUE_PLACES)


def risk_indicator_value(*, organization, metric: str, aggregation: str, window: dt.timedelta, now: dt.datetime):
    """The provider apps.risks calls for "compute" indicators (its contract: IndicatorUnavailable when it cannot
    answer)."""
    from apps.risks.indicators import IndicatorUnavailable

    try:
        return compute_indicator_value(
            organization=organization, metric=metric, aggregation=aggregation, window=window, now=now
        )
    except ValidationFailed as exc:
        raise IndicatorUnavailable(exc.message) from None
