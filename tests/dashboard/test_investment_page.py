"""The investment page: the same sections as a grant's, the actions each role is offered, scoping, query counts."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.funding.models import Investment, MilestoneStatus
from apps.funding.services.budget import expense_record
from apps.funding.services.milestones import criterion_add, criterion_approve, milestone_act, milestone_create
from apps.tenancy.models import Membership, Role
from tests.funding.factories import InvestmentFactory, MilestoneFactory

# 30: the grant page's sections, the investor's criteria, a budget line with its metered compute cost (6), the
# organization's policy. A query per milestone would break it at ten.
INVESTMENT_PAGE_MAX_QUERIES = 30


@pytest.fixture
def investment(make_investment, people):
    investment = make_investment()
    finance, owner = people[Role.FINANCE], people[Role.OWNER]
    online = milestone_create(
        parent=investment, by=finance, title="Cluster online", amount=Decimal("500000"), due_date=dt.date(2026, 3, 1)
    )
    criterion_add(milestone=online, by=finance, kind="manual", description="Cluster accepted by the investor")
    online = milestone_act(milestone=online, by=finance, action="start")
    criterion_approve(criterion=online.criteria.get(), by=owner)
    customers = milestone_create(
        parent=investment,
        by=finance,
        title="First 25 customers",
        amount=Decimal("250000"),
        due_date=dt.date(2026, 6, 1),
    )
    criterion_add(
        milestone=customers,
        by=finance,
        kind="kpi",
        description="25 paying customers",
        config={
            "metric": "customers",
            "aggregation": "latest",
            "comparison": "gte",
            "threshold": "25",
            "period_start": "2026-01-01",
            "period_end": "2026-06-30",
        },
    )
    line = investment.budget_lines.get()
    expense_record(
        budget_line=line, by=finance, amount="125000.50", spent_on=dt.date(2026, 1, 20), description="GPU reservation"
    )
    return investment


def test_investment_page_shows_what_a_grant_page_shows(browser_for, people, investment):
    page = browser_for(people[Role.FINANCE]).get(f"/investments/{investment.pk}/")
    text = page.content.decode()
    assert page.status_code == 200
    for expected in (
        "Seed round for the Blackwell cluster",
        "Northwind Ventures",
        "Committed vs. disbursed",
        "Terms",
        "Ethical alignment",  # what the investor was chosen for
        "Budget lines",
        "GPU hours",
        "125,000.50",  # actual against the line
        "674,999.50",  # remaining of 800,000
        "Cluster accepted by the investor",
        f"Approvals: {people[Role.OWNER].username} (owner, manual criterion)",
        "Customers (latest) ≥ 25, 1 Jan 2026 to 30 Jun 2026",  # the KPI criterion's rule in words
        "Record a KPI reading",
        "On-chain attestations and payments",
        "Not escrowed: this investment",
        "Disbursements",
        "Activity",
        "Investment report (PDF)",
        f'action="/investments/{investment.pk}/report.pdf"',
    ):
        assert expected in text, expected
    assert "compute" not in text.split("GPU hours", 1)[1].split("</tr>", 1)[0]  # the category in words


def test_finance_is_offered_the_actions_and_a_viewer_none(browser_for, people, investment):
    finance = browser_for(people[Role.FINANCE]).get(f"/investments/{investment.pk}/").content.decode()
    assert 'data-action="activate"' in finance  # the investment's status, from INVESTMENTS
    assert 'data-action="submit"' in finance  # the milestone's next step, from MILESTONES
    assert "Submit evidence" in finance and "Record a KPI reading" in finance

    viewer = browser_for(people[Role.VIEWER]).get(f"/investments/{investment.pk}/")
    text = viewer.content.decode()
    assert viewer.status_code == 200
    assert "Cluster online" in text and "GPU hours" in text and "Download PDF" in text
    for offered in ("data-action=", "Submit evidence", "Record a KPI reading", "Approve criterion", "Evaluate now"):
        assert offered not in text, offered


def test_an_engineer_works_on_milestones_but_not_on_the_investment(browser_for, people, investment):
    text = browser_for(people[Role.ENGINEER]).get(f"/investments/{investment.pk}/").content.decode()
    assert "Submit evidence" in text
    assert 'data-action="activate"' not in text and 'data-action="withdraw"' not in text


def test_status_action_runs_through_the_machine_and_a_refusal_is_shown(browser_for, people, investment):
    url = f"/investments/{investment.pk}/status/"
    done = browser_for(people[Role.FINANCE]).post(url, {"action": "activate"})
    assert done.status_code == 302
    assert Investment.objects.get(pk=investment.pk).status == "active"

    refused = browser_for(people[Role.VIEWER]).post(url, {"action": "close"})
    assert refused.status_code == 403
    assert "To change an investment&#x27;s status you need one of the roles" in refused.content.decode()
    assert Investment.objects.get(pk=investment.pk).status == "active"
    assert browser_for(people[Role.FINANCE]).post(url, {"action": "nonsense"}).status_code == 404


def test_withdrawing_needs_a_reason(browser_for, people, investment):
    response = browser_for(people[Role.FINANCE]).post(f"/investments/{investment.pk}/status/", {"action": "withdraw"})
    assert response.status_code == 400
    assert Investment.objects.get(pk=investment.pk).status == "committed"


def test_another_organizations_investment_is_not_found(browser_for, people, outsider):
    theirs = InvestmentFactory(organization=Membership.objects.get(user=outsider).organization)
    client = browser_for(people[Role.OWNER])
    assert client.get(f"/investments/{theirs.pk}/").status_code == 404
    assert client.post(f"/investments/{theirs.pk}/status/", {"action": "close"}).status_code == 404
    assert client.get(f"/investments/{theirs.pk}/report.pdf").status_code == 404


def _queries(client, url: str) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_investment_page_query_count_is_the_same_for_1_and_10_milestones(
    browser_for, people, make_investment, django_assert_max_num_queries
):
    client = browser_for(people[Role.FINANCE])
    investment = make_investment()

    def add(n: int, status=MilestoneStatus.PLANNED):
        milestone = MilestoneFactory(
            grant=None,
            investment=investment,
            organization=investment.organization,
            currency="USD",
            due_date=dt.date(2026, 7, 1),
            status=status,
        )
        milestone.criteria.create(kind="manual", description=f"Criterion {n}", config={"approver_roles": ["owner"]})
        milestone.evidence.create(
            original_name=f"e{n}.txt", content_type="text/plain", size=1, sha256="0" * 64, file="x"
        )

    add(0, MilestoneStatus.SUBMITTED)
    client.get(f"/investments/{investment.pk}/")
    small = _queries(client, f"/investments/{investment.pk}/")
    # Every state a milestone's actions are decided in (the policy of separation of duties is read once).
    statuses = [
        MilestoneStatus.IN_PROGRESS,
        MilestoneStatus.SUBMITTED,
        MilestoneStatus.VERIFIED,
        MilestoneStatus.RELEASED,
    ]
    for n in range(1, 10):
        add(n, statuses[n % len(statuses)])
    with django_assert_max_num_queries(INVESTMENT_PAGE_MAX_QUERIES):
        large = _queries(client, f"/investments/{investment.pk}/")
    assert 0 < large == small
    assert investment.milestones.count() == 10


def test_finance_adds_a_milestone_and_a_viewer_may_not(browser_for, people, investment):
    form = {"title": "Series A data room", "amount": "100000", "due_date": "2026-09-01", "criterion": "Data room open"}
    url = f"/investments/{investment.pk}/milestones/"
    assert (
        "Add a milestone" not in browser_for(people[Role.VIEWER]).get(f"/investments/{investment.pk}/").content.decode()
    )
    refused = browser_for(people[Role.VIEWER]).post(url, form)
    assert refused.status_code == 403
    assert not investment.milestones.filter(title="Series A data room").exists()

    done = browser_for(people[Role.FINANCE]).post(url, form)
    assert done.status_code == 302 and done["Location"] == f"/investments/{investment.pk}/"
    added = investment.milestones.get(title="Series A data room")
    assert added.criteria.get().description == "Data room open"

    too_much = browser_for(people[Role.FINANCE]).post(url, {**form, "title": "Too big", "amount": "5000000"})
    assert too_much.status_code == 400
    assert "Series A data room" in too_much.content.decode()  # the investment's page, with the error on the form


def test_finance_records_a_disbursement_of_a_released_milestone(browser_for, people, investment):
    milestone = investment.milestones.get(title="First 25 customers")
    type(milestone).objects.filter(pk=milestone.pk).update(status=MilestoneStatus.RELEASED)
    finance = browser_for(people[Role.FINANCE])
    assert "Record a disbursement" in finance.get(f"/investments/{investment.pk}/").content.decode()
    url = f"/investments/{investment.pk}/disbursements/"
    too_much = finance.post(url, {"milestone": str(milestone.pk), "amount": "300000", "paid_on": "2026-06-02"})
    assert too_much.status_code == 400
    assert "left to disburse" in too_much.content.decode()
    ok = finance.post(
        url, {"milestone": str(milestone.pk), "amount": "250000", "paid_on": "2026-06-02", "reference": "WIRE-7"}
    )
    assert ok.status_code == 302
    assert Investment.objects.get(pk=investment.pk).amount_disbursed == Decimal("250000")
    page = finance.get(f"/investments/{investment.pk}/").content.decode()
    assert "WIRE-7" in page and "250,000.00 USD" in page
