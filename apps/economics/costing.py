"""The cost of compute over a window, from the per-minute rollups (see docs/economics.md for the arithmetic).

Per device, from one grouped query over compute_samplerollup (per device, metric and UTC day):
- provisioned hours = minutes with a utilization rollup / 60 (the device was up, so it was paid for);
- used hours        = sum of utilization% / 100 / 60 (utilization-weighted);
- idle hours        = provisioned - used;
- energy kWh        = sum of gpu.power.watts / 60 / 1000 (each minute's average draw held for one minute).
Values are summed as integers of millionths, as the compute app's evaluation does, so the same rollups always give
the same digits. With the device's rate card:
- hourly rate: cloud, the price per GPU-hour; on-prem, purchase price / (lifetime days * 24);
- compute cost = provisioned hours * hourly rate; idle cost = idle hours * hourly rate;
- energy cost  = kWh * price per kWh (on-prem; a cloud price includes the power);
- total cost = compute cost + energy cost. Money figures are quantized to micro-units (6 decimals).
"""

import dataclasses
import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from django.db import connection

from apps.compute.models import Device, DeviceKind, SampleRollup
from apps.economics.models import CostAttribution, RateCard, RateCardKind, UsageDay, UsageWatermark

MICRO = 1_000_000
MICRO_PLACES = Decimal("0.000001")
HOURS_PLACES = Decimal("0.000001")
POWER_METRIC = "gpu.power.watts"
UTILIZATION_METRIC = {
    DeviceKind.GPU: "gpu.utilization",
    DeviceKind.NPU: "gpu.utilization",
    DeviceKind.EDGE: "cpu.utilization",
}
USAGE_METRICS = sorted({*UTILIZATION_METRIC.values(), POWER_METRIC})

# One row per device, metric and UTC day: how many minutes have a rollup, and the sum of their averages in
# millionths (exact integers; the sum of bigints is numeric, so nothing overflows).
USAGE_SQL = (
    "SELECT device_id, metric, (minute AT TIME ZONE 'UTC')::date, count(*), sum(round(avg * 1000000)::bigint) "
    "FROM compute_samplerollup WHERE device_id = ANY(%s) AND metric = ANY(%s) AND minute >= %s AND minute < %s "
    "GROUP BY 1, 2, 3"
)


@dataclasses.dataclass
class Usage:
    minutes: int = 0  # minutes with a utilization rollup
    utilization_micro: int = 0  # sum of utilization% * 1e6 over those minutes
    power_minutes: int = 0
    watts_micro: int = 0  # sum of watts * 1e6 over the minutes with a power rollup

    def add(self, other: "Usage") -> None:
        self.minutes += other.minutes
        self.utilization_micro += other.utilization_micro
        self.power_minutes += other.power_minutes
        self.watts_micro += other.watts_micro


def _q(value: Decimal) -> Decimal:
    return value.quantize(MICRO_PLACES, rounding=ROUND_HALF_EVEN)


def hourly_rate(card: RateCard) -> Decimal:
    """What one provisioned hour costs before energy: the cloud price, or the on-prem purchase amortised evenly."""
    with localcontext(prec=50):
        if card.kind == RateCardKind.CLOUD:
            return Decimal(card.price_per_gpu_hour)
        return Decimal(card.purchase_price) / (Decimal(card.lifetime_days) * 24)


def usage_figures(usage: Usage, card: RateCard | None) -> dict:
    """Hours, energy and (with a card) cost of one usage total, as Decimals."""
    with localcontext(prec=50):
        provisioned = Decimal(usage.minutes) / 60
        used = Decimal(usage.utilization_micro) / (MICRO * 100 * 60)
        idle = provisioned - used
        kwh = Decimal(usage.watts_micro) / (MICRO * 60 * 1000)
        figures = {
            "provisioned_hours": _q(provisioned),
            "used_hours": _q(used),
            "idle_hours": _q(idle),
            "utilization_pct": _q(used * 100 / provisioned) if provisioned else None,
            "energy_kwh": _q(kwh),
            "currency": None,
            "compute_cost": None,
            "energy_cost": None,
            "idle_cost": None,
            "total_cost": None,
        }
        if card is not None:
            rate = hourly_rate(card)
            energy = kwh * Decimal(card.power_price_per_kwh) if card.kind == RateCardKind.ON_PREM else Decimal(0)
            figures |= {
                "currency": card.currency,
                "compute_cost": _q(provisioned * rate),
                "energy_cost": _q(energy),
                "idle_cost": _q(idle * rate),
                "total_cost": _q(provisioned * rate + energy),
            }
    return figures


MONEY_KEYS = ("compute_cost", "energy_cost", "idle_cost", "total_cost")


def priced_segments(total: Usage, segments: list[tuple[RateCard | None, Usage]]) -> dict:
    """A device's figures over a window whose days were priced by one card or by several (a new version in force
    from a day inside the window): hours and energy from the whole usage, each money figure the sum over the cards
    of their own days priced by them. Days before any card is in force count in hours, not in cost (as a device with
    no card); cards of different currencies for one device leave its money figures empty (None)."""
    figures = usage_figures(total, None)
    priced = [(card, usage) for card, usage in segments if card is not None]
    if not priced or len({card.currency for card, _ in priced}) != 1:
        return figures
    parts = [usage_figures(usage, card) for card, usage in priced]
    return figures | {"currency": priced[0][0].currency} | {key: sum(p[key] for p in parts) for key in MONEY_KEYS}


def _matches(selector: dict, device: Device) -> bool:
    return all(str(device.labels.get(k)) == str(v) for k, v in (selector or {}).items())


def card_for(device: Device, cards: list[RateCard]) -> RateCard | None:
    """The card that prices a device: one naming its source beats a device class (labels); the most labels win;
    of versions of one card, the latest in force."""
    best, best_rank = None, None
    for card in cards:
        if card.source_id is not None and card.source_id != device.source_id:
            continue
        if not _matches(card.device_selector, device):
            continue
        rank = (card.source_id is not None, len(card.device_selector or {}), card.valid_from, card.name)
        if best_rank is None or rank > best_rank:
            best, best_rank = card, rank
    return best


def attribution_for(device: Device, rules: list[CostAttribution]) -> CostAttribution | None:
    """The rule a device's cost goes to: the matching rule with the most labels (the oldest on a tie)."""
    matching = [rule for rule in rules if _matches(rule.device_selector, device)]
    if not matching:
        return None
    most = max(len(rule.device_selector) for rule in matching)
    return next(rule for rule in matching if len(rule.device_selector) == most)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def usage_by_device_day(*, devices: list[Device], start: dt.datetime, end: dt.datetime) -> dict:
    """{device id: {day: Usage}} in [start, end): whole days the daily summary holds are read from it (UsageDay),
    the rest (a partial first or last day, days not summarised yet) from the per-minute rollups. Both give the same
    integers, so where a day is read from makes no difference to the figures."""
    found: dict = defaultdict(lambda: defaultdict(Usage))
    if not devices:
        return found
    utilization_of = {d.pk: UTILIZATION_METRIC.get(d.kind, "gpu.utilization") for d in devices}
    mark = UsageWatermark.objects.filter(organization_id=devices[0].organization_id).first()
    start_utc, end_utc = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    first_day = start_utc.date() if start_utc == _midnight(start_utc.date()) else start_utc.date() + dt.timedelta(1)
    last_day = min(end_utc.date(), mark.through) if mark else first_day  # exclusive
    ranges = [(start, end)]
    if last_day > first_day:
        rows = UsageDay.objects.filter(
            device_id__in=list(utilization_of), metric__in=USAGE_METRICS, day__gte=first_day, day__lt=last_day
        ).values_list("device_id", "metric", "day", "minutes", "sum_micro")
        _add_rows(found, rows, utilization_of)
        ranges = [(start, _midnight(first_day)), (_midnight(last_day), end)]
    for range_start, range_end in ranges:
        if range_end > range_start:
            _add_rows(found, _rollup_rows(list(utilization_of), range_start, range_end), utilization_of)
    return found


def _add_rows(found: dict, rows, utilization_of: dict) -> None:
    for device_id, metric, day, count, total in rows:
        usage = found[device_id][day]
        if metric == utilization_of[device_id]:
            usage.minutes += int(count)
            usage.utilization_micro += int(total)
        elif metric == POWER_METRIC:
            usage.power_minutes += int(count)
            usage.watts_micro += int(total)


def _rollup_rows(device_ids: list, start: dt.datetime, end: dt.datetime) -> list:
    """(device, metric, UTC day, minutes, sum of averages in millionths) from the per-minute rollups."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(USAGE_SQL, [device_ids, USAGE_METRICS, start, end])
            return cursor.fetchall()
    # The embedded default (SQLite): the same sums, in Python.
    sums: dict = defaultdict(lambda: [0, 0])
    queryset = SampleRollup.objects.filter(
        device_id__in=device_ids, metric__in=USAGE_METRICS, minute__gte=start, minute__lt=end
    )
    for device_id, metric, minute, avg in queryset.values_list("device_id", "metric", "minute", "avg"):
        entry = sums[(device_id, metric, minute.astimezone(dt.UTC).date())]
        entry[0] += 1
        entry[1] += round(avg * MICRO)
    return [(*key, count, total) for key, (count, total) in sums.items()]


# --- the daily summary ------------------------------------------------------------------------------------------

UPSERT_SQL = (
    "INSERT INTO economics_usageday (device_id, metric, day, minutes, sum_micro) "
    "SELECT device_id, metric, (minute AT TIME ZONE 'UTC')::date, count(*), sum(round(avg * 1000000)::bigint) "
    "FROM compute_samplerollup WHERE device_id = ANY(%s) AND metric = ANY(%s) AND minute >= %s AND minute < %s "
    "GROUP BY 1, 2, 3 "
    "ON CONFLICT (device_id, metric, day) DO UPDATE SET minutes = EXCLUDED.minutes, sum_micro = EXCLUDED.sum_micro"
)


def usage_days_refresh(*, organization, today: dt.date | None = None, late_days: int = 2, since=None) -> int:
    """Sums the organization's closed days into UsageDay, up to yesterday: the days since the watermark, and again
    the last `late_days` before it (edge agents push buffered samples late). `since` rebuilds from that day.
    Returns how many device-metric-days were written."""
    from django.db import transaction
    from django.utils import timezone

    today = today or timezone.now().astimezone(dt.UTC).date()
    mark = UsageWatermark.objects.filter(organization=organization).first()
    device_ids = list(Device.objects.filter(organization=organization).values_list("pk", flat=True))
    if since is None:
        first = (mark.through - dt.timedelta(days=late_days)) if mark else None
        if first is None:
            oldest = (
                SampleRollup.objects.filter(device_id__in=device_ids)
                .order_by("minute")
                .values_list("minute", flat=True)
                .first()
            )
            first = oldest.astimezone(dt.UTC).date() if oldest else today
    else:
        first = since
    written = 0
    with transaction.atomic():
        if first < today and device_ids:
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(UPSERT_SQL, [device_ids, USAGE_METRICS, _midnight(first), _midnight(today)])
                    written = cursor.rowcount
            else:
                rows = _rollup_rows(device_ids, _midnight(first), _midnight(today))
                for device_id, metric, day, count, total in rows:
                    UsageDay.objects.update_or_create(
                        device_id=device_id,
                        metric=metric,
                        day=day,
                        defaults={"minutes": count, "sum_micro": total},
                    )
                written = len(rows)
        UsageWatermark.objects.update_or_create(
            organization=organization, defaults={"through": today, "refreshed_at": timezone.now()}
        )
    return written


def _money_sum(rows: list[dict], key: str) -> Decimal | None:
    values = [row[key] for row in rows if row[key] is not None]
    return sum(values, Decimal(0)) if values else None


def compute_economics(*, organization, start: dt.datetime, end: dt.datetime, top: int = 10, usage_reader=None) -> dict:
    """GPU-hours, energy and cost of the organization's devices in [start, end): per device, per day (the trend),
    per budget line they are attributed to, the biggest idle costs, and the cost per operation (against the
    `operations` KPI readings of the window). `usage_reader` replaces `usage_by_device_day` (the benchmark's raw-sample
    baseline computes the same figures that way)."""
    from apps.funding.models import KpiMetric, KpiReading

    devices = list(Device.objects.filter(organization=organization).order_by("key"))
    cards = list(
        RateCard.objects.filter(organization=organization, valid_from__lte=(end - dt.timedelta(seconds=1)).date())
    )
    rules = list(
        CostAttribution.objects.filter(organization=organization)
        .select_related("budget_line__grant", "budget_line__investment")
        .order_by("created_at")
    )
    usage = (usage_reader or usage_by_device_day)(devices=devices, start=start, end=end)
    per_device, per_day, per_line, gpu_days = [], defaultdict(list), defaultdict(list), defaultdict(list)
    for device in devices:
        days = usage.get(device.pk, {})
        if not days:
            continue
        rule = attribution_for(device, rules)
        total = Usage()
        segments: list[tuple[RateCard | None, Usage]] = []  # consecutive days priced by one card
        for day, day_usage in sorted(days.items()):
            card = card_for(device, [c for c in cards if c.valid_from <= day])
            total.add(day_usage)
            per_day[day].append(usage_figures(day_usage, card))
            if device.kind == DeviceKind.GPU:
                gpu_days[day].append(day_usage)
            if not segments or segments[-1][0] != card:
                segments.append((card, Usage()))
            segments[-1][1].add(day_usage)
        row = {
            "device": device.key,
            "device_id": device.pk,
            "kind": device.kind,
            "labels": device.labels,
            "rate_card": ", ".join(dict.fromkeys(card.name for card, _ in segments if card)) or None,
            **priced_segments(total, segments),
        }
        per_device.append(row)
        if rule is not None:
            per_line[rule.budget_line_id].append(row)
    keys = (
        "provisioned_hours",
        "used_hours",
        "idle_hours",
        "energy_kwh",
        "compute_cost",
        "energy_cost",
        "idle_cost",
        "total_cost",
    )

    def summed(rows: list[dict]) -> dict:
        return {key: _money_sum(rows, key) for key in keys}

    def gpu_utilization(usages: list[Usage]) -> Decimal | None:
        pooled = Usage()
        for one in usages:
            pooled.add(one)
        return usage_figures(pooled, None)["utilization_pct"]

    lines = {rule.budget_line_id: rule.budget_line for rule in rules}
    totals = summed(per_device)
    totals["gpu_utilization_pct"] = gpu_utilization([u for days in gpu_days.values() for u in days])
    operations = KpiReading.objects.filter(
        organization=organization,
        metric=KpiMetric.OPERATIONS,
        period_start__gte=start.date(),
        period_end__lte=(end - dt.timedelta(seconds=1)).date(),
    ).values_list("value", flat=True)
    operation_count = sum(operations, Decimal(0))
    currencies = sorted({row["currency"] for row in per_device if row["currency"]})
    with localcontext(prec=50):
        per_operation = (
            (totals["total_cost"] / operation_count).quantize(Decimal("0.000000001"))
            if operation_count and totals["total_cost"] is not None and len(currencies) == 1
            else None
        )
    return {
        "start": start,
        "end": end,
        "currencies": currencies,
        "totals": {
            **totals,
            "devices": len(per_device),
            "unpriced_devices": sum(1 for row in per_device if row["currency"] is None),
        },
        "operations": operation_count,
        "cost_per_operation": per_operation,
        "trend": [
            {"day": day, **summed(rows), "gpu_utilization_pct": gpu_utilization(gpu_days.get(day, []))}
            for day, rows in sorted(per_day.items())
        ],
        "budget_lines": [
            {
                "budget_line": line_id,
                "name": lines[line_id].name,
                "category": lines[line_id].category,
                "grant": lines[line_id].grant_id,
                "investment": lines[line_id].investment_id,
                "devices": len(rows),
                **summed(rows),
            }
            for line_id, rows in per_line.items()
        ],
        "biggest_idle": sorted(
            (row for row in per_device if row["idle_cost"] is not None), key=lambda r: (-r["idle_cost"], r["device"])
        )[:top],
        "devices": per_device,
    }
