import datetime as dt
from decimal import Decimal

from django.utils import timezone

from apps.funding.models import Milestone, MilestoneStatus
from tests.funding.factories import InvestmentFactory


def escrowable_investment(
    organization, *, amounts=("1500.25", "2500"), days=(30, 60), status=MilestoneStatus.SUBMITTED
):
    """A USD investment with one milestone per amount, due `days` from today (chain time is wall time)."""
    investment = InvestmentFactory(organization=organization, currency="USD", committed_amount=Decimal("1000000"))
    today = timezone.localdate()
    milestones = [
        Milestone.objects.create(
            organization=organization,
            investment=investment,
            title=f"Tranche {i + 1}",
            amount=Decimal(amount),
            currency="USD",
            due_date=today + dt.timedelta(days=day),
            status=status,
        )
        for i, (amount, day) in enumerate(zip(amounts, days, strict=True))
    ]
    return investment, milestones
