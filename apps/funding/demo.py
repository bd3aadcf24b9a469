"""The demo portfolio seed_demo loads: grants and an investment in various states, with milestones,
disbursements and KPI readings. Runs through the services, so the audit trail shows it all."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from apps.funding.models import Funder, FunderKind, KpiMetric
from apps.funding.services import disbursements, funders, grants, investments, kpis, milestones
from apps.tenancy.models import Role


def seed(*, organization, users, stdout) -> None:
    if Funder.objects.filter(organization=organization).exists():
        return
    owner, finance, engineer = users[Role.OWNER], users[Role.FINANCE], users[Role.ENGINEER]
    today = timezone.localdate()
    start = today.replace(day=1) - dt.timedelta(days=120)

    agency = funders.funder_create(
        organization=organization,
        by=owner,
        name="European Innovation Agency",
        kind=FunderKind.GOVERNMENT_AGENCY,
        website="https://eia.example.eu",
    )
    funders.funder_contact_add(
        funder=agency, by=owner, name="Dr. Lena Moreau", email="l.moreau@eia.example.eu", title="Programme officer"
    )
    foundation = funders.funder_create(
        organization=organization, by=owner, name="Open Compute Commons Foundation", kind=FunderKind.FOUNDATION
    )
    investor = funders.funder_create(
        organization=organization, by=owner, name="Northwind Ethical Ventures", kind=FunderKind.PRIVATE_INVESTOR
    )

    # An active grant with one milestone released and paid, one submitted, one planned.
    privacy = grants.grant_create(
        organization=organization,
        by=finance,
        funder=agency,
        title="Privacy-preserving inference at the edge",
        program="Trustworthy AI 2026",
        reference="TAI-2026-0147",
        focus_areas=["privacy_compliant_ai", "edge_computing"],
        currency="EUR",
        amount_requested=Decimal("750000"),
        period_start=start,
        period_end=start + dt.timedelta(days=730),
    )
    grants.grant_requirement_add(
        grant=privacy,
        by=finance,
        kind="compliance_standards",
        description="GDPR-compliant processing with a DPIA before field trials",
    )
    grants.grant_requirement_add(
        grant=privacy,
        by=finance,
        kind="technical_innovation",
        description="On-device inference on RISC-V boards under 2 W",
    )
    grants.grant_report_add(
        grant=privacy, by=finance, title="Interim technical report", due_date=today + dt.timedelta(days=5)
    )
    for step in (grants.grant_submit, grants.grant_start_review):
        step(grant=privacy, by=finance)
    grants.grant_award(grant=privacy, by=finance, amount_awarded=Decimal("700000"))
    grants.grant_activate(grant=privacy, by=finance)
    m1 = milestones.milestone_create(
        parent=privacy,
        by=finance,
        title="Edge pilot: 100 RISC-V boards online",
        amount=Decimal("200000"),
        due_date=start + dt.timedelta(days=60),
    )
    m2 = milestones.milestone_create(
        parent=privacy,
        by=finance,
        title="GPU cluster: 8 GPUs at 70% for a week",
        amount=Decimal("300000"),
        due_date=today + dt.timedelta(days=20),
    )
    milestones.milestone_create(
        parent=privacy,
        by=finance,
        title="Final privacy audit passed",
        amount=Decimal("200000"),
        due_date=start + dt.timedelta(days=700),
    )
    m1 = milestones.milestone_submit(milestone=m1, by=engineer, note="Fleet dashboard shows 112 boards reporting.")
    m1 = milestones.milestone_verify(milestone=m1, by=finance)
    m1 = milestones.milestone_approve_release(milestone=m1, by=finance)
    m1 = milestones.milestone_approve_release(milestone=m1, by=owner)
    disbursements.disbursement_record(
        milestone=m1,
        by=finance,
        amount=Decimal("200000"),
        paid_on=today - dt.timedelta(days=10),
        reference="SEPA EIA-2026-0147-01",
    )
    milestones.milestone_start(milestone=m2, by=engineer)

    # A grant in review, and a draft.
    community = grants.grant_create(
        organization=organization,
        by=finance,
        funder=foundation,
        title="Community compute for public-interest AI",
        focus_areas=["community_development", "ethical_technology"],
        currency="USD",
        amount_requested=Decimal("150000"),
        period_start=today,
        period_end=today + dt.timedelta(days=365),
    )
    grants.grant_submit(grant=community, by=finance)
    grants.grant_start_review(grant=community, by=finance)
    grants.grant_create(
        organization=organization,
        by=finance,
        funder=agency,
        title="Ethical AI procurement toolkit",
        focus_areas=["ethical_technology"],
        currency="EUR",
        amount_requested=Decimal("90000"),
        period_start=today + dt.timedelta(days=30),
        period_end=today + dt.timedelta(days=400),
    )

    # A SAFE released milestone by milestone, with KPI-based tranches.
    safe = investments.investment_create(
        organization=organization,
        by=finance,
        investor=investor,
        title="Seed SAFE",
        instrument="safe",
        currency="USD",
        committed_amount=Decimal("2000000"),
        closing_date=today - dt.timedelta(days=30),
    )
    investments.investment_commit(investment=safe, by=finance)
    investments.investment_activate(investment=safe, by=finance)
    for criterion in safe.ethical_criteria.all():
        investments.ethical_criterion_assess(
            criterion=criterion, by=owner, assessment="strong", notes="Assessed at term-sheet stage."
        )
    tranche = milestones.milestone_create(
        parent=safe,
        by=finance,
        title="Tranche 2: $40k MRR",
        amount=Decimal("500000"),
        due_date=today + dt.timedelta(days=45),
    )
    milestones.criterion_add(
        milestone=tranche,
        by=finance,
        kind="kpi",
        description="Monthly revenue of at least 40,000 USD",
        config={
            "metric": "revenue",
            "aggregation": "latest",
            "comparison": "gte",
            "threshold": "40000",
            "period_start": (today - dt.timedelta(days=90)).isoformat(),
            "period_end": (today + dt.timedelta(days=45)).isoformat(),
        },
    )
    for months_ago, revenue in ((3, "18500"), (2, "26800"), (1, "35200")):
        period_end = today.replace(day=1) - dt.timedelta(days=1 + 30 * (months_ago - 1))
        kpis.kpi_reading_create(
            organization=organization,
            by=finance,
            metric=KpiMetric.REVENUE,
            value=revenue,
            unit="USD",
            period_start=period_end.replace(day=1),
            period_end=period_end,
            source="ledger",
        )
    kpis.kpi_reading_create(
        organization=organization,
        by=engineer,
        metric=KpiMetric.UPTIME_PCT,
        value="99.93",
        unit="%",
        period_start=today - dt.timedelta(days=30),
        period_end=today - dt.timedelta(days=1),
        source="status-page",
    )
    stdout.write("Demo funding portfolio: 3 grants, 1 investment, milestones, a disbursement and KPI readings.")
