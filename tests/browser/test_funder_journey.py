"""The funder's journey in Chromium (a viewer of the organization, at laptop and phone widths): what waits for a
decision, an interim report read and approved, a re-allocation approved; axe-core on every page touched and
screenshots under var/browser/."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from apps.funding.models import (
    AmendmentStatus,
    BudgetAmendment,
    Funder,
    FunderKind,
    Grant,
    PeriodStatus,
    ReportingPeriod,
)
from apps.funding.services.budget import budget_amendment_propose, budget_line_add
from apps.funding.services.grants import grant_create
from apps.funding.services.reporting import period_report_submit, reporting_schedule_set
from apps.tenancy.models import Role
from tests.browser.conftest import LAPTOP, PHONE, sign_in

pytestmark = pytest.mark.services


@pytest.fixture
def reported_grant(org, people):
    finance = people[Role.FINANCE]
    funder = Funder.objects.create(organization=org, name="Open Compute Commons", kind=FunderKind.FOUNDATION)
    grant = grant_create(
        organization=org,
        by=finance,
        funder=funder,
        title="Regional inference fabric",
        currency="EUR",
        amount_requested=Decimal("200000"),
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 12, 31),
    )
    Grant.objects.filter(pk=grant.pk).update(reallocation_needs_funder_approval=True)
    grant.refresh_from_db()
    gpu = budget_line_add(parent=grant, by=finance, category="compute", name="GPU hours", amount=Decimal("150000"))
    staff = budget_line_add(parent=grant, by=finance, category="personnel", name="Engineers", amount=Decimal("50000"))
    reporting_schedule_set(grant=grant, by=finance, frequency="yearly", due_days=30)
    period = ReportingPeriod.objects.get(grant=grant)
    period_report_submit(period=period, by=finance, narrative="Three regions serve inference since September.")
    budget_amendment_propose(from_line=gpu, to_line=staff, by=finance, amount="12000", reason="On-call rota")
    return grant


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_funder_approves_a_report_and_a_reallocation(
    live_server, page, people, reported_grant, artifacts, check_accessibility, viewport
):
    width = "phone" if viewport == PHONE else "laptop"
    page.set_default_timeout(10_000)
    page.set_viewport_size(viewport)
    sign_in(page, live_server.url, people[Role.VIEWER])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Waiting for me", exact=True).click()
    page.wait_for_load_state()
    check_accessibility(page, "waiting for me")
    page.get_by_role("link", name=re.compile("Review the report for 1 Jan 2026 to 31 Dec 2026")).click()
    page.wait_for_url(re.compile(r"/grants/[0-9a-f-]{36}/#budget-work$"))

    # The report as submitted: its narrative and the financial part from the ledger; no grantee forms.
    period = page.get_by_test_id("period")
    period.locator("summary").first.click()
    assert period.get_by_text("Three regions serve inference since September.").is_visible()
    assert period.locator("table", has_text="GPU hours").is_visible()
    assert page.get_by_text("Record an expense").count() == 0
    check_accessibility(page, "grant with a report to decide")
    page.screenshot(path=artifacts / f"funder-report-{width}.png", full_page=True)
    period.get_by_text("Approve the report…").click()
    assert period.get_by_text("Tranches waiting for it may then be released.").is_visible()
    period.locator("button[data-confirm-action=approve]").click()
    page.wait_for_load_state()
    assert page.get_by_text("The report for 1 Jan 2026 to 31 Dec 2026 is approved.").is_visible()

    # The re-allocation: approved by the funder, the lines follow.
    row = page.locator("tr", has_text="On-call rota")
    row.get_by_role("button", name="Approve the re-allocation").click()
    page.wait_for_load_state()
    assert page.get_by_text("Re-allocation applied.").is_visible()
    check_accessibility(page, "grant after the decisions")
    page.screenshot(path=artifacts / f"funder-decided-{width}.png", full_page=True)
    # Nothing is cut at this width: wide tables and charts scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    assert ReportingPeriod.objects.get(grant=reported_grant).status == PeriodStatus.APPROVED
    amendment = BudgetAmendment.objects.get(from_line__grant=reported_grant)
    assert (amendment.status, amendment.decided_by) == (AmendmentStatus.APPLIED, people[Role.VIEWER])
