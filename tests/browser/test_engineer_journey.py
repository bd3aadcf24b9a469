"""The engineer's journey in Chromium (laptop and phone): the fleet on the compute page, a milestone started, its
compute criterion evaluated now with the report shown, evidence attached and the milestone submitted; axe-core on
every page touched and screenshots under var/browser/."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from apps.compute.models import DeviceKind, SampleRollup, VerificationReport
from apps.compute.services.devices import device_create
from apps.funding.models import CriterionKind, Funder, FunderKind, Milestone, MilestoneStatus
from apps.funding.services.grants import grant_create
from apps.funding.services.milestones import criterion_add, milestone_create
from apps.tenancy.models import Role
from tests.browser.conftest import LAPTOP, PHONE, sign_in

pytestmark = pytest.mark.services


@pytest.fixture
def gpu_milestone(org, people):
    """Two GPUs busy at 80 % for the last three hours, and a milestone held to "average ≥ 70 % over 2.4 h"."""
    engineer, finance = people[Role.ENGINEER], people[Role.FINANCE]
    gpus = [
        device_create(organization=org, by=engineer, key=key, kind=DeviceKind.GPU, labels={}, with_token=False)[0]
        for key in ("gpu-0", "gpu-1")
    ]
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    SampleRollup.objects.bulk_create(
        SampleRollup(
            device=gpu, metric="gpu.utilization", minute=end - dt.timedelta(minutes=m), avg=80, min=70, max=90, count=6
        )
        for gpu in gpus
        for m in range(1, 181)
    )
    funder = Funder.objects.create(organization=org, name="Open Compute Commons", kind=FunderKind.FOUNDATION)
    grant = grant_create(
        organization=org,
        by=finance,
        funder=funder,
        title="Sovereign GPU cloud",
        currency="EUR",
        amount_requested=Decimal("90000"),
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2027, 12, 31),
    )
    milestone = milestone_create(
        parent=grant, by=finance, title="Fleet busy", amount=Decimal("30000"), due_date=dt.date(2027, 6, 30)
    )
    criterion_add(
        milestone=milestone,
        by=finance,
        kind=CriterionKind.COMPUTE,
        description="GPUs busy",
        config={
            "metric": "gpu.utilization",
            "device_kind": "gpu",
            "aggregation": "avg",
            "comparison": "gte",
            "threshold": 70,
            "window_days": 0.1,
            "min_coverage": 0.5,
        },
    )
    return milestone


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_engineer_evaluates_the_fleet_and_submits_the_milestone(
    live_server, page, people, gpu_milestone, artifacts, check_accessibility, viewport
):
    width = "phone" if viewport == PHONE else "laptop"
    page.set_default_timeout(10_000)
    page.set_viewport_size(viewport)
    sign_in(page, live_server.url, people[Role.ENGINEER])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Compute", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("tr", has_text="gpu-0").count() >= 1
    check_accessibility(page, "compute")

    page.goto(f"{live_server.url}/grants/{gpu_milestone.grant_id}/")
    milestone = page.locator("li", has_text="Fleet busy")
    milestone.get_by_role("button", name="Start work").click()
    page.wait_for_load_state()
    milestone = page.locator("li", has_text="Fleet busy")
    milestone.get_by_role("button", name="Evaluate now").click()
    page.wait_for_load_state()
    assert page.get_by_text(
        re.compile(r"Evaluated now: the criterion passed \(value 80\.00, 2 device\(s\)")
    ).is_visible()
    report = VerificationReport.objects.get(criterion__milestone=gpu_milestone)
    assert page.get_by_text(report.sha256).first.is_visible()
    check_accessibility(page, "grant with a verification report")

    milestone = page.locator("li", has_text="Fleet busy")
    milestone.get_by_text("Submit evidence").click()
    milestone.locator("input[type=file]").set_input_files(
        files=[{"name": "dcgm-export.csv", "mimeType": "text/csv", "buffer": b"gpu,util\ngpu-0,80\n"}]
    )
    milestone.get_by_role("button", name="Upload evidence").click()
    page.wait_for_load_state()
    page.locator("li", has_text="Fleet busy").get_by_role("button", name="Submit for verification").click()
    page.wait_for_load_state()
    page.screenshot(path=artifacts / f"engineer-{width}.png", full_page=True)
    assert Milestone.objects.get(pk=gpu_milestone.pk).status in (MilestoneStatus.SUBMITTED, MilestoneStatus.VERIFIED)
    # An engineer may not verify the work (separation of duties): no enabled Verify button.
    verify = page.locator("li", has_text="Fleet busy").get_by_role("button", name="Verify")
    assert verify.count() == 0 or verify.first.is_disabled()
    check_accessibility(page, "grant after submitting")
