"""One exporter for every app (apps/core/tabular.py): formulas neutralised, numbers left numbers, control
characters that XLSX cannot hold dropped, in the funding and compute `?format=csv` lists and the compliance and
risk downloads alike."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from apps.compute.models import ComputeSource, SourceKind
from apps.core.tabular import cell_text
from apps.funding.models import Funder, FunderKind
from apps.funding.services.kpis import kpi_reading_create
from apps.tenancy.models import Role
from tests.funding.factories import GrantFactory

pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_cells_neutralise_text_formulas_but_keep_numbers():
    assert cell_text('=HYPERLINK("http://evil.example","click")') == '\'=HYPERLINK("http://evil.example","click")'
    assert cell_text("@SUM(A1:A9)") == "'@SUM(A1:A9)"
    assert cell_text("-2+3") == "'-2+3"
    assert cell_text("+1") == "'+1"
    assert cell_text("\tcmd") == "'\tcmd"
    assert cell_text("\rcmd") == "'\rcmd"
    assert cell_text(Decimal("-2.50")) == "-2.50"
    assert cell_text(-7) == "-7"
    assert cell_text(-0.5) == "-0.5"
    assert cell_text("line\u000bfeed\x00") == "linefeed"
    assert cell_text("Multi-line\ntext") == "Multi-line\ntext"
    assert cell_text(dt.date(2026, 3, 1)) == "2026-03-01"
    assert cell_text(None) == "" and cell_text(True) == "true"


def test_funding_csv_neutralises_formulas_and_keeps_negative_amounts(org, people, client_for):
    funder = Funder.objects.create(organization=org, name="@SUM(A1:A9)", kind=FunderKind.FOUNDATION)
    GrantFactory(organization=org, funder=funder, title='=HYPERLINK("http://evil.example","click")', program="-2+3")
    kpi_reading_create(
        organization=org,
        by=people[Role.FINANCE],
        metric="revenue",
        value=Decimal("-2.50"),
        unit="USD",
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 1, 31),
        source="=cmd|' /C calc'!A0",
    )
    client = client_for(people[Role.VIEWER])

    [grant] = csv_rows(client.get("/api/grants/?format=csv"))
    assert grant["title"] == '\'=HYPERLINK("http://evil.example","click")'
    assert grant["funder"] == "'@SUM(A1:A9)"
    assert grant["program"] == "'-2+3"
    assert grant["amount_awarded"] == "100000.00"

    [reading] = csv_rows(client.get("/api/kpi-readings/?format=csv"))
    assert Decimal(reading["value"]) == Decimal("-2.50")  # a number, not text
    assert reading["source"] == "'=cmd|' /C calc'!A0"


def test_compute_csv_neutralises_formulas_and_drops_control_characters(org, people, client_for):
    ComputeSource.objects.create(
        organization=org, name="=1+1", kind=SourceKind.PUSH, config={}, last_error="+err\u000bor"
    )
    [source] = csv_rows(client_for(people[Role.VIEWER]).get("/api/compute/sources/?format=csv"))
    assert source["name"] == "'=1+1"
    assert source["last_error"] == "'+error"
    assert source["enabled"] == "true"
