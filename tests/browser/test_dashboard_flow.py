"""A finance lead's day in the browser: sign in, create a grant with two milestones, submit evidence, approve,
see the overview change, open the risk heat map, and download the grant report."""

import datetime as dt
import re
import shutil
import subprocess
from decimal import Decimal

import pytest

from apps.core.canonical import canonical_json, sha256_hex
from apps.funding.models import Funder, FunderKind, Grant
from apps.reports.selectors import grant_for_report, grant_report_data
from apps.risks.services.matrices import risk_matrix_create
from apps.risks.services.registers import risk_register_create
from apps.risks.services.risks import risk_create
from apps.tenancy.models import Role
from tests.conftest import service_missing

pytestmark = pytest.mark.services
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


@pytest.fixture
def portfolio(org, people):
    """A funder to choose in the form, and a risk register with two risks."""
    Funder.objects.create(organization=org, name="European Innovation Agency", kind=FunderKind.GOVERNMENT_AGENCY)
    officer = people[Role.COMPLIANCE]
    matrix = risk_matrix_create(organization=org, name="Standard 5x5", preset="5x5", by=officer)
    register = risk_register_create(organization=org, name="Platform risks", matrix=matrix, by=officer)
    for title, scores in (("GPU supply shortage", (4, 5, 2, 3)), ("Telemetry gap", (3, 3, 1, 2))):
        risk_create(
            register=register,
            title=title,
            category=register.categories[0],
            owner=officer.username,
            inherent_likelihood=scores[0],
            inherent_impact=scores[1],
            residual_likelihood=scores[2],
            residual_impact=scores[3],
            by=officer,
        )
    return register


def add_milestone(page, title: str, amount: str, due: dt.date) -> None:
    page.get_by_text("Add a milestone").click()
    form = page.locator("#add-milestone form")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Amount").fill(amount)
    form.get_by_label("Due date").fill(due.isoformat())
    form.get_by_role("button", name="Add milestone").click()
    page.wait_for_load_state()
    assert page.get_by_text(f"Milestone “{title}” added.").is_visible()


def test_grant_lifecycle_in_the_browser(live_server, browser, page, people, portfolio, artifacts, tmp_path):
    today = dt.date.today()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(people[Role.FINANCE].username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name=re.compile("^Overview")).is_visible()

    # Create a grant (a wrong period first: the service's message appears beside the field).
    page.get_by_role("link", name="Grants", exact=True).click()
    page.get_by_role("link", name="New grant").click()
    page.locator("#id_funder").select_option(label="European Innovation Agency")
    page.get_by_label("Title").fill("Sovereign edge inference pilot")
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_label("Amount requested").fill("400000")
    page.get_by_label("Period start").fill((today - dt.timedelta(days=30)).isoformat())
    page.get_by_label("Period end").fill((today - dt.timedelta(days=60)).isoformat())
    page.get_by_role("button", name="Create grant").click()
    assert page.locator("#id_period_end_error").inner_text() == "The period ends before it starts."
    page.get_by_label("Period end").fill((today + dt.timedelta(days=365)).isoformat())
    page.get_by_role("button", name="Create grant").click()
    page.wait_for_url(re.compile(r"/grants/[0-9a-f-]{36}/$"))
    grant = Grant.objects.get(title="Sovereign edge inference pilot")

    add_milestone(page, "Boards shipped to pilot sites", "20000", today + dt.timedelta(days=10))
    add_milestone(page, "Inference under 2 W per board", "30000", today + dt.timedelta(days=20))
    page.screenshot(path=artifacts / "grant-detail.png", full_page=True)

    # Evidence, submission, verification and release of the first milestone.
    first = page.locator("li.planned", has_text="Boards shipped to pilot sites")
    first.get_by_text("Submit evidence").click()
    first.locator("input[type=file]").set_input_files(
        files=[{"name": "shipping-manifest.csv", "mimeType": "text/csv", "buffer": b"site,boards\nlyon,40\n"}]
    )
    first.get_by_role("button", name="Upload evidence").click()
    assert page.get_by_text("Evidence “shipping-manifest.csv” added").is_visible()
    first = page.locator("li", has_text="Boards shipped to pilot sites")
    first.get_by_role("button", name="Submit for verification").click()
    page.wait_for_load_state()
    # Whoever submitted cannot verify: the button is there, disabled, and says why.
    verify = page.locator("li", has_text="Boards shipped to pilot sites").get_by_role("button", name="Verify")
    assert verify.is_disabled() and "another person must verify" in verify.get_attribute("title")

    # The owner verifies in a session of her own; the finance lead then approves the release.
    owner_page = browser.new_context().new_page()
    owner_page.goto(f"{live_server.url}/accounts/login/")
    owner_page.get_by_label("Username").fill(people[Role.OWNER].username)
    owner_page.get_by_label("Password").fill(PASSWORD)
    owner_page.get_by_role("button", name="Sign in").click()
    owner_page.wait_for_url(f"{live_server.url}/")
    owner_page.goto(f"{live_server.url}/grants/{grant.pk}/")
    owner_page.locator("li", has_text="Boards shipped to pilot sites").get_by_role("button", name="Verify").click()
    owner_page.wait_for_load_state()
    owner_page.context.close()

    page.reload()
    page.locator("li", has_text="Boards shipped to pilot sites").get_by_text("Approve release…").click()
    page.locator("li", has_text="Boards shipped to pilot sites").locator(
        "button[data-confirm-action=approve_release]"
    ).click()
    page.wait_for_load_state()
    milestone = page.locator("li", has_text="Boards shipped to pilot sites")
    assert milestone.get_by_test_id("milestone-status").inner_text() == "Released"
    assert milestone.get_by_text("shipping-manifest.csv", exact=True).first.is_visible()

    # The overview shows the release and the next deadline.
    page.get_by_role("link", name="Overview", exact=True).click()
    released = page.locator(".kpi", has_text="Released").first
    assert "20,000.00" in released.inner_text()
    assert page.get_by_role("link", name="Inference under 2 W per board").is_visible()
    page.screenshot(path=artifacts / "overview.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=artifacts / "overview-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The risk heat map.
    page.get_by_role("link", name="Risks", exact=True).click()
    assert page.get_by_role("heading", name="Inherent (before controls)").is_visible()
    assert page.locator("table.heat td.level-critical", has_text="1").count() >= 1
    page.screenshot(path=artifacts / "risks.png", full_page=True)

    # The grant report: names, and the hash of its data.
    page.goto(f"{live_server.url}/grants/{grant.pk}/")
    with page.expect_download() as download_info:
        page.get_by_test_id("download-report").click()
    pdf = tmp_path / "report.pdf"
    download_info.value.save_as(pdf)
    if shutil.which("pdftotext") is None:
        service_missing("pdftotext (Debian package poppler-utils)")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    viewer = people[Role.FINANCE]
    digest = sha256_hex(
        canonical_json(grant_report_data(user=viewer, grant=grant_for_report(user=viewer, pk=grant.pk)))
    )
    for expected in (
        "Sovereign edge inference pilot",
        "Boards shipped to pilot sites",
        "Inference under 2 W per board",
        digest,
    ):
        assert expected in text
    assert Decimal(str(Grant.objects.get(pk=grant.pk).milestones.filter(status="released").count())) == 1
