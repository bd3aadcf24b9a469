"""Compute cost from rollups, checked against figures worked out by hand (PostgreSQL)."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.compute.models import ComputeSource, Device, SampleRollup
from apps.economics.costing import compute_economics, hourly_rate
from apps.economics.models import CostAttribution, RateCard
from apps.funding.models import BudgetLine, KpiReading
from tests.funding.factories import GrantFactory

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)


def minutes(device, metric, values, start=START):
    """One rollup per minute from `start`, with the given averages."""
    SampleRollup.objects.bulk_create(
        SampleRollup(device=device, metric=metric, minute=start + dt.timedelta(minutes=i), avg=v, min=v, max=v, count=6)
        for i, v in enumerate(values)
    )


@pytest.fixture
def fleet(org):
    source = ComputeSource.objects.create(organization=org, name="cloud burst", kind="push")
    on_prem = Device.objects.create(organization=org, key="gpu-a0", labels={"cluster": "blackwell-a", "host": "dgx-01"})
    other = Device.objects.create(organization=org, key="gpu-a1", labels={"cluster": "blackwell-a", "host": "dgx-02"})
    cloud = Device.objects.create(organization=org, key="gpu-c0", labels={"region": "eu-west"}, source=source)
    RateCard.objects.create(
        organization=org,
        name="Blackwell on-prem",
        kind="on_prem",
        device_selector={"cluster": "blackwell-a"},
        currency="EUR",
        purchase_price=Decimal("40000.00"),
        lifetime_days=1825,
        power_price_per_kwh=Decimal("0.2875"),
        valid_from=dt.date(2026, 1, 1),
    )
    RateCard.objects.create(
        organization=org,
        name="Anything else",
        kind="cloud",
        currency="EUR",
        price_per_gpu_hour=Decimal("9.99"),
        valid_from=dt.date(2026, 1, 1),
    )
    RateCard.objects.create(
        organization=org,
        name="Burst eu-west",
        kind="cloud",
        source=source,
        currency="EUR",
        provider="cloud-co",
        region="eu-west",
        price_per_gpu_hour=Decimal("2.45"),
        valid_from=dt.date(2026, 1, 1),
    )
    # gpu-a0: 90 minutes at 80 %, 30 at 20 %; 650.5 W then 300 W.
    minutes(on_prem, "gpu.utilization", [80.0] * 90 + [20.0] * 30)
    minutes(on_prem, "gpu.power.watts", [650.5] * 90 + [300.0] * 30)
    # gpu-a1: 60 minutes at 100 %, 1000 W.
    minutes(other, "gpu.utilization", [100.0] * 60)
    minutes(other, "gpu.power.watts", [1000.0] * 60)
    # gpu-c0: 60 minutes at 25 %, no power reading (the cloud price includes it); and a minute outside the window.
    minutes(cloud, "gpu.utilization", [25.0] * 60)
    minutes(cloud, "gpu.utilization", [100.0], start=END)
    return {"on_prem": on_prem, "other": other, "cloud": cloud}


def test_amortisation_energy_and_idle_cost_match_hand_figures(org, fleet):
    assert hourly_rate(RateCard.objects.get(name="Blackwell on-prem")).quantize(Decimal("0.000001")) == Decimal(
        "0.913242"
    )
    report = compute_economics(organization=org, start=START, end=END)
    by_key = {row["device"]: row for row in report["devices"]}

    a0 = by_key["gpu-a0"]
    # 2 h provisioned; used (90*80 + 30*20) / 100 / 60 = 1.3 h; idle 0.7 h.
    assert (a0["provisioned_hours"], a0["used_hours"], a0["idle_hours"]) == (
        Decimal("2.000000"),
        Decimal("1.300000"),
        Decimal("0.700000"),
    )
    # 40000 / (1825 * 24) = 0.913242009... per hour: 2 h = 1.826484, idle 0.7 h = 0.639269.
    assert (a0["compute_cost"], a0["idle_cost"]) == (Decimal("1.826484"), Decimal("0.639269"))
    # (90 * 650.5 + 30 * 300) W-minutes / 60 / 1000 = 1.12575 kWh, at 0.2875 = 0.323653 (half-even of ...3125).
    assert (a0["energy_kwh"], a0["energy_cost"]) == (Decimal("1.125750"), Decimal("0.323653"))
    assert a0["total_cost"] == Decimal("2.150137")  # 1.8264840182... + 0.323653125
    assert a0["rate_card"] == "Blackwell on-prem"

    c0 = by_key["gpu-c0"]
    assert c0["rate_card"] == "Burst eu-west"  # the source's card beats the organization-wide one
    assert (c0["provisioned_hours"], c0["idle_hours"], c0["energy_kwh"]) == (
        Decimal("1.000000"),
        Decimal("0.750000"),
        Decimal("0.000000"),
    )
    assert (c0["total_cost"], c0["idle_cost"]) == (Decimal("2.450000"), Decimal("1.837500"))

    assert report["totals"]["provisioned_hours"] == Decimal("4.000000")
    assert report["totals"]["energy_kwh"] == Decimal("2.125750")  # + 1 kWh of gpu-a1
    assert [row["device"] for row in report["biggest_idle"]] == ["gpu-c0", "gpu-a0", "gpu-a1"]
    assert report["trend"][0]["day"] == dt.date(2026, 11, 1) and len(report["trend"]) == 1


def test_cost_goes_to_budget_lines_by_device_labels_and_per_operation(org, fleet):
    grant = GrantFactory(organization=org)
    cluster = BudgetLine.objects.create(
        organization=org,
        grant=grant,
        category="compute",
        name="Cluster",
        currency="EUR",
        amount_original=1000,
        amount=1000,
    )
    host = BudgetLine.objects.create(
        organization=org,
        grant=grant,
        category="equipment",
        name="dgx-01",
        currency="EUR",
        amount_original=1000,
        amount=1000,
    )
    cloud = BudgetLine.objects.create(
        organization=org, grant=grant, category="cloud", name="Burst", currency="EUR", amount_original=1000, amount=1000
    )
    CostAttribution.objects.create(
        organization=org, name="cluster", device_selector={"cluster": "blackwell-a"}, budget_line=cluster
    )
    CostAttribution.objects.create(
        organization=org, name="host", budget_line=host, device_selector={"cluster": "blackwell-a", "host": "dgx-01"}
    )
    CostAttribution.objects.create(
        organization=org, name="burst", device_selector={"region": "eu-west"}, budget_line=cloud
    )
    KpiReading.objects.create(
        organization=org,
        metric="operations",
        value=Decimal("2000"),
        source="gateway",
        period_start=dt.date(2026, 11, 1),
        period_end=dt.date(2026, 11, 1),
    )

    report = compute_economics(organization=org, start=START, end=END)
    lines = {row["name"]: row for row in report["budget_lines"]}
    assert lines["dgx-01"]["devices"] == 1 and lines["dgx-01"]["total_cost"] == Decimal("2.150137")
    # gpu-a1: 1 h at 0.913242 + 1 kWh at 0.2875 = 1.200742.
    assert lines["Cluster"]["devices"] == 1 and lines["Cluster"]["total_cost"] == Decimal("1.200742")
    assert lines["Burst"]["total_cost"] == Decimal("2.450000")
    total = Decimal("2.150137") + Decimal("1.200742") + Decimal("2.450000")
    assert report["totals"]["total_cost"] == total
    assert report["cost_per_operation"] == (total / 2000).quantize(Decimal("0.000000001"))


def test_the_daily_summary_gives_the_same_figures_and_takes_late_rollups(org, fleet):
    from apps.economics.costing import usage_days_refresh
    from apps.economics.models import UsageDay

    # A window of whole days plus a partial last one; the second day has rollups too.
    minutes(fleet["cloud"], "gpu.utilization", [50.0] * 30, start=END + dt.timedelta(hours=3))
    window = {"start": START, "end": END + dt.timedelta(days=1, hours=5)}
    live = compute_economics(organization=org, **window)
    assert usage_days_refresh(organization=org, today=(END + dt.timedelta(days=1)).date()) > 0
    assert UsageDay.objects.filter(day=START.date()).count() == 5  # 3 utilization + 2 power series
    summarised = compute_economics(organization=org, **window)
    assert summarised["totals"] == live["totals"] and summarised["trend"] == live["trend"]
    assert summarised["totals"]["provisioned_hours"] == Decimal("4.516667")  # 4 h on day one, 1 + 30 min on day two

    # A board pushes an hour of the first day late: the next refresh sums that day again.
    minutes(fleet["other"], "gpu.utilization", [100.0] * 60, start=START + dt.timedelta(hours=12))
    usage_days_refresh(organization=org, today=(END + dt.timedelta(days=1)).date())
    again = compute_economics(organization=org, **window)
    assert again["totals"]["provisioned_hours"] == Decimal("5.516667")


def test_a_price_change_inside_the_window_prices_each_day_by_the_card_in_force(org, client_for):
    """A new version of a card from the 2nd prices the 2nd and later; the 1st keeps the old price. A card that
    starts inside the window leaves the days before it unpriced (hours count, cost does not)."""
    from apps.tenancy.models import Role
    from tests.factories import member

    owner = client_for(member(org, Role.OWNER))
    body = {
        "organization": str(org.pk),
        "name": "H200 cloud",
        "kind": "cloud",
        "currency": "USD",
        "device_selector": {"fleet": "dc"},
    }
    for price, day in (("2.00", "2026-01-01"), ("3.00", "2026-11-02")):
        answer = owner.post(
            "/api/v1/rate-cards/", {**body, "price_per_gpu_hour": price, "valid_from": day}, format="json"
        )
        assert answer.status_code == 201, answer.json()
    euro = owner.post(
        "/api/v1/rate-cards/",
        {**body, "currency": "EUR", "price_per_gpu_hour": "1.00", "valid_from": "2026-12-01"},
        format="json",
    )
    assert euro.status_code == 400
    assert euro.json()["extra"]["fields"] == {"currency": ["Earlier versions of this card are priced in USD."]}
    owner.post(
        "/api/v1/rate-cards/",
        {
            **body,
            "name": "Edge late",
            "device_selector": {"fleet": "edge"},
            "price_per_gpu_hour": "4.00",
            "valid_from": "2026-11-02",
        },
        format="json",
    )
    gpu = Device.objects.create(organization=org, key="gpu-h0", labels={"fleet": "dc"})
    late = Device.objects.create(organization=org, key="gpu-e0", labels={"fleet": "edge"})
    for device in (gpu, late):
        minutes(device, "gpu.utilization", [50.0] * 60)
        minutes(device, "gpu.utilization", [50.0] * 60, start=START + dt.timedelta(days=1))

    report = compute_economics(organization=org, start=START, end=START + dt.timedelta(days=2))
    by_key = {row["device"]: row for row in report["devices"]}
    # 1 h on the 1st at 2.00 and 1 h on the 2nd at 3.00 (not 2 h at 3.00); idle half of each.
    assert by_key["gpu-h0"]["provisioned_hours"] == Decimal("2.000000")
    assert (by_key["gpu-h0"]["compute_cost"], by_key["gpu-h0"]["idle_cost"]) == (
        Decimal("5.000000"),
        Decimal("2.500000"),
    )
    assert by_key["gpu-h0"]["rate_card"] == "H200 cloud"
    # Its own card from the 2nd only: 1 h at 4.00; both days' hours count.
    assert by_key["gpu-e0"]["provisioned_hours"] == Decimal("2.000000")
    assert (by_key["gpu-e0"]["total_cost"], by_key["gpu-e0"]["currency"]) == (Decimal("4.000000"), "USD")
    assert [day["compute_cost"] for day in report["trend"]] == [Decimal("2.000000"), Decimal("7.000000")]
    assert report["totals"]["total_cost"] == Decimal("9.000000")
