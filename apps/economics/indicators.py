"""Compute economics for key risk indicators (apps.risks calls `risk_indicator_value` for "economics" sources):
the figure of the organization's compute cost over [now - window, now), whatever the aggregation asked (each
figure is already the window's total, or its ratio)."""

import datetime as dt
from decimal import Decimal

from apps.economics.costing import compute_economics

FIGURES = ("idle_cost", "total_cost", "energy_kwh", "gpu_utilization_pct", "cost_per_operation")


def economics_indicator_value(*, organization, metric: str, window: dt.timedelta, now: dt.datetime) -> Decimal | None:
    end = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    report = compute_economics(organization=organization, start=end - window, end=end)
    if metric == "cost_per_operation":
        return report["cost_per_operation"]
    return report["totals"][metric]


def risk_indicator_value(*, organization, metric: str, aggregation: str, window: dt.timedelta, now: dt.datetime):
    from apps.risks.indicators import IndicatorUnavailable

    if metric not in FIGURES:
        raise IndicatorUnavailable(f"Unknown compute economics figure '{metric}'. Known: {', '.join(FIGURES)}.")
    return economics_indicator_value(organization=organization, metric=metric, window=window, now=now)
