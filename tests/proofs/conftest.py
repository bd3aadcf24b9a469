"""A grant milestone verified from telemetry and released by the escrow contract on a real anvil, and a second
milestone of the same grant that is not released."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.compute.services.verification import criterion_verify
from apps.escrow.services.agreements import escrow_agreement_create
from apps.funding.models import Milestone, MilestoneStatus
from apps.funding.services.milestones import milestone_approve_release, milestone_submit
from tests.compute.conftest import compute_criterion, fill_rollups, gpus
from tests.dashboard.conftest import browser_for  # noqa: F401 (fixture)
from tests.escrow.conftest import anvil, chain, sync  # noqa: F401 (fixtures)
from tests.funding.factories import GrantFactory


@pytest.fixture
def grant(org):
    return GrantFactory(
        organization=org,
        title="Community GPU cloud",
        currency="USD",
        period_start=timezone.localdate() - dt.timedelta(days=30),
        period_end=timezone.localdate() + dt.timedelta(days=365),
    )


@pytest.fixture
def released(chain, org, people, grant):  # noqa: F811 - the fixture imported above
    """(released milestone, other milestone): the first verified from a day of rollups on one GPU and released on
    chain; the second in progress, in the same agreement."""
    due = timezone.localdate() + dt.timedelta(days=30)
    first, second = (
        Milestone.objects.create(
            organization=org,
            grant=grant,
            title=title,
            amount=Decimal(amount),
            currency="USD",
            due_date=due,
            status=MilestoneStatus.IN_PROGRESS,
        )
        for title, amount in (("Cluster busy for a day", "1200"), ("Secret second tranche", "800"))
    )
    escrow_agreement_create(parent=grant, by=people["finance"], token=chain.usd, beneficiary_address=chain.beneficiary)
    sync()
    end = timezone.now().replace(second=0, microsecond=0)
    (gpu,) = gpus(org, 1, labels={"cluster": "a"})
    fill_rollups(gpu, start=end - dt.timedelta(days=1), minutes=24 * 60, value=80)
    criterion = compute_criterion(first, people["finance"], window_days=1, device_selector={"cluster": "a"})
    milestone_submit(milestone=first, by=people["engineer"])
    report = criterion_verify(criterion=criterion, now=end + dt.timedelta(seconds=1))
    assert report.passed
    first.refresh_from_db()
    assert first.status == MilestoneStatus.VERIFIED
    milestone_approve_release(milestone=first, by=people["owner"])
    sync()
    first.refresh_from_db()
    assert first.status == MilestoneStatus.RELEASED
    return first, second
