"""KPI readings entered on a milestone's page, and a compute criterion evaluated now, with its report shown."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.compute.models import VerificationReport
from apps.funding.models import CriterionKind, KpiReading
from apps.funding.services.milestones import criterion_add, milestone_create
from apps.tenancy.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def milestone(make_grant, people):
    grant = make_grant()
    return milestone_create(
        parent=grant, by=people[Role.FINANCE], title="Pilot", amount=Decimal("1000"), due_date=dt.date(2027, 6, 30)
    )


def test_a_kpi_reading_is_entered_beside_its_criterion(browser_for, people, milestone):
    finance = people[Role.FINANCE]
    config = {
        "metric": "revenue",
        "aggregation": "sum",
        "comparison": "gte",
        "threshold": "100000",
        "period_start": "2026-01-01",
        "period_end": "2026-03-31",
    }
    criterion_add(milestone=milestone, by=finance, kind=CriterionKind.KPI, description="Q1 revenue", config=config)
    client = browser_for(finance)
    page = client.get(f"/grants/{milestone.grant_id}/").content.decode()
    assert "Revenue (sum) ≥ 100000, 1 Jan 2026 to 31 Mar 2026" in page
    assert "Record a KPI reading" in page and f'name="kpi-{milestone.pk}-value"' in page
    prefix = f"kpi-{milestone.pk}"
    posted = client.post(
        f"/milestones/{milestone.pk}/kpi-readings/",
        {
            f"{prefix}-metric": "revenue",
            f"{prefix}-value": "120000.50",
            f"{prefix}-unit": "EUR",
            f"{prefix}-period_start": "2026-01-01",
            f"{prefix}-period_end": "2026-03-31",
            f"{prefix}-source": "ledger",
        },
    )
    assert posted.status_code == 302 and posted["Location"].endswith(f"#m-{milestone.pk}")
    reading = KpiReading.objects.get(organization=milestone.organization)
    assert reading.value == Decimal("120000.50") and reading.recorded_by == finance
    assert AuditEvent.objects.filter(action="kpi.recorded", object_id=str(reading.pk)).exists()
    message = client.get(posted["Location"]).content.decode()
    assert "Revenue 120000.5 for 1 Jan 2026 to 31 Mar 2026 recorded" in message

    again = client.post(
        f"/milestones/{milestone.pk}/kpi-readings/",
        {
            f"{prefix}-metric": "revenue",
            f"{prefix}-value": "1",
            f"{prefix}-period_start": "2026-01-01",
            f"{prefix}-period_end": "2026-03-31",
            f"{prefix}-source": "ledger",
        },
    )
    assert again.status_code == 409 and "Period start: Duplicate reading for this metric" in again.content.decode()
    viewer_page = browser_for(people[Role.VIEWER]).get(f"/grants/{milestone.grant_id}/").content.decode()
    assert "Record a KPI reading" not in viewer_page


def test_evaluate_now_records_the_report_and_shows_it(browser_for, people, milestone, fleet):
    criterion = criterion_add(
        milestone=milestone,
        by=people[Role.FINANCE],
        kind=CriterionKind.COMPUTE,
        description="GPUs busy",
        config={
            "metric": "gpu.utilization",
            # The GPUs only: a window seals after the largest lateness allowance of the devices it selects, and the
            # edge board's (hours, for agents that spool offline) would put this one hours back.
            "device_kind": "gpu",
            "aggregation": "avg",
            "comparison": "gte",
            "threshold": 70,
            "window_days": 0.1,
            "min_coverage": 0.5,
        },
    )
    engineer = browser_for(people[Role.ENGINEER])
    page = engineer.get(f"/grants/{milestone.grant_id}/").content.decode()
    assert f'action="/criteria/{criterion.pk}/evaluate/"' in page
    response = engineer.post(f"/criteria/{criterion.pk}/evaluate/", follow=True)
    report = VerificationReport.objects.get(criterion=criterion)
    page = response.content.decode()
    assert "Evaluated now: the criterion passed (value 80.00, 2 device(s)" in page
    assert report.sha256 in page  # the report is on the milestone, with its hash
    viewer = browser_for(people[Role.VIEWER])
    assert "/evaluate/" not in viewer.get(f"/grants/{milestone.grant_id}/").content.decode()
    refused = viewer.post(f"/criteria/{criterion.pk}/evaluate/")
    assert refused.status_code == 403 and "evaluate a compute criterion" in refused.content.decode()
