"""Where key risk indicators get their values: a registry of value providers, one per source kind.

A provider is a callable

    provider(*, organization, metric: str, aggregation: str, window: timedelta, now: datetime) -> Decimal | None

returning the aggregated observed value over [now - window, now], or None when there is no data in the
window (the indicator then stays as it was: missing data neither breaches nor clears). A provider raises
IndicatorUnavailable when it cannot answer at all (the source is not set up); the message is shown on the
indicator.

- "kpi" is registered here: KPI readings that finance tools post (apps.funding.models.KpiReading), taking
  the readings whose period ends inside the window.
- "compute" is a seam for the compute app, which registers its provider from its AppConfig.ready():

      from apps.risks.indicators import register_indicator_source
      register_indicator_source("compute", compute_metric_value)

  e.g. "GPU utilization > 90% for 1 h" is metric "gpu_utilization", aggregation "min", window 1 h, "gt" 90.
  Until it is registered, compute indicators evaluate to "unknown" with that reason.
- "economics" is registered by the economics app the same way: the window's compute cost figures (metric
  idle_cost, total_cost, energy_kwh, gpu_utilization_pct or cost_per_operation), e.g. "idle cost above 2,000 over
  30 days" is metric "idle_cost", window 30 days, "gt" 2000.
"""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from django.db.models import Avg, Max, Min, Sum

from apps.risks.models import Aggregation

ValueProvider = Callable[..., Decimal | None]


class IndicatorUnavailable(Exception):
    """The source cannot answer (not installed, not configured)."""


_providers: dict[str, ValueProvider] = {}


def register_indicator_source(kind: str, provider: ValueProvider) -> None:
    _providers[kind] = provider


def unregister_indicator_source(kind: str) -> ValueProvider | None:
    return _providers.pop(kind, None)


def indicator_source(kind: str) -> ValueProvider | None:
    return _providers.get(kind)


def observed_value(
    *, kind: str, organization, metric: str, aggregation: str, window: dt.timedelta, now: dt.datetime
) -> Decimal | None:
    provider = _providers.get(kind)
    if provider is None:
        raise IndicatorUnavailable(f"No value provider is registered for '{kind}' indicators yet.")
    value = provider(organization=organization, metric=metric, aggregation=aggregation, window=window, now=now)
    return None if value is None else Decimal(str(value))


_AGGREGATES = {Aggregation.AVG: Avg, Aggregation.MIN: Min, Aggregation.MAX: Max, Aggregation.SUM: Sum}


def kpi_value(*, organization, metric: str, aggregation: str, window: dt.timedelta, now: dt.datetime):
    """KPI readings whose period ends within the window; "last" is the reading with the latest period end."""
    try:
        from apps.funding.models import KpiReading
    except ImportError:
        raise IndicatorUnavailable("KPI readings are not available (apps.funding.models.KpiReading).") from None
    readings = KpiReading.objects.filter(
        organization=organization,
        metric=metric,
        period_end__gte=(now - window).date(),
        period_end__lte=now.date(),
    )
    if aggregation == Aggregation.LAST:
        latest = readings.order_by("-period_end", "-created_at").values_list("value", flat=True).first()
        return latest
    return readings.aggregate(value=_AGGREGATES[aggregation]("value"))["value"]
