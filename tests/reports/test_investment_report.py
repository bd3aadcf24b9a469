"""The investment report PDF: terms, milestones with named approvals and evidence, budget vs. actual, the risks of
its own register, compliance and the scorecard; the API route; scoping."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.core.canonical import canonical_json, sha256_hex
from apps.economics.services import success_metric_create
from apps.funding.services.budget import expense_record
from apps.funding.services.kpis import kpi_reading_create
from apps.funding.services.milestones import criterion_add, criterion_approve, milestone_act, milestone_create
from apps.reports.selectors import investment_for_report, investment_report_data
from apps.risks.services.matrices import risk_matrix_create
from apps.risks.services.registers import risk_register_create
from apps.risks.services.risks import risk_create
from apps.tenancy.models import Membership, Role
from tests.funding.factories import InvestmentFactory
from tests.reports.test_grant_report import pdf_text


@pytest.fixture
def investment(make_investment, people):
    finance, owner = people[Role.FINANCE], people[Role.OWNER]
    investment = make_investment()
    online = milestone_create(
        parent=investment, by=finance, title="Cluster online", amount=Decimal("500000"), due_date=dt.date(2026, 3, 1)
    )
    criterion_add(milestone=online, by=finance, kind="manual", description="Cluster accepted by the investor")
    online = milestone_act(milestone=online, by=finance, action="start")
    criterion_approve(criterion=online.criteria.get(), by=owner)
    online.evidence.create(
        original_name="acceptance-test.pdf", content_type="application/pdf", size=2048, sha256="ab" * 32, file="x"
    )
    expense_record(
        budget_line=investment.budget_lines.get(),
        by=finance,
        amount="125000.50",
        spent_on=dt.date(2026, 1, 20),
        description="GPU reservation",
    )
    return investment


@pytest.fixture
def scorecard_metrics(org, people):
    """Three KPI metrics, one on target, one at risk (within its 5 % margin), one off target."""
    owner, finance = people[Role.OWNER], people[Role.FINANCE]
    for key, name, kpi, direction, target, value in (
        ("uptime", "Uptime", "uptime_pct", "gte", "99.9", "99.95"),
        ("customers", "Paying customers", "customers", "gte", "25", "24"),
        ("latency", "p95 latency", "latency_ms", "lte", "200", "260"),
    ):
        success_metric_create(
            organization=org,
            by=owner,
            key=key,
            name=name,
            source="kpi",
            kpi_metric=kpi,
            direction=direction,
            target=target,
        )
        for month, reading in ((1, Decimal(value) - 1), (2, Decimal(value))):
            kpi_reading_create(
                organization=org,
                by=finance,
                metric=kpi,
                value=reading,
                period_start=dt.date(2026, month, 1),
                period_end=dt.date(2026, month, 28),
                source="ledger",
            )


def test_report_prints_terms_figures_names_and_the_hash(browser_for, people, investment, scorecard_metrics, tmp_path):
    viewer = people[Role.VIEWER]
    response = browser_for(viewer).get(f"/investments/{investment.pk}/report.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="investment-report-seed-round-for-the-blackwell-cluster.pdf"' in response["Content-Disposition"]
    data = investment_report_data(user=viewer, investment=investment_for_report(user=viewer, pk=investment.pk))
    digest = sha256_hex(canonical_json(data))
    assert response["X-Report-SHA256"] == digest
    text = " ".join(pdf_text(response.content, tmp_path).split())
    for expected in (
        "Investment report · Acme Compute",
        "Seed round for the Blackwell cluster",
        "Northwind Ventures · SAFE",  # the instrument in words
        "Committed 2,000,000.00 USD",
        "Closing date 15 Feb 2026",
        "Ethical alignment",
        "Commitment vs. disbursed",
        "Cluster online",
        "Cluster accepted by the investor",
        f"Approved by: {people[Role.OWNER].username} (Owner, manual criterion",
        "acceptance-test.pdf",
        "GPU hours Compute 800,000.00",  # the budget line, its category in words
        "125,000.50",  # actual
        "674,999.50",  # remaining
        "Not escrowed: this investment's milestones",
        digest,
    ):
        assert expected in text, expected
    assert "In progress" in text and "in_progress" not in text


def test_scorecard_section_prints_each_status_with_its_trend(
    browser_for, people, investment, scorecard_metrics, tmp_path
):
    response = browser_for(people[Role.VIEWER]).get(f"/investments/{investment.pk}/report.pdf")
    text = " ".join(pdf_text(response.content, tmp_path).split())
    scorecard = text.split("Scorecard", 1)[1]
    assert "Uptime at least 99.9 99.95 On target 98.95 → 99.95" in scorecard
    assert "Paying customers at least 25 24 At risk 23 → 24" in scorecard
    assert "p95 latency at most 200 260 Off target 259 → 260" in scorecard
    assert "on_target" not in text and "off_target" not in text


def test_grant_report_carries_the_scorecard_too(browser_for, people, scorecard_metrics, make_grant, tmp_path):
    grant = make_grant()
    text = " ".join(
        pdf_text(browser_for(people[Role.VIEWER]).get(f"/grants/{grant.pk}/report.pdf").content, tmp_path).split()
    )
    assert "Scorecard" in text and "At risk" in text and "Off target" in text


def test_without_success_metrics_there_is_no_scorecard_in_the_data(people, investment):
    viewer = people[Role.VIEWER]
    data = investment_report_data(user=viewer, investment=investment_for_report(user=viewer, pk=investment.pk))
    assert "scorecard" not in data


def test_report_lists_the_risks_of_the_investments_own_register_only(browser_for, people, investment, tmp_path):
    officer = people[Role.COMPLIANCE]
    matrix = risk_matrix_create(organization=investment.organization, name="5x5", preset="5x5", by=officer)
    own = risk_register_create(organization=investment.organization, name="Seed round", matrix=matrix, by=officer)
    own.program = investment.title
    own.save(update_fields=["program"])
    strategy = risk_register_create(organization=investment.organization, name="Strategy", matrix=matrix, by=officer)
    for register, title in ((own, "Power delivery delayed"), (strategy, "Market entry delayed")):
        risk_create(
            register=register,
            title=title,
            category=register.categories[0] if register.categories else "operational",
            owner=officer.username,
            inherent_likelihood=3,
            inherent_impact=3,
            by=officer,
        )
    text = " ".join(
        pdf_text(
            browser_for(people[Role.VIEWER]).get(f"/investments/{investment.pk}/report.pdf").content, tmp_path
        ).split()
    )
    assert "1 open risk in the registers that cover this investment" in text and "Power delivery delayed" in text
    assert "Market entry delayed" not in text


def test_every_table_stays_within_the_margins(browser_for, people, investment, tmp_path):
    """A long reference and hash wrap inside their cells: no text lies right of the page's right margin."""
    import shutil
    import subprocess

    from tests.conftest import service_missing

    milestone = investment.milestones.get()
    milestone.evidence.create(
        original_name="a-very-long-evidence-file-name-without-any-spaces-" * 3 + ".pdf",
        content_type="application/pdf",
        size=1,
        sha256="cd" * 32,
        file="y",
    )
    pdf = browser_for(people[Role.VIEWER]).get(f"/investments/{investment.pk}/report.pdf").content
    if shutil.which("pdftotext") is None:
        service_missing("pdftotext (Debian package poppler-utils)")
    (tmp_path / "r.pdf").write_bytes(pdf)
    html = subprocess.run(
        ["pdftotext", "-bbox", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    import re

    page_width = float(re.search(r'<page width="([\d.]+)"', html).group(1))
    right_margin = page_width - 16 / 25.4 * 72  # 16 mm
    words = [(float(x), w) for x, w in re.findall(r'xMax="([\d.]+)"[^>]*>([^<]*)</word>', html)]
    assert words
    beyond = [(x, w) for x, w in words if x > right_margin + 1]
    assert beyond == []


def test_api_report_is_org_scoped_and_declared_a_pdf(token_client_for, people, investment, outsider):
    tool = token_client_for(people[Role.VIEWER])
    ok = tool.get(f"/api/investments/{investment.pk}/report.pdf", HTTP_ACCEPT="application/pdf")
    assert ok.status_code == 200
    assert ok["Content-Type"] == "application/pdf" and ok.content.startswith(b"%PDF-")
    assert len(ok["X-Report-SHA256"]) == 64
    foreign = token_client_for(outsider).get(
        f"/api/investments/{investment.pk}/report.pdf", HTTP_ACCEPT="application/pdf"
    )
    assert foreign.status_code == 404
    assert foreign.json()["message"] == "Investment not found."
    bad = tool.get(f"/api/investments/{investment.pk}/report.pdf?page_size=A3")
    assert bad.status_code == 400 and "page_size" in bad.json()["extra"]["fields"]


def test_dashboard_report_of_another_organization_is_not_found(browser_for, outsider, people):
    theirs = InvestmentFactory(organization=Membership.objects.get(user=outsider).organization)
    assert browser_for(people[Role.OWNER]).get(f"/investments/{theirs.pk}/report.pdf").status_code == 404


def test_schema_declares_the_pdf(token_client_for, people):
    import yaml

    body = token_client_for(people[Role.VIEWER]).get("/api/schema/").content
    schema = yaml.safe_load(body)
    operation = next(
        ops["get"] for path, ops in schema["paths"].items() if path.endswith("investments/{id}/report.pdf")
    )
    assert "application/pdf" in operation["responses"]["200"]["content"]
