"""Budget and reporting work in the browser: finance records and voids expenses, moves budget between lines and
submits a period's report; the funder (a viewer) approves or returns it and decides re-allocations. Each step
through the dashboard's own posts, checked by what the page then says and what the ledger and audit trail hold."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.funding.models import AmendmentStatus, BudgetLine, Expense, Grant, PeriodStatus, ReportingPeriod
from apps.funding.services.budget import budget_line_add
from apps.tenancy.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def grant(make_grant, people):
    grant = make_grant(amount="100000")
    finance = people[Role.FINANCE]
    budget_line_add(parent=grant, by=finance, category="compute", name="GPU hours", amount=Decimal("60000"))
    budget_line_add(parent=grant, by=finance, category="personnel", name="Engineers", amount=Decimal("40000"))
    return grant


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def line(grant, name) -> BudgetLine:
    return grant.budget_lines.get(name=name)


def test_finance_records_an_expense_and_voids_it_with_a_reason(browser_for, people, grant):
    finance = browser_for(people[Role.FINANCE])
    page = finance.get(f"/grants/{grant.pk}/")
    assert "Record an expense" in text(page) and "Void…" not in text(page)
    answer = finance.post(
        f"/grants/{grant.pk}/expenses/",
        {
            "budget_line": str(line(grant, "GPU hours").pk),
            "amount": "1250.50",
            "spent_on": "2026-11-20",
            "description": "November H200 hours",
            "reference": "INV-2026-118",
        },
        follow=True,
    )
    assert answer.redirect_chain[-1][0].endswith(f"/grants/{grant.pk}/#budget-work")
    assert "Expense of 1,250.50 EUR recorded on “GPU hours”." in text(answer)
    assert "November H200 hours" in text(answer) and "1,250.50 EUR" in text(answer)
    expense = Expense.objects.get(description="November H200 hours")

    refused = finance.post(f"/expenses/{expense.pk}/void/", {"reason": ""})
    assert refused.status_code == 400 and "Reason: Say why: a reason is required for this step." in text(refused)
    voided = finance.post(f"/expenses/{expense.pk}/void/", {"reason": "Billed twice"}, follow=True)
    assert "Expense voided by an entry of -1,250.50 EUR; both stay on record." in text(voided)
    assert "voided" in text(voided) and "(reason: Billed twice)" in text(voided)
    assert Expense.objects.filter(voids=expense, amount=Decimal("-1250.50"), reason="Billed twice").exists()
    assert AuditEvent.objects.filter(action="budget.expense_voided", object_id=str(expense.pk)).exists()
    # A second void is refused by the service, shown on the page, and records nothing.
    again = finance.post(f"/expenses/{expense.pk}/void/", {"reason": "again"})
    assert again.status_code == 409 and "This expense is already voided." in text(again)
    assert Expense.objects.filter(budget_line__grant=grant).count() == 2


def test_an_expense_outside_the_grant_period_is_refused_beside_its_field(browser_for, people, grant):
    answer = browser_for(people[Role.FINANCE]).post(
        f"/grants/{grant.pk}/expenses/",
        {"budget_line": str(line(grant, "GPU hours").pk), "amount": "10", "spent_on": "2025-06-01", "description": "x"},
    )
    assert answer.status_code == 400
    assert "Expenses fall within the grant period 2026-01-01 to 2027-12-31." in text(answer)
    assert not Expense.objects.exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ENGINEER, Role.COMPLIANCE])
def test_roles_outside_finance_see_no_budget_forms_and_their_posts_are_refused(browser_for, people, grant, role):
    client = browser_for(people[role])
    page = text(client.get(f"/grants/{grant.pk}/"))
    for form in ("Record an expense", "Add a budget line", "Move budget between lines", "Set the reporting schedule"):
        assert form not in page
    answer = client.post(
        f"/grants/{grant.pk}/expenses/",
        {"budget_line": str(line(grant, "GPU hours").pk), "amount": "10", "spent_on": "2026-11-01", "description": "x"},
    )
    assert answer.status_code == 403 and not Expense.objects.exists()


def test_a_reallocation_waits_for_the_funder_who_approves_it(browser_for, people, grant):
    Grant.objects.filter(pk=grant.pk).update(reallocation_needs_funder_approval=True)
    finance = browser_for(people[Role.FINANCE])
    body = {
        "from_line": str(line(grant, "GPU hours").pk),
        "to_line": str(line(grant, "Engineers").pk),
        "amount": "5000",
        "reason": "Cloud credits covered November",
    }
    asked = finance.post(f"/grants/{grant.pk}/re-allocations/", body, follow=True)
    assert "Moving 5,000.00 EUR from “GPU hours” to “Engineers” now waits for the funder." in text(asked)
    assert line(grant, "GPU hours").amount == Decimal("60000")
    amendment = grant.budget_lines.get(name="GPU hours").amendments_out.get()
    # Finance cannot decide its own request: the funder's buttons are not on its page, its post is refused.
    assert finance.post(f"/re-allocations/{amendment.pk}/action/", {"action": "approve"}).status_code == 403

    funder = browser_for(people[Role.VIEWER])
    page = text(funder.get(f"/grants/{grant.pk}/"))
    assert "Approve the re-allocation" in page and "Reject the re-allocation" in page
    approved = funder.post(f"/re-allocations/{amendment.pk}/action/", {"action": "approve"}, follow=True)
    assert "Re-allocation applied." in text(approved)
    assert (line(grant, "GPU hours").amount, line(grant, "Engineers").amount) == (Decimal("55000"), Decimal("45000"))
    amendment.refresh_from_db()
    assert amendment.status == AmendmentStatus.APPLIED and amendment.decided_by == people[Role.VIEWER]


def test_the_funder_returns_a_report_with_comments_and_approves_the_resubmission(browser_for, people, grant):
    finance = browser_for(people[Role.FINANCE])
    scheduled = finance.post(
        f"/grants/{grant.pk}/reporting-schedule/", {"frequency": "quarterly", "due_days": "30"}, follow=True
    )
    assert "8 reporting periods scheduled." in text(scheduled)  # 2026-01-01 .. 2027-12-31, by quarter
    first = ReportingPeriod.objects.filter(grant=grant).order_by("start").first()
    assert (first.start, first.end, first.due_date) == (dt.date(2026, 1, 1), dt.date(2026, 3, 31), dt.date(2026, 4, 30))

    empty = finance.post(f"/reporting-periods/{first.pk}/action/", {"action": "submit", "narrative": ""})
    assert empty.status_code == 400 and "Write the period&#x27;s narrative before submitting." in text(empty)
    attached = finance.post(
        f"/reporting-periods/{first.pk}/attachments/",
        {"file": _upload("q1-ledger.csv", b"line,amount\ngpu,100\n")},
        follow=True,
    )
    assert "“q1-ledger.csv” attached to the report for 1 Jan 2026 to 31 Mar 2026." in text(attached)
    finance.post(f"/reporting-periods/{first.pk}/action/", {"action": "submit", "narrative": "Pilot sites live."})
    first.refresh_from_db()
    assert first.status == PeriodStatus.SUBMITTED and first.financial["lines"]

    funder = browser_for(people[Role.VIEWER])
    assert "Return with comments" in text(funder.get(f"/grants/{grant.pk}/"))
    no_reason = funder.post(f"/reporting-periods/{first.pk}/action/", {"action": "return", "note": ""})
    assert no_reason.status_code == 400
    first.refresh_from_db()
    assert first.status == PeriodStatus.SUBMITTED
    funder.post(f"/reporting-periods/{first.pk}/action/", {"action": "return", "note": "Add the site list."})
    page = text(finance.get(f"/grants/{grant.pk}/"))
    assert "The funder's comments:</strong> Add the site list." in page
    finance.post(
        f"/reporting-periods/{first.pk}/action/", {"action": "submit", "narrative": "Pilot sites live: Lyon, Porto."}
    )
    approved = funder.post(f"/reporting-periods/{first.pk}/action/", {"action": "approve"}, follow=True)
    assert "The report for 1 Jan 2026 to 31 Mar 2026 is approved." in text(approved)
    first.refresh_from_db()
    assert (first.status, first.decided_by) == (PeriodStatus.APPROVED, people[Role.VIEWER])
    actions = list(
        AuditEvent.objects.filter(action="reporting_period.status_changed", object_id=str(first.pk))
        .order_by("seq")
        .values_list("after__status", flat=True)
    )
    assert actions == ["submitted", "returned", "submitted", "approved"]


def test_another_organizations_rows_are_not_found(browser_for, outsider, grant, people):
    expense_line = line(grant, "GPU hours")
    client = browser_for(outsider)
    assert client.post(f"/grants/{grant.pk}/expenses/", {"budget_line": str(expense_line.pk)}).status_code == 404
    ReportingPeriod.objects.create(
        organization=grant.organization,
        grant=grant,
        frequency="custom",
        start=grant.period_start,
        end=grant.period_start,
        due_date=grant.period_start,
    )
    period = ReportingPeriod.objects.get(grant=grant)
    assert client.post(f"/reporting-periods/{period.pk}/action/", {"action": "approve"}).status_code == 404


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_waiting_for_me_shows_the_funder_its_decisions_and_finance_its_reports(browser_for, people, make_grant):
    """The funder sees a submitted report and an asked re-allocation; finance sees an overdue report flagged, one
    falling due within two weeks, and none further out."""
    from django.utils import timezone

    from apps.funding.services.budget import budget_amendment_propose
    from apps.funding.services.reporting import period_report_submit, reporting_schedule_set

    today = timezone.localdate()
    day = lambda offset: today + dt.timedelta(days=offset)  # noqa: E731
    grant = make_grant(title="Fleet pilot", amount="1000", period_start=day(-200), period_end=day(400))
    Grant.objects.filter(pk=grant.pk).update(reallocation_needs_funder_approval=True)
    grant.refresh_from_db()
    finance = people[Role.FINANCE]
    gpu = budget_line_add(parent=grant, by=finance, category="compute", name="GPU hours", amount=Decimal("600"))
    staff = budget_line_add(parent=grant, by=finance, category="personnel", name="Engineers", amount=Decimal("400"))
    spans = [(-200, -150, -120), (-149, -60, -30), (-59, -20, 10), (-19, 30, 60)]
    reporting_schedule_set(
        grant=grant,
        by=finance,
        frequency="custom",
        periods=[{"start": day(a), "end": day(b), "due_date": day(c)} for a, b, c in spans],
    )
    periods = list(ReportingPeriod.objects.filter(grant=grant).order_by("start"))
    period_report_submit(period=periods[0], by=finance, narrative="First months")
    budget_amendment_propose(from_line=gpu, to_line=staff, by=finance, amount="70", reason="x")

    def words(period):
        return f"{period.start:%-d %b %Y} to {period.end:%-d %b %Y} of Fleet pilot"

    funder_inbox = text(browser_for(people[Role.VIEWER]).get("/waiting/"))
    assert f"Review the report for {words(periods[0])}" in funder_inbox
    assert "Decide moving 70.00 EUR from GPU hours to Engineers (Fleet pilot)" in funder_inbox
    assert "Write the report" not in funder_inbox

    finance_inbox = text(browser_for(finance).get("/waiting/"))
    assert f"Write the report for {words(periods[1])}" in finance_inbox  # overdue
    assert f"Write the report for {words(periods[2])}" in finance_inbox  # due in 10 days
    assert words(periods[3]) not in finance_inbox  # due in 60 days
    assert "Review the report" not in finance_inbox
