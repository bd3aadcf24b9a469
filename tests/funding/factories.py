import datetime as dt
from decimal import Decimal

import factory

from apps.funding.models import Funder, FunderKind, Grant, GrantStatus, Investment, Milestone
from tests.factories import OrganizationFactory

TODAY = dt.date(2026, 11, 26)


class FunderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Funder

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Funder {n}")
    kind = FunderKind.GOVERNMENT_AGENCY


class GrantFactory(factory.django.DjangoModelFactory):
    """An active grant of 100,000 EUR for 2026 (awarded in full)."""

    class Meta:
        model = Grant

    organization = factory.SubFactory(OrganizationFactory)
    funder = factory.SubFactory(FunderFactory, organization=factory.SelfAttribute("..organization"))
    title = factory.Sequence(lambda n: f"Grant {n}")
    currency = "EUR"
    amount_requested = Decimal("100000")
    amount_awarded = Decimal("100000")
    period_start = dt.date(2026, 1, 1)
    period_end = dt.date(2026, 12, 31)
    status = GrantStatus.ACTIVE


class InvestmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Investment

    organization = factory.SubFactory(OrganizationFactory)
    investor = factory.SubFactory(
        FunderFactory, organization=factory.SelfAttribute("..organization"), kind=FunderKind.PRIVATE_INVESTOR
    )
    title = factory.Sequence(lambda n: f"Investment {n}")
    instrument = "safe"
    currency = "USD"
    committed_amount = Decimal("1000000")
    status = "active"


class MilestoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Milestone

    grant = factory.SubFactory(GrantFactory)
    organization = factory.SelfAttribute("grant.organization")
    title = factory.Sequence(lambda n: f"Milestone {n}")
    amount = Decimal("10000")
    currency = factory.SelfAttribute("grant.currency")
    due_date = dt.date(2026, 12, 1)
