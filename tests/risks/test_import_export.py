import io

import pytest
from openpyxl import load_workbook

from apps.audit.models import AuditEvent
from apps.risks.models import Risk, RiskScoreSnapshot
from apps.risks.services.registers import risk_register_create

pytestmark = pytest.mark.django_db


def upload(content: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def table_of(content: bytes, file_format: str) -> list[tuple]:
    if file_format == "csv":
        return [tuple(line.split(",")) for line in content.decode().splitlines()]
    return [tuple(row) for row in load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True)]


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_risks_round_trip_into_the_same_and_a_new_register(
    client_for, org, officer, register, matrix5, make_risk, file_format
):
    make_risk()
    make_risk(
        title="=cmd|' /C calc'!A0",
        category="market",
        owner="cora",
        inherent_likelihood=2,
        inherent_impact=5,
        current_likelihood=2,
        current_impact=4,
        treatment="transfer",
    )
    client = client_for(officer)
    response = client.get(f"/api/risk-registers/{register.pk}/export/?file_format={file_format}")
    assert response.status_code == 200
    exported = response.content
    header = table_of(exported, file_format)[0]
    assert header[:5] == ("ref", "title", "description", "category", "owner")
    assert "status" in header and "next_review_on" in header

    response = client.post(
        f"/api/risk-registers/{register.pk}/import/", {"file": upload(exported, f"r.{file_format}")}, format="multipart"
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 0, "updated": 0, "unchanged": 2}

    copy = risk_register_create(organization=org, name="Copy", matrix=matrix5, by=officer)
    response = client.post(
        f"/api/risk-registers/{copy.pk}/import/", {"file": upload(exported, f"r.{file_format}")}, format="multipart"
    )
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0}
    again = client.get(f"/api/risk-registers/{copy.pk}/export/?file_format={file_format}").content
    assert table_of(again, file_format) == table_of(exported, file_format)
    assert Risk.objects.get(register=copy, title__startswith="=cmd").treatment == "transfer"
    assert RiskScoreSnapshot.objects.filter(risk__register=copy, reason="imported").count() == 2


def test_bad_risk_rows_are_reported_with_line_and_field_and_nothing_is_written(
    client_for, officer, register, make_risk
):
    risk = make_risk()
    rows = [
        "ref,title,category,owner,inherent_likelihood,inherent_impact,residual_likelihood,status",
        f"{risk.ref},Renamed,infrastructure,eddie,4,4,2,open",
        ",Too likely,scaling,eddie,6,2,,",
        ",Unknown category,weather,cora,2,2,,",
        ",Not a number,market,cora,two,2,,",
        ",Already closed,market,cora,2,2,,closed",
        f"{risk.ref},Jumped,infrastructure,eddie,4,4,2,accepted",
    ]
    response = client_for(officer).post(
        f"/api/risk-registers/{register.pk}/import/",
        {"file": upload("\n".join(rows).encode(), "r.csv")},
        format="multipart",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "The risks file has 6 errors; nothing was imported."
    assert [(r["line"], r["field"]) for r in body["extra"]["rows"]] == [
        (3, "inherent_likelihood"),
        (4, "category"),
        (5, "inherent_likelihood"),
        (6, "status"),
        (7, "ref"),
        (7, "status"),
    ]
    assert "1 to 5" in body["extra"]["rows"][0]["message"]
    risk.refresh_from_db()
    assert risk.title == "GPU saturation" and Risk.objects.count() == 1
    assert not AuditEvent.objects.filter(action="risk.imported").exists()


def test_import_is_for_risk_managers_only(client_for, engineer, register):
    response = client_for(engineer).post(
        f"/api/risk-registers/{register.pk}/import/", {"file": upload(b"title\n", "r.csv")}, format="multipart"
    )
    assert response.status_code == 403 and "add risks to a register" in response.json()["message"]
