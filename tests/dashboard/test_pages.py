"""The dashboard pages: what each role sees, the organization switcher, scoping, and constant query counts."""

import datetime as dt
from decimal import Decimal

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.funding.models import Milestone, MilestoneStatus
from apps.funding.services.milestones import milestone_create
from apps.tenancy.models import Membership, Role
from tests.factories import OrganizationFactory, member
from tests.funding.factories import GrantFactory, MilestoneFactory

# The overview's, the grant page's and the inbox's budgets: exceeding one means a query crept in per row.
OVERVIEW_MAX_QUERIES = 24  # with the "waiting for me" list
# Escrow section, proof links, activity feed, budget plan, the organization's policy (which a submitted milestone's
# actions read): the same for 1 or 13 milestones.
GRANT_PAGE_MAX_QUERIES = 26
INBOX_MAX_QUERIES = 14  # decisions with what their guards read, budget work, audits, findings, actions, risks


def test_signing_in_is_required(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_overview_shows_the_pipeline_deadlines_and_escrow_placeholder(browser_for, people, make_grant, org):
    grant = make_grant()
    milestone_create(
        parent=grant,
        by=people[Role.FINANCE],
        title="Pilot report",
        amount=Decimal("1000"),
        due_date=dt.date.today() + dt.timedelta(days=10),
    )
    page = browser_for(people[Role.VIEWER]).get("/")
    text = page.content.decode()
    assert page.status_code == 200
    assert 'data-status="draft">1<' in text
    assert "Pilot report" in text  # due within 30 days
    assert '<div class="label">Escrowed</div>' in text
    assert "Pending chain transactions" in text


def test_overview_is_scoped_to_the_current_organization(browser_for, people, make_grant, outsider):
    make_grant(title="Ours")
    other = GrantFactory(organization=Membership.objects.get(user=outsider).organization, title="Theirs")
    MilestoneFactory(grant=other, title="Their milestone", due_date=dt.date.today() + dt.timedelta(days=3))
    text = browser_for(people[Role.OWNER]).get("/grants/").content.decode()
    assert "Ours" in text and "Theirs" not in text
    assert "Their milestone" not in browser_for(people[Role.OWNER]).get("/").content.decode()


def test_organization_switcher_changes_what_every_page_shows(browser_for, people, make_grant, org):
    make_grant(title="First org grant")
    second = OrganizationFactory(name="Beta Labs")
    Membership.objects.create(organization=second, user=people[Role.OWNER], role=Role.VIEWER)
    GrantFactory(organization=second, title="Second org grant")
    client = browser_for(people[Role.OWNER])
    assert "First org grant" in client.get("/grants/").content.decode()

    response = client.post("/organization/", {"organization": str(second.pk)})
    assert response.status_code == 302
    text = client.get("/grants/").content.decode()
    assert "Second org grant" in text and "First org grant" not in text
    assert "New grant" not in text  # a viewer there: the action is not offered


def test_switching_to_an_organization_one_is_not_a_member_of_is_ignored(browser_for, people, make_grant, outsider):
    make_grant(title="Mine")
    foreign = Membership.objects.get(user=outsider).organization
    client = browser_for(people[Role.OWNER])
    client.post("/organization/", {"organization": str(foreign.pk)})
    assert "Mine" in client.get("/grants/").content.decode()


def test_another_organizations_grant_is_not_found(browser_for, people, outsider):
    theirs = GrantFactory(organization=Membership.objects.get(user=outsider).organization)
    assert browser_for(people[Role.OWNER]).get(f"/grants/{theirs.pk}/").status_code == 404


def test_navigation_marks_the_current_section(browser_for, people, org):
    text = browser_for(people[Role.ENGINEER]).get("/compute/").content.decode()
    assert '<a href="/compute/" aria-current="page">Compute</a>' in text


def _queries(client, url: str) -> int:
    # Cached pieces (fleet utilization, by the minute) would make the count depend on the clock: measure cold.
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_overview_query_count_does_not_grow_with_data(
    browser_for, people, org, make_grant, make_risk, audit, fleet, django_assert_max_num_queries
):
    client = browser_for(people[Role.FINANCE])
    make_risk()
    grant = make_grant()
    MilestoneFactory(grant=grant, due_date=dt.date.today() + dt.timedelta(days=5))
    client.get("/")  # warm caches (content types, sessions)
    small = _queries(client, "/")
    for n in range(15):
        extra = GrantFactory(organization=org, title=f"Grant {n}")
        for m in range(3):
            MilestoneFactory(grant=extra, due_date=dt.date.today() + dt.timedelta(days=m * 20 - 10))
        make_risk(title=f"Risk {n}")
    with django_assert_max_num_queries(OVERVIEW_MAX_QUERIES):
        large = _queries(client, "/")
    assert 0 < large == small


def test_grant_page_query_count_does_not_grow_with_milestones(
    browser_for, people, make_grant, django_assert_max_num_queries
):
    client = browser_for(people[Role.FINANCE])
    grant = make_grant()
    first = MilestoneFactory(
        grant=grant,
        organization=grant.organization,
        currency="EUR",
        due_date=dt.date(2026, 6, 1),
        status=MilestoneStatus.SUBMITTED,
    )
    first.criteria.create(kind="manual", description="Sign-off", config={"approver_roles": ["owner"]})
    client.get(f"/grants/{grant.pk}/")
    small = _queries(client, f"/grants/{grant.pk}/")
    for n in range(12):
        milestone = MilestoneFactory(
            grant=grant,
            organization=grant.organization,
            currency="EUR",
            due_date=dt.date(2026, 7, 1),
            # Submitted and verified ones too: their actions read the organization's policy, once a page.
            status=(MilestoneStatus.RELEASED, MilestoneStatus.SUBMITTED, MilestoneStatus.VERIFIED)[n % 3],
        )
        milestone.criteria.create(kind="manual", description=f"Criterion {n}", config={"approver_roles": ["owner"]})
        milestone.evidence.create(
            original_name=f"e{n}.txt", content_type="text/plain", size=1, sha256="0" * 64, file="x"
        )
    with django_assert_max_num_queries(GRANT_PAGE_MAX_QUERIES):
        large = _queries(client, f"/grants/{grant.pk}/")
    assert 0 < large == small
    assert Milestone.objects.filter(grant=grant).count() == 13


def test_milestones_awaiting_a_decision_cost_no_query_each_on_the_grant_page_or_the_inbox(
    browser_for, people, make_grant, django_assert_max_num_queries
):
    """Submitted and verified milestones are the ones whose guards read the organization's policy, the evidence and
    the approvals so far: read once a page, not once a milestone."""
    client = browser_for(people[Role.FINANCE])
    grant = make_grant()

    def add(n: int, status: str) -> None:
        milestone = MilestoneFactory(
            grant=grant, organization=grant.organization, currency="EUR", due_date=dt.date(2026, 7, 1), status=status
        )
        milestone.criteria.create(kind="manual", description=f"Criterion {n}", config={"approver_roles": ["owner"]})
        milestone.evidence.create(
            original_name=f"e{n}.txt", content_type="text/plain", size=1, sha256="0" * 64, file="x"
        )

    add(0, MilestoneStatus.SUBMITTED)
    add(1, MilestoneStatus.VERIFIED)
    page, inbox = f"/grants/{grant.pk}/", "/waiting/"
    client.get(page), client.get(inbox)
    small = (_queries(client, page), _queries(client, inbox))
    for n in range(2, 10):
        add(n, MilestoneStatus.SUBMITTED if n % 2 == 0 else MilestoneStatus.VERIFIED)
    with django_assert_max_num_queries(GRANT_PAGE_MAX_QUERIES):
        large_page = _queries(client, page)
    with django_assert_max_num_queries(INBOX_MAX_QUERIES):
        large_inbox = _queries(client, inbox)
    assert (large_page, large_inbox) == small
    # Finance may approve each verified milestone's release (someone else verified it): all five wait for them.
    assert client.get(inbox).content.decode().count("Approve release: ") == 5


def test_compute_page_and_utilization_ranges(browser_for, people, fleet):
    client = browser_for(people[Role.VIEWER])
    page = client.get("/compute/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "gpu-0" in text and "board-1" in text
    assert "<svg" in text and "GPU: " in text and "Edge board: " in text
    partial = client.get("/compute/utilization/", {"range": "7d", "device": str(fleet[2].pk)}, HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert partial.status_code == 200
    assert "<html" not in body  # the chart alone, for htmx
    assert "Edge board: " in body and "GPU: " not in body


def test_compliance_page_shows_audit_progress_and_findings_table(browser_for, people, audit):
    text = browser_for(people[Role.VIEWER]).get("/compliance/").content.decode()
    assert "GDPR 2026" in text
    assert "General Data Protection Regulation" in text
    assert "Open findings by severity and age" in text


def test_risks_page_heat_map_and_filters(browser_for, people, make_risk, register):
    make_risk(title="GPU saturation")
    make_risk(title="Vendor lock-in", residual_likelihood=1, residual_impact=1)
    client = browser_for(people[Role.VIEWER])
    text = client.get("/risks/").content.decode()
    assert "Inherent (before controls)" in text and "Residual (after mitigation)" in text
    assert "GPU saturation" in text and "Vendor lock-in" in text
    filtered = client.get("/risks/", {"register": str(register.pk), "status": "accepted"}, HTTP_HX_REQUEST="true")
    body = filtered.content.decode()
    assert "<html" not in body and "No risks match." in body


def test_a_user_without_organization_is_told_so(client, db):
    user = member(OrganizationFactory(), Role.VIEWER)
    Membership.objects.filter(user=user).delete()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 403
    assert "not a member of any organization" in response.content.decode()
