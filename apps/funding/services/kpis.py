"""KPI readings from finance tools, and KPI criteria evaluated against them."""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.funding.models import KpiMetric, KpiReading
from apps.funding.permissions import can_report_kpi
from apps.funding.services.common import check, clean_date, clean_text

AGGREGATIONS = ("sum", "avg", "min", "max", "latest")
COMPARISONS = {
    "gte": lambda value, threshold: value >= threshold,
    "gt": lambda value, threshold: value > threshold,
    "lte": lambda value, threshold: value <= threshold,
    "lt": lambda value, threshold: value < threshold,
    "eq": lambda value, threshold: value == threshold,
}


def clean_decimal(value, *, field: str) -> Decimal:
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.for_field(field, f"'{value}' is not a number.") from None
    if not number.is_finite():
        raise ValidationFailed.for_field(field, "Must be a finite number.")
    if number.adjusted() >= 18:
        raise ValidationFailed.for_field(field, "The number is too large.")
    return number.quantize(Decimal("0.000001")) if number.as_tuple().exponent < -6 else number


def kpi_reading_create(
    *,
    organization,
    by,
    metric: str,
    value,
    period_start,
    period_end,
    source: str,
    unit: str = "",
    note: str = "",
) -> KpiReading:
    check(can_report_kpi, by, organization)
    if metric not in KpiMetric.values:
        raise ValidationFailed.for_field(
            "metric", f"Unknown metric '{metric}'. Choose one of: {', '.join(KpiMetric.values)}."
        )
    start, end = clean_date(period_start, field="period_start"), clean_date(period_end, field="period_end")
    if end < start:
        raise ValidationFailed.for_field("period_end", "The period ends before it starts.")
    reading = KpiReading(
        organization=organization,
        metric=metric,
        value=clean_decimal(value, field="value"),
        unit=unit or "",
        period_start=start,
        period_end=end,
        source=clean_text(source, field="source", max_length=100),
        note=note,
        recorded_by=by,
    )
    try:
        with transaction.atomic():
            reading.save(force_insert=True)
            audit_record(
                action="kpi.recorded",
                actor=by,
                organization=organization,
                obj=reading,
                after={
                    "metric": metric,
                    "value": reading.value,
                    "period_start": start,
                    "period_end": end,
                    "source": reading.source,
                },
            )
    except IntegrityError:
        raise Conflict(
            f"A {metric} reading from {reading.source} for {start}..{end} already exists.",
            {"fields": {"period_start": ["Duplicate reading for this metric, period and source."]}},
        ) from None
    return reading


def kpi_config_clean(config: dict) -> dict:
    """Validates a KPI criterion: metric, aggregation, comparison, threshold, period_start, period_end."""
    if not isinstance(config, dict):
        raise ValidationFailed.for_field("config", "Give an object.")
    metric = config.get("metric")
    if metric not in KpiMetric.values:
        raise ValidationFailed.for_field("config.metric", f"Choose one of: {', '.join(KpiMetric.values)}.")
    aggregation = config.get("aggregation", "latest")
    if aggregation not in AGGREGATIONS:
        raise ValidationFailed.for_field("config.aggregation", f"Choose one of: {', '.join(AGGREGATIONS)}.")
    comparison = config.get("comparison", "gte")
    if comparison not in COMPARISONS:
        raise ValidationFailed.for_field("config.comparison", f"Choose one of: {', '.join(COMPARISONS)}.")
    threshold = clean_decimal(config.get("threshold"), field="config.threshold")
    start = clean_date(config.get("period_start"), field="config.period_start")
    end = clean_date(config.get("period_end"), field="config.period_end")
    if end < start:
        raise ValidationFailed.for_field("config.period_end", "The period ends before it starts.")
    return {
        "metric": metric,
        "aggregation": aggregation,
        "comparison": comparison,
        "threshold": str(threshold),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
    }


def kpi_aggregate(
    *, organization, metric: str, aggregation: str, start: dt.date, end: dt.date
) -> tuple[Decimal | None, int]:
    """The aggregated value of readings whose period lies within [start, end], and how many there were."""
    readings = list(
        KpiReading.objects.filter(
            organization=organization, metric=metric, period_start__gte=start, period_end__lte=end
        )
        .order_by("period_end", "created_at")
        .values_list("value", flat=True)
    )
    if not readings:
        return None, 0
    if aggregation == "sum":
        value = sum(readings, Decimal(0))
    elif aggregation == "avg":
        value = sum(readings, Decimal(0)) / len(readings)
    elif aggregation == "min":
        value = min(readings)
    elif aggregation == "max":
        value = max(readings)
    else:
        value = readings[-1]
    return value, len(readings)


def kpi_evaluate(*, organization, config: dict) -> dict:
    """Evaluates a cleaned KPI config; the result says what was compared with what."""
    start, end = dt.date.fromisoformat(config["period_start"]), dt.date.fromisoformat(config["period_end"])
    value, count = kpi_aggregate(
        organization=organization, metric=config["metric"], aggregation=config["aggregation"], start=start, end=end
    )
    threshold = Decimal(config["threshold"])
    passed = value is not None and COMPARISONS[config["comparison"]](value, threshold)
    return {**config, "readings": count, "value": None if value is None else str(value), "passed": passed}
