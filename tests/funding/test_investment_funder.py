"""An investment's funder is `funder`, as on grants; `investor` is its deprecated name, still read and written for
one release (docs/api.md, "Versions and deprecation")."""

import pytest

from tests.funding.factories import FunderFactory, InvestmentFactory

pytestmark = pytest.mark.django_db


def _body(**funder) -> dict:
    return {"title": "Seed round", "instrument": "equity", "currency": "EUR", "committed_amount": "250000.00", **funder}


def test_an_investment_is_created_and_filtered_by_funder(org, people, client_for):
    fund, other = FunderFactory(organization=org, name="Fund I"), FunderFactory(organization=org, name="Fund II")
    InvestmentFactory(organization=org, investor=other)
    client = client_for(people["finance"])

    created = client.post("/api/v1/investments/", _body(funder=str(fund.pk)), format="json")
    listed = client.get(f"/api/v1/investments/?funder={fund.pk}").json()["results"]

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["funder"] == body["investor"] == str(fund.pk) and body["funder_name"] == "Fund I"
    assert [item["id"] for item in listed] == [body["id"]]


def test_the_deprecated_investor_name_still_works_and_a_conflict_is_named(org, people, client_for):
    fund, other = FunderFactory(organization=org), FunderFactory(organization=org)
    client = client_for(people["finance"])

    old_name = client.post("/api/v1/investments/", _body(investor=str(fund.pk)), format="json")
    both = client.post("/api/v1/investments/", _body(funder=str(fund.pk), investor=str(other.pk)), format="json")
    neither = client.post("/api/v1/investments/", _body(), format="json")

    assert old_name.status_code == 201 and old_name.json()["funder"] == str(fund.pk)
    assert both.status_code == 400 and list(both.json()["extra"]["fields"]) == ["funder"]
    assert neither.status_code == 400 and list(neither.json()["extra"]["fields"]) == ["funder"]
