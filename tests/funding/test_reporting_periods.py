import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.funding.models import BudgetLine, Expense, KpiReading, PeriodReminder, ReportingPeriod
from apps.funding.services.reporting import period_reminders_deliver, period_reminders_write, schedule_periods
from tests.funding.factories import GrantFactory

pytestmark = pytest.mark.django_db


def test_schedules_cut_the_grant_period_into_whole_months():
    quarters = schedule_periods(
        start=dt.date(2026, 1, 31), end=dt.date(2026, 12, 15), frequency="quarterly", due_days=30
    )
    assert quarters == [
        (dt.date(2026, 1, 31), dt.date(2026, 4, 29), dt.date(2026, 5, 29)),
        (dt.date(2026, 4, 30), dt.date(2026, 7, 30), dt.date(2026, 8, 29)),
        (dt.date(2026, 7, 31), dt.date(2026, 10, 30), dt.date(2026, 11, 29)),
        (dt.date(2026, 10, 31), dt.date(2026, 12, 15), dt.date(2027, 1, 14)),
    ]
    assert (
        len(schedule_periods(start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31), frequency="monthly", due_days=0))
        == 12
    )


@pytest.fixture
def grant(org, people, client_for):
    grant = GrantFactory(organization=org)
    response = client_for(people["finance"]).post(
        "/api/reporting-periods/schedule/", {"grant": str(grant.pk), "frequency": "quarterly"}, format="json"
    )
    assert response.status_code == 201 and len(response.json()) == 4
    return grant


def test_a_second_schedule_keeps_the_periods_on_record(grant, people, client_for):
    response = client_for(people["finance"]).post(
        "/api/reporting-periods/schedule/", {"grant": str(grant.pk), "frequency": "quarterly"}, format="json"
    )
    assert response.status_code == 201 and response.json() == []
    custom = client_for(people["finance"]).post(
        "/api/reporting-periods/schedule/",
        {"grant": str(grant.pk), "frequency": "custom", "periods": [{"start": "2026-03-01", "end": "2026-02-01"}]},
        format="json",
    )
    assert custom.status_code == 400 and list(custom.json()["extra"]["fields"]) == ["periods.0.end"]
    assert ReportingPeriod.objects.filter(grant=grant).count() == 4


def test_report_is_built_from_the_ledger_submitted_returned_and_approved(grant, org, people, client_for):
    line = BudgetLine.objects.create(
        organization=org,
        grant=grant,
        category="compute",
        name="GPU",
        currency="EUR",
        amount_original=Decimal("50000"),
        amount=Decimal("50000"),
    )
    Expense.objects.create(
        organization=org,
        budget_line=line,
        amount=Decimal("1200"),
        currency="EUR",
        spent_on=dt.date(2026, 2, 10),
        description="Cloud",
    )
    Expense.objects.create(
        organization=org,
        budget_line=line,
        amount=Decimal("800"),
        currency="EUR",
        spent_on=dt.date(2026, 5, 10),
        description="Cloud, Q2",
    )
    KpiReading.objects.create(
        organization=org,
        metric="customers",
        value=12,
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 31),
        source="crm",
    )
    period = ReportingPeriod.objects.filter(grant=grant).order_by("start").first()
    finance, funder = client_for(people["finance"]), client_for(people["viewer"])
    upload = SimpleUploadedFile("q1.csv", b"item,amount\ncloud,1200\n")
    attached = finance.post(f"/api/reporting-periods/{period.pk}/attachments/", {"file": upload}, format="multipart")
    assert attached.status_code == 201
    download = funder.get(f"/api/period-attachments/{attached.json()['id']}/download/")
    assert b"".join(download.streaming_content) == b"item,amount\ncloud,1200\n"

    empty = finance.post(f"/api/reporting-periods/{period.pk}/submit/", {}, format="json")
    assert empty.status_code == 400 and list(empty.json()["extra"]["fields"]) == ["narrative"]
    assert (
        funder.post(f"/api/reporting-periods/{period.pk}/submit/", {"narrative": "x"}, format="json").status_code == 403
    )
    body = finance.post(f"/api/reporting-periods/{period.pk}/submit/", {"narrative": "Q1 done"}, format="json").json()
    assert body["status"] == "submitted"
    assert body["financial"]["lines"][0]["actual"] == "1200.00"  # the Q2 expense is not in Q1
    assert body["financial"]["lines"][0]["remaining"] == "48000.00"
    assert body["kpi_snapshot"] == [
        {
            "metric": "customers",
            "value": "12.000000",
            "unit": "",
            "period_start": "2026-03-01",
            "period_end": "2026-03-31",
            "source": "crm",
        }
    ]
    assert finance.post(f"/api/reporting-periods/{period.pk}/approve/", {}, format="json").status_code == 403

    returned = funder.post(
        f"/api/reporting-periods/{period.pk}/return/", {"reason": "Add the GPU-hours"}, format="json"
    )
    assert returned.json()["status"] == "returned"
    assert returned.json()["status_reason"] == "Add the GPU-hours"
    finance.post(f"/api/reporting-periods/{period.pk}/submit/", {"narrative": "Q1, with GPU-hours"}, format="json")
    approved = funder.post(f"/api/reporting-periods/{period.pk}/approve/", {}, format="json").json()
    assert approved["status"] == "approved" and approved["decided_by"] == people["viewer"].pk
    actions = [e.after["status"] for e in AuditEvent.objects.filter(action="reporting_period.status_changed")]
    assert actions == ["submitted", "returned", "submitted", "approved"]


def test_reminders_come_before_the_due_date_once_and_weekly_when_overdue(grant, org, people, settings):
    settings.REMINDER_DAYS_AHEAD = 7
    first = ReportingPeriod.objects.filter(grant=grant).order_by("start").first()  # Q1, due 2026-04-30
    assert period_reminders_write(today=dt.date(2026, 4, 22)) == []
    written = period_reminders_write(today=dt.date(2026, 4, 23))
    assert [(r.period_id, r.kind) for r in written] == [(first.pk, "upcoming")]
    assert period_reminders_write(today=dt.date(2026, 4, 24)) == []
    assert [r.kind for r in period_reminders_write(today=dt.date(2026, 5, 1))] == ["overdue"]
    assert period_reminders_write(today=dt.date(2026, 5, 7)) == []
    assert [r.kind for r in period_reminders_write(today=dt.date(2026, 5, 8))] == ["overdue"]

    assert period_reminders_deliver() == 3
    assert period_reminders_deliver() == 0
    assert len(mail.outbox) == 3
    assert mail.outbox[1].subject.startswith("[govtrack] Report overdue:")
    assert "OVERDUE by 1 day(s)" in mail.outbox[1].body
    assert set(mail.outbox[0].to) == {people["owner"].email, people["finance"].email} - {""}

    first.status = "approved"
    first.save(update_fields=["status"])
    assert period_reminders_write(today=dt.date(2026, 5, 20)) == []
    assert PeriodReminder.objects.count() == 3
