"""The Content-Security-Policy: every dashboard page sends it, and no page carries what it would block (inline
script, event handler attributes, javascript: links, <style> elements, style="" attributes, other origins)."""

import datetime as dt
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from apps.dashboard import charts
from apps.funding.services.milestones import milestone_create
from apps.reports.services import grant_report_export_request
from apps.tenancy.models import Role

pytestmark = pytest.mark.django_db

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data"}
NON_SCRIPT_TYPES = {"application/json", "application/ld+json", "text/template"}


class InlineCodeFinder(HTMLParser):
    """Collects, as the browser would meet them, the things a policy without 'unsafe-inline' refuses."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...> event handler")
            elif name == "style":
                self.found.append(f'<{tag} style="{value}">')
            elif name in URL_ATTRIBUTES and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "style":
            self.found.append("<style> element")
        if tag == "script":
            if values.get("src"):
                if not values["src"].startswith("/"):
                    self.found.append(f"<script src={values['src']!r}> from another origin")
            elif (values.get("type") or "").lower() not in NON_SCRIPT_TYPES:
                self._in_inline_script = True
        if tag == "link" and values.get("rel") == "stylesheet" and not (values.get("href") or "").startswith("/"):
            self.found.append(f"<link rel=stylesheet href={values.get('href')!r}> from another origin")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self._in_inline_script = False

    def handle_endtag(self, tag):
        if tag == "script" and self._in_inline_script:
            self.found.append("inline <script>")
            self._in_inline_script = False


def inline_code(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    finder.close()
    return finder.found


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_the_checker_finds_what_the_policy_blocks():
    page = (
        '<p style="color:red">x</p><button onclick="go()">b</button><a href=" JavaScript:go()">a</a>'
        "<script>go()</script><script src='https://cdn.example/x.js'></script><svg><style>a{}</style></svg>"
        '<script type="application/json">{"data": 1}</script><script src="/static/ok.js"></script>'
    )
    assert len(inline_code(page)) == 6


@pytest.fixture
def portfolio(make_grant, make_investment, people, audit, make_risk, fleet, org):
    """Something on every page: a grant and an investment with a milestone, an open audit, a risk, devices with
    samples, an export."""
    grant = make_grant()
    milestone_create(
        parent=grant,
        by=people[Role.FINANCE],
        title="Pilot report",
        amount=Decimal("1000"),
        due_date=dt.date.today() + dt.timedelta(days=10),
    )
    investment = make_investment()
    milestone_create(
        parent=investment,
        by=people[Role.FINANCE],
        title="Cluster online",
        amount=Decimal("5000"),
        due_date=dt.date.today() + dt.timedelta(days=20),
    )
    risk = make_risk()
    export = grant_report_export_request(grant=grant, by=people[Role.FINANCE], page_size="A4")
    return {"grant": grant, "investment": investment, "audit": audit, "risk": risk, "export": export}


def test_every_dashboard_page_sends_the_policy_and_carries_nothing_it_blocks(browser_for, people, portfolio):
    client = browser_for(people[Role.OWNER])
    pages = [
        "/",
        "/grants/",
        "/grants/new/",
        f"/grants/{portfolio['grant'].pk}/",
        "/investments/",
        f"/investments/{portfolio['investment'].pk}/",
        "/compute/",
        "/compute/utilization/?range=7d",
        "/compliance/",
        f"/compliance/audits/{portfolio['audit'].pk}/",
        "/risks/",
        f"/risks/{portfolio['risk'].pk}/",
        f"/reports/exports/{portfolio['export'].pk}/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        directives = policy(response)
        assert directives["script-src"] == ["'self'"], url
        assert directives["style-src"] == ["'self'"], url
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"], url
        assert inline_code(response.content.decode()) == [], url
    home = client.get("/").content.decode()
    assert "<svg" in home  # the utilization chart is drawn, styled by the linked charts.css
    assert "/static/dashboard/charts.css" in home and "/static/dashboard/dashboard.js" in home


def test_the_sign_in_page_and_refusals_carry_the_policy_too(client, browser_for, outsider, portfolio):
    login = client.get("/accounts/login/")
    assert policy(login)["script-src"] == ["'self'"]
    assert inline_code(login.content.decode()) == []
    refused = browser_for(outsider).get(f"/grants/{portfolio['grant'].pk}/")
    assert refused.status_code == 404 and "Content-Security-Policy" in refused


def test_charts_for_pages_have_no_inline_style_or_script_and_the_pdf_keeps_its_stylesheet():
    devices = [{"key": "gpu-0", "value": 81.5}, {"key": "gpu-1", "value": 64.0}]
    page_chart = charts.verification_chart(devices=devices, threshold=70)
    assert page_chart.startswith("<svg") and "gpu-0" in page_chart
    assert inline_code(page_chart) == []
    budget = charts.budget_chart(currency="EUR", budget=10, committed=5, released=2, disbursed=1)
    assert inline_code(budget) == []

    print_chart = charts.verification_chart(devices=devices, threshold=70, for_print=True)
    assert "<style" in print_chart and ".pygal-chart .color-0{fill:#0b5cad;stroke:#0b5cad}" in print_chart
    assert "<script" not in print_chart and ' style="' not in print_chart
