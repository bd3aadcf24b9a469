import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.risks.indicators import register_indicator_source, unregister_indicator_source
from apps.risks.models import KriEvent, KriState, Risk
from apps.risks.services.indicators import kri_create, kri_evaluate
from apps.risks.tasks import risks_evaluate_indicators

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def compute_values():
    """A compute provider registered the way the compute app will: values per metric, set by the test."""
    values: dict[str, Decimal | None] = {}
    calls = []

    def provider(*, organization, metric, aggregation, window, now):
        calls.append((organization.pk, metric, aggregation, window))
        return values.get(metric)

    previous = unregister_indicator_source("compute")
    register_indicator_source("compute", provider)
    yield values, calls
    unregister_indicator_source("compute")
    if previous is not None:
        register_indicator_source("compute", previous)


@pytest.fixture
def saturation(make_risk, engineer):
    risk = make_risk()
    indicator = kri_create(
        risk=risk,
        name="GPU utilization above 90% for an hour",
        source="compute",
        metric="gpu_utilization",
        aggregation="min",
        window=dt.timedelta(hours=1),
        comparison="gt",
        threshold=Decimal(90),
        by=engineer,
    )
    return risk, indicator


def test_breach_flags_the_risk_and_notifies_once_then_clearing_is_recorded(saturation, compute_values, engineer):
    risk, indicator = saturation
    values, calls = compute_values
    values["gpu_utilization"] = Decimal("85")
    assert kri_evaluate(indicator=indicator, now=NOW) == "ok"
    assert calls == [(risk.organization_id, "gpu_utilization", "min", dt.timedelta(hours=1))]

    values["gpu_utilization"] = Decimal("93.5")
    assert risks_evaluate_indicators.delay().get() == {"breached": 1}
    risk.refresh_from_db()
    indicator.refresh_from_db()
    assert risk.flagged_at is not None and indicator.state == KriState.BREACHED
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [engineer.email]
    assert "93.5" in mail.outbox[0].body and risk.ref in mail.outbox[0].subject

    assert risks_evaluate_indicators.delay().get() == {"breaching": 1}  # already flagged: no second email
    assert len(mail.outbox) == 1 and KriEvent.objects.count() == 1

    values["gpu_utilization"] = None  # no samples: neither breaches nor clears
    assert kri_evaluate(indicator=indicator) == "no_data"
    assert Risk.objects.get(pk=risk.pk).flagged_at is not None

    values["gpu_utilization"] = Decimal("60")
    assert kri_evaluate(indicator=indicator) == "cleared"
    assert Risk.objects.get(pk=risk.pk).flagged_at is None
    events = list(KriEvent.objects.order_by("occurred_at", "id").values_list("kind", "value", "notified"))
    assert events == [("breached", Decimal("93.5"), True), ("cleared", Decimal("60"), False)]
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="kri.").order_by("seq")] == [
        "kri.created",
        "kri.breached",
        "kri.cleared",
    ]


def test_a_risk_stays_flagged_while_any_indicator_is_breached(saturation, compute_values, engineer):
    risk, first = saturation
    second = kri_create(
        risk=risk,
        name="Memory",
        source="compute",
        metric="gpu_memory",
        window=dt.timedelta(hours=1),
        threshold=Decimal(95),
        by=engineer,
    )
    values, _ = compute_values
    values.update(gpu_utilization=Decimal(99), gpu_memory=Decimal(99))
    assert kri_evaluate(indicator=first) == kri_evaluate(indicator=second) == "breached"
    values["gpu_utilization"] = Decimal(10)
    assert kri_evaluate(indicator=first) == "cleared"
    assert Risk.objects.get(pk=risk.pk).flagged_at is not None
    values["gpu_memory"] = Decimal(10)
    assert kri_evaluate(indicator=second) == "cleared"
    assert Risk.objects.get(pk=risk.pk).flagged_at is None


def test_compute_without_a_provider_is_unknown_with_the_reason(saturation):
    _risk, indicator = saturation
    previous = unregister_indicator_source("compute")
    try:
        assert kri_evaluate(indicator=indicator) == "unavailable"
    finally:
        if previous is not None:
            register_indicator_source("compute", previous)
    indicator.refresh_from_db()
    assert indicator.state == KriState.UNKNOWN
    assert indicator.last_error == "No value provider is registered for 'compute' indicators yet."


def test_kpi_indicator_reads_kpi_readings_of_its_own_organization(make_risk, officer, org):
    from apps.funding.models import KpiReading
    from tests.factories import OrganizationFactory

    risk = make_risk(title="Latency", category="infrastructure")
    indicator = kri_create(
        risk=risk,
        name="Latency above 250 ms",
        source="kpi",
        metric="latency_ms",
        aggregation="last",
        window=dt.timedelta(days=30),
        comparison="gt",
        threshold=Decimal(250),
        by=officer,
    )
    today = timezone.localdate()

    def reading(organization, value, days_ago, source="apm"):
        end = today - dt.timedelta(days=days_ago)
        KpiReading.objects.create(
            organization=organization,
            metric="latency_ms",
            value=Decimal(value),
            period_start=end,
            period_end=end,
            source=source,
        )

    reading(OrganizationFactory(), 900, 1)  # another organization's reading must not count
    reading(org, 400, 60)  # outside the window
    assert kri_evaluate(indicator=indicator) == "no_data"
    reading(org, 180, 5)
    assert kri_evaluate(indicator=indicator) == "ok"
    reading(org, 310, 1)
    assert kri_evaluate(indicator=indicator) == "breached"
    indicator.refresh_from_db()
    assert indicator.last_value == Decimal(310)


def test_kri_api_is_scoped_and_role_checked(client_for, saturation, viewer, outsider, officer, compute_values):
    risk, indicator = saturation
    compute_values[0]["gpu_utilization"] = Decimal(99)
    kri_evaluate(indicator=indicator)
    events = client_for(viewer).get(f"/api/key-risk-indicators/{indicator.pk}/events/")
    assert events.status_code == 200 and [e["kind"] for e in events.json()] == ["breached"]
    response = client_for(viewer).post(
        "/api/key-risk-indicators/",
        {
            "risk": str(risk.pk),
            "name": "x",
            "source": "kpi",
            "metric": "revenue",
            "window": "1 00:00:00",
            "threshold": "1",
        },
    )
    assert response.status_code == 403
    assert client_for(outsider).get(f"/api/key-risk-indicators/{indicator.pk}/events/").status_code == 404
    response = client_for(officer).post(
        "/api/key-risk-indicators/",
        {
            "risk": str(risk.pk),
            "name": "Revenue dip",
            "source": "kpi",
            "metric": "revenue",
            "window": "30 00:00:00",
            "aggregation": "sum",
            "comparison": "lt",
            "threshold": "10000",
        },
    )
    assert response.status_code == 201, response.json()
    assert client_for(officer).get(f"/api/risks/{risk.pk}/").json()["flagged"] is True


@pytest.mark.django_db(transaction=True)
def test_indicator_delete_waits_for_an_evaluation_holding_the_risk(saturation, engineer, postgres):
    """Risk, indicator, audit chain head: kri_delete and kri_evaluate take them in that order (no deadlock)."""
    from apps.risks.services.indicators import kri_delete
    from tests.core.test_delete_lock_order import race_delete_against_update

    risk, indicator = saturation

    errors = race_delete_against_update(
        organization=risk.organization,
        lock_row=lambda: Risk.objects.select_for_update().get(pk=risk.pk),
        delete=lambda: kri_delete(indicator=indicator, by=engineer),
    )

    assert errors == []
    assert not risk.indicators.exists()
