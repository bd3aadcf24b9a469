"""The browser faces: the grant page's budget lines, the compute economics page, the scorecard, and the grant
report PDF's budget table."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.compute.models import Device, SampleRollup
from apps.economics.models import CostAttribution, RateCard, SuccessMetric
from apps.funding.models import BudgetLine, Expense, ReportingPeriod
from apps.tenancy.models import Role
from tests.dashboard.conftest import browser_for  # noqa: F401 - the signed-in browser session fixture
from tests.funding.factories import GrantFactory
from tests.reports.test_grant_report import pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned_grant(org):
    today = dt.date.today()
    grant = GrantFactory(
        organization=org,
        title="Edge inference",
        period_start=today - dt.timedelta(days=60),
        period_end=today + dt.timedelta(days=300),
    )
    line = BudgetLine.objects.create(
        organization=org,
        grant=grant,
        category="compute",
        name="Cluster hours",
        currency="EUR",
        amount_original=Decimal("60000"),
        amount=Decimal("60000"),
    )
    Expense.objects.create(
        organization=org,
        budget_line=line,
        amount=Decimal("1234.50"),
        currency="EUR",
        spent_on=today - dt.timedelta(days=3),
        description="Colocation",
    )
    ReportingPeriod.objects.create(
        organization=org,
        grant=grant,
        frequency="quarterly",
        start=grant.period_start,
        end=today,
        due_date=today + dt.timedelta(days=30),
    )
    gpu = Device.objects.create(organization=org, key="gpu-idle-7", labels={"cluster": "b"})
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    SampleRollup.objects.bulk_create(
        SampleRollup(
            device=gpu,
            metric="gpu.utilization",
            minute=now - dt.timedelta(minutes=m),
            avg=10.0,
            min=10.0,
            max=10.0,
            count=6,
        )
        for m in range(1, 121)
    )
    RateCard.objects.create(
        organization=org,
        name="Cloud b",
        kind="cloud",
        currency="EUR",
        price_per_gpu_hour=Decimal("3.00"),
        valid_from=today - dt.timedelta(days=90),
    )
    CostAttribution.objects.create(organization=org, name="b", device_selector={"cluster": "b"}, budget_line=line)
    SuccessMetric.objects.create(
        organization=org,
        key="gpu-utilization",
        name="GPU utilization",
        source="compute",
        compute_figure="utilization_pct",
        direction="gte",
        target=Decimal("70"),
    )
    return grant


def test_grant_page_shows_budget_vs_actual_and_metered_compute(browser_for, people, planned_grant):  # noqa: F811
    html = browser_for(people[Role.VIEWER]).get(f"/grants/{planned_grant.pk}/").content.decode()
    assert "Budget lines" in html and "Cluster hours" in html
    assert "60,000.00" in html and "1,234.50" in html and "58,765.50" in html
    assert "6.00" in html  # 2 GPU-hours at 3.00 metered on the line
    assert "Reporting periods" in html


def test_compute_economics_page_and_scorecard(browser_for, people, planned_grant):  # noqa: F811
    client = browser_for(people[Role.VIEWER])
    html = client.get("/compute/economics/").content.decode()
    assert "Biggest idle costs" in html and "gpu-idle-7" in html
    assert "5.40" in html  # 1.8 idle hours at 3.00
    scorecard = client.get("/scorecard/").content.decode()
    assert "GPU utilization" in scorecard and "Off target" in scorecard


def test_grant_report_pdf_carries_the_budget_table(browser_for, people, planned_grant, tmp_path):  # noqa: F811
    response = browser_for(people[Role.VIEWER]).get(f"/grants/{planned_grant.pk}/report.pdf")
    assert response.status_code == 200
    text = pdf_text(response.content, tmp_path)
    assert "Budget lines" in text and "Cluster hours" in text and "58,765.50" in text
    assert "Reporting periods" in text
