import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from tests.funding.factories import FunderFactory, GrantFactory, InvestmentFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


def portfolio(org, grants: int, milestones_each: int):
    funder = FunderFactory(organization=org, name="European Innovation Agency")
    for n in range(grants):
        grant = GrantFactory(organization=org, funder=funder, title=f"Grant {n:03d}")
        for m in range(milestones_each):
            MilestoneFactory(
                grant=grant,
                title=f"G{n:03d} M{m}",
                amount=Decimal("1000"),
                due_date=dt.date(2026, 1 + (m * 3) % 12, 15),
            )


@pytest.mark.parametrize("page_size", [5, 50])
def test_grant_list_with_nested_milestones_has_constant_queries(
    org, people, client_for, django_assert_max_num_queries, page_size
):
    portfolio(org, grants=60, milestones_each=4)
    client = client_for(people["viewer"])
    with django_assert_max_num_queries(6):
        response = client.get(f"/api/grants/?page_size={page_size}")
    results = response.json()["results"]
    assert len(results) == page_size and all(len(g["milestones"]) == 4 for g in results)


def test_a_grant_reads_the_same_in_the_list_as_in_its_detail(org, people, client_for):
    unawarded = GrantFactory(
        organization=org,
        amount_requested=Decimal("250000.5"),
        amount_awarded=None,
        focus_areas=["privacy_compliant_ai", "edge_inference"],
        program="Horizon",
        reference="HE-77",
        description="Edge inference on RISC-V boards.",
        status_reason="Awaiting the panel.",
    )
    MilestoneFactory(grant=unawarded, amount=Decimal("1234.5"), status="released", amount_disbursed=Decimal("200.25"))
    MilestoneFactory(grant=unawarded, amount=Decimal("99.99"), due_date=dt.date(2026, 3, 1))
    owned = GrantFactory(organization=org, owner=people["finance"], amount_awarded=Decimal("5000.1"))
    client = client_for(people["viewer"])
    listed = {row["id"]: row for row in client.get("/api/grants/").json()["results"]}
    for grant in (unawarded, owned):
        detail = client.get(f"/api/grants/{grant.pk}/").json()
        for only_in_detail in ("reports", "requirements", "allowed_actions"):
            detail.pop(only_in_detail)
        assert listed[str(grant.pk)] == detail
    row = listed[str(unawarded.pk)]
    assert row["amount_requested"] == "250000.50" and row["amount_awarded"] is None and row["owner"] is None
    assert row["summary"]["released_unpaid"] == "1034.25" and row["summary"]["uncommitted"] == "248666.01"
    assert [m["amount"] for m in row["milestones"]] == ["99.99", "1234.50"]
    assert listed[str(owned.pk)]["owner"] == "finance-acme" and row["created_at"].endswith("Z")


@pytest.mark.parametrize(
    "url",
    [
        "/api/milestones/?page_size={n}",
        "/api/disbursements/?page_size={n}",
        "/api/kpi-readings/?page_size={n}",
        "/api/investments/?page_size={n}",
        "/api/funders/?page_size={n}",
    ],
)
def test_list_endpoints_query_count_does_not_grow_with_page_size(
    org, people, client_for, django_assert_max_num_queries, url
):
    portfolio(org, grants=30, milestones_each=2)
    for _ in range(30):
        InvestmentFactory(organization=org)
    client = client_for(people["viewer"])
    with django_assert_max_num_queries(6):
        client.get(url.format(n=5))
    with django_assert_max_num_queries(6):
        client.get(url.format(n=60))


def test_finance_tool_lists_milestones_due_this_quarter_as_csv(org, people, client_for):
    portfolio(org, grants=3, milestones_each=4)
    MilestoneFactory(grant=GrantFactory(), due_date=dt.date(2026, 11, 1))  # another organization's
    client = client_for(people["finance"])
    response = client.get("/api/milestones/?due_after=2026-10-01&due_before=2026-12-31&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(r["title"] for r in rows) == ["G000 M3", "G001 M3", "G002 M3"]
    assert {r["due_date"] for r in rows} == {"2026-10-15"}
    assert rows[0]["amount"] == "1000.00" and rows[0]["currency"] == "EUR" and rows[0]["status"] == "planned"
    assert rows[0]["funder"] == "European Innovation Agency"

    by_header = client.get("/api/milestones/?due_after=2026-10-01&due_before=2026-12-31", HTTP_ACCEPT="text/csv")
    assert by_header["Content-Type"].startswith("text/csv")


def test_filters_status_currency_and_ordering(org, people, client_for):
    grant = GrantFactory(organization=org)
    MilestoneFactory(grant=grant, title="late", due_date=dt.date(2026, 12, 20), status="submitted")
    MilestoneFactory(grant=grant, title="early", due_date=dt.date(2026, 2, 1), status="submitted")
    MilestoneFactory(grant=grant, title="other", status="planned")
    client = client_for(people["viewer"])
    titles = [m["title"] for m in client.get("/api/milestones/?status=submitted&ordering=due_date").json()["results"]]
    assert titles == ["early", "late"]
    assert client.get("/api/milestones/?currency=USD").json()["results"] == []
    assert client.get(f"/api/milestones/?funder={grant.funder_id}&page_size=10").json()["results"]
    response = client.get("/api/milestones/?due_before=not-a-date")
    assert response.status_code == 400 and list(response.json()["extra"]["fields"]) == ["due_before"]
