"""A key risk indicator on compute economics: idle GPU cost above a limit over a window."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.compute.models import Device, SampleRollup
from apps.economics.models import RateCard
from apps.risks.services.indicators import kri_create, kri_evaluate

pytestmark = pytest.mark.django_db


def test_idle_cost_above_the_limit_breaches(make_risk, engineer, org):
    now = timezone.now().replace(second=0, microsecond=0)
    gpu = Device.objects.create(organization=org, key="gpu-idle", labels={"pool": "burst"})
    RateCard.objects.create(
        organization=org,
        name="burst",
        kind="cloud",
        currency="EUR",
        price_per_gpu_hour=Decimal("4.00"),
        valid_from=dt.date(2020, 1, 1),
    )
    indicator = kri_create(
        risk=make_risk(),
        name="Idle GPU cost above 5 EUR a day",
        source="economics",
        metric="idle_cost",
        window=dt.timedelta(days=1),
        comparison="gt",
        threshold=Decimal(5),
        by=engineer,
    )
    # One hour at 25 %: 0.75 idle hours at 4.00 = 3.00.
    SampleRollup.objects.bulk_create(
        SampleRollup(
            device=gpu,
            metric="gpu.utilization",
            minute=now - dt.timedelta(minutes=m),
            avg=25.0,
            min=25.0,
            max=25.0,
            count=6,
        )
        for m in range(1, 61)
    )
    assert kri_evaluate(indicator=indicator, now=now) == "ok"
    # Another hour, at 0 %: 1.75 idle hours, 7.00.
    SampleRollup.objects.bulk_create(
        SampleRollup(
            device=gpu,
            metric="gpu.utilization",
            minute=now - dt.timedelta(minutes=m),
            avg=0.0,
            min=0.0,
            max=0.0,
            count=6,
        )
        for m in range(61, 121)
    )
    assert kri_evaluate(indicator=indicator, now=now) == "breached"
    indicator.refresh_from_db()
    assert indicator.last_value == Decimal("7.000000")
