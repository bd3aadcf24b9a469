"""Chromium under the real Content-Security-Policy: the dashboard pages and the API docs load with no violation
reported, charts are drawn, htmx still swaps, and the organization switcher (a static script) still submits."""

# ruff: noqa: F401, F811 - the dashboard tests' fixtures are imported and used by name

import datetime as dt
import re
from decimal import Decimal

import pytest

from apps.funding.services.milestones import milestone_create
from apps.tenancy.models import Membership, Role
from tests.dashboard.conftest import audit, fleet, funder, make_grant, make_investment, make_risk, register
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.services
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's

# Runs before any page script, outside the page's policy: every violation the browser reports is kept.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


# Redoc's "powered by" logo is an image from its maker's site: the policy keeps it from loading, as intended.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def violations(page) -> list[str]:
    return [entry for entry in page.evaluate("window.__cspViolations") if REDOC_LOGO not in entry]


def test_dashboard_and_api_docs_load_with_no_policy_violation(
    live_server,
    page,
    people,
    make_grant,
    make_investment,
    make_risk,
    audit,
    fleet,
    settings,
):
    settings.API_DOCS_PUBLIC = False
    grant = make_grant()
    milestone_create(
        parent=grant,
        by=people[Role.FINANCE],
        title="Pilot report",
        amount=Decimal("1000"),
        due_date=dt.date.today() + dt.timedelta(days=10),
    )
    investment = make_investment()
    risk = make_risk()
    second = OrganizationFactory(name="Beta Labs")
    Membership.objects.create(organization=second, user=people[Role.OWNER], role=Role.VIEWER)

    console = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(people[Role.OWNER].username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")

    urls = [
        "/",
        "/grants/",
        "/grants/new/",
        f"/grants/{grant.pk}/",
        f"/investments/{investment.pk}/",
        "/compute/",
        "/compliance/",
        f"/compliance/audits/{audit.pk}/",
        "/risks/",
        f"/risks/{risk.pk}/",
        "/api/docs/",
        "/api/redoc/",
    ]
    for url in urls:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 200, url
        assert "script-src 'self'" in response.headers["content-security-policy"], url
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], url

    # Swagger UI drew the operations from the schema it fetched (its start-up script is a static response).
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert violations(page) == []

    # A chart on the overview is drawn and styled by charts.css: its bars have the first colour.
    page.goto(f"{live_server.url}/")
    fill = page.locator("svg.pygal-chart .color-0").first.evaluate("e => getComputedStyle(e).stroke")
    assert fill == "rgb(11, 92, 173)"

    # htmx swaps the utilization chart for another range without a page load, under the same policy.
    page.goto(f"{live_server.url}/compute/")
    with page.expect_response(re.compile(r"/compute/\?range=")) as swapped:
        page.locator("#id_range").select_option("7d")
    assert "range=7d" in swapped.value.url and swapped.value.status == 200
    page.wait_for_load_state("networkidle")
    assert "range=7d" in page.url  # the range is kept in the address bar
    assert page.locator("#utilization svg.pygal-chart").count() == 1
    assert violations(page) == []

    # The organization switcher submits on change through dashboard.js (no inline onchange).
    page.locator("#org-select").select_option(value=str(second.pk))
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("#org-select option:checked").inner_text().startswith("Beta Labs")
    assert violations(page) == []
    assert [text for text in console if "Content Security Policy" in text and REDOC_LOGO not in text] == []

    # The recorder sees what the policy blocks: markup with an inline style, added to the page, is reported.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">injected</p>')")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert violations(page)[0].startswith("style-src")
