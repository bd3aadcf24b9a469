"""Reads of the economics app, always scoped to the user's organizations: rate cards, attributions, the roadmap,
the compute economics of a window, the scorecard, and the plan sections of a grant's or an investment's page and
report."""

import datetime as dt
import itertools
from decimal import Decimal, localcontext

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from apps.economics.costing import compute_economics
from apps.economics.models import (
    CostAttribution,
    Initiative,
    MetricDirection,
    MetricSource,
    RateCard,
    RoadmapPhase,
    SuccessMetric,
)
from apps.tenancy.scoping import get_scoped, scope_to_user

SCORECARD_WINDOW_DAYS = 30
TREND_POINTS = 8
PCT = Decimal("0.01")
STATUS_LABELS = {"on_target": "On target", "at_risk": "At risk", "off_target": "Off target", "no_data": "No data"}


def rate_card_list(*, user) -> QuerySet:
    return scope_to_user(RateCard.objects.select_related("source"), user=user)


def rate_card_get(*, user, pk) -> RateCard:
    return get_scoped(RateCard.objects.select_related("source"), user=user, pk=pk)


def cost_attribution_list(*, user) -> QuerySet:
    return scope_to_user(CostAttribution.objects.select_related("budget_line"), user=user)


def cost_attribution_get(*, user, pk) -> CostAttribution:
    return get_scoped(CostAttribution.objects.select_related("budget_line"), user=user, pk=pk)


def _initiatives() -> QuerySet:
    return Initiative.objects.select_related("owner", "organization").prefetch_related(
        "milestones", "risks", "compute_sources"
    )


def roadmap_phase_list(*, user) -> QuerySet:
    return scope_to_user(
        RoadmapPhase.objects.prefetch_related(Prefetch("initiatives", queryset=_initiatives())), user=user
    )


def roadmap_phase_get(*, user, pk) -> RoadmapPhase:
    return get_scoped(RoadmapPhase.objects.all(), user=user, pk=pk)


def initiative_list(*, user) -> QuerySet:
    return scope_to_user(_initiatives(), user=user)


def initiative_get(*, user, pk) -> Initiative:
    return get_scoped(_initiatives(), user=user, pk=pk)


def success_metric_list(*, user) -> QuerySet:
    return scope_to_user(SuccessMetric.objects.all(), user=user)


def economics_window(*, days: int = SCORECARD_WINDOW_DAYS, now: dt.datetime | None = None):
    end = (now or timezone.now()).astimezone(dt.UTC).replace(second=0, microsecond=0)
    return end - dt.timedelta(days=days), end


# --- scorecard -----------------------------------------------------------------------------------------------------


def metric_status(metric: SuccessMetric, value: Decimal | None) -> str:
    """on_target when the value meets the target; at_risk when it misses by at most the margin (a percentage of
    the target); off_target beyond it; no_data without a value."""
    if value is None:
        return "no_data"
    target = metric.target
    meets = value >= target if metric.direction == MetricDirection.AT_LEAST else value <= target
    if meets:
        return "on_target"
    with localcontext(prec=50):
        slack = abs(target) * metric.at_risk_margin_pct / 100
    missed_by = target - value if metric.direction == MetricDirection.AT_LEAST else value - target
    return "at_risk" if missed_by <= slack else "off_target"


def _kpi_series(metric: SuccessMetric, organization) -> list[tuple[dt.date, Decimal]]:
    from apps.funding.models import KpiReading

    readings = list(
        KpiReading.objects.filter(organization=organization, metric=metric.kpi_metric)
        .order_by("period_end", "created_at")
        .values_list("period_end", "value")
    )
    if not metric.growth:
        return readings
    with localcontext(prec=50):
        return [
            (day, ((value - previous) * 100 / previous).quantize(PCT))
            for (_, previous), (day, value) in itertools.pairwise(readings)
            if previous
        ]


def _compute_value(figure: str, row: dict) -> Decimal | None:
    if figure == "utilization_pct":  # of the GPUs: edge boards report CPU utilization
        value = row.get("gpu_utilization_pct")
        return None if value is None else value.quantize(PCT)
    return row.get(figure)


def scorecard(*, organization, now: dt.datetime | None = None) -> list[dict]:
    """Each success metric with its latest value, status and recent trend; compute metrics over the last 30 days
    of rollups (one economics computation for all of them)."""
    metrics = list(SuccessMetric.objects.filter(organization=organization))
    economics = None
    rows = []
    for metric in metrics:
        if metric.source == MetricSource.KPI:
            series = _kpi_series(metric, organization)
            value = series[-1][1] if series else None
            trend = [{"at": day, "value": v} for day, v in series[-TREND_POINTS:]]
        else:
            if economics is None:
                start, end = economics_window(now=now)
                economics = compute_economics(organization=organization, start=start, end=end)
            if metric.compute_figure == "cost_per_operation":
                value = economics["cost_per_operation"]
                trend = []
            else:
                value = _compute_value(metric.compute_figure, economics["totals"])
                trend = [
                    {"at": day["day"], "value": _compute_value(metric.compute_figure, day)}
                    for day in economics["trend"][-TREND_POINTS:]
                ]
        status = metric_status(metric, value)
        rows.append(
            {"metric": metric, "value": value, "status": status, "label": STATUS_LABELS[status], "trend": trend}
        )
    return rows


# --- the plan sections of a grant or an investment ---------------------------------------------------------------


def _metered_window(parent) -> tuple[dt.datetime, dt.datetime]:
    """Where compute cost is metered for a line: a grant's period so far; an investment (which has no period)
    from the day it was recorded until now."""
    now = timezone.now().astimezone(dt.UTC).replace(second=0, microsecond=0)
    if parent._meta.model_name == "grant":
        start = dt.datetime.combine(parent.period_start, dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine(parent.period_end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        return start, min(end, now)
    return dt.datetime.combine(parent.created_at.astimezone(dt.UTC).date(), dt.time(), tzinfo=dt.UTC), now


def plan_sections(*, parent) -> dict:
    """For a grant's or an investment's page and report: budget lines (budget vs committed vs actual), compute
    cost on each line over the metered window, and (a grant's) reporting periods. Empty when there are none of
    them, so a report of a grant without a plan keeps its data (and its hash) as before."""
    from apps.funding.selectors import budget_overview

    lines = budget_overview(parent=parent)
    periods = list(parent.reporting_periods.order_by("start")) if parent._meta.model_name == "grant" else []
    if not lines and not periods:
        return {}
    compute_by_line = {}
    if lines:
        start, end = _metered_window(parent)
        if end > start:
            economics = compute_economics(organization=parent.organization, start=start, end=end)
            compute_by_line = {row["budget_line"]: row for row in economics["budget_lines"]}
    sections = {
        "budget_lines": [
            {
                **{k: v for k, v in line.items() if k not in ("grant", "investment")},
                "compute_cost": (compute_by_line.get(line["id"]) or {}).get("total_cost"),
                "gpu_hours": (compute_by_line.get(line["id"]) or {}).get("provisioned_hours"),
            }
            for line in lines
        ],
    }
    if parent._meta.model_name == "grant":
        sections["reporting_periods"] = [
            {
                "id": p.pk,
                "start": p.start,
                "end": p.end,
                "due_date": p.due_date,
                "status": p.status,
                "decided_at": p.decided_at,
            }
            for p in periods
        ]
    return sections
