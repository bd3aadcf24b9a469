"""The risk list is sorted and exported as every other list is (apps/core/ordering.py, apps/core/tabular.py):
`?ordering=` over its own columns and `?format=csv` with every filtered row; an unknown parameter is a 400."""

import csv
import io

import pytest

pytestmark = pytest.mark.django_db


def test_risks_sort_by_their_columns_and_export_as_csv(make_risk, officer, client_for):
    for title, likelihood in (("Power", 2), ("Cooling", 5), ("Network", 3)):
        make_risk(title=title, inherent_likelihood=likelihood)
    client = client_for(officer)

    ordered = client.get("/api/v1/risks/?ordering=-inherent_likelihood").json()["results"]
    exported = client.get("/api/v1/risks/?format=csv&ordering=title")
    typo = client.get("/api/v1/risks/?titel=Power")

    assert [risk["title"] for risk in ordered] == ["Cooling", "Network", "Power"]
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [row["title"] for row in rows] == ["Cooling", "Network", "Power"]
    assert rows[0]["inherent_likelihood"] == "5" and rows[0]["owner"]
    assert typo.status_code == 400 and list(typo.json()["extra"]["fields"]) == ["titel"]
