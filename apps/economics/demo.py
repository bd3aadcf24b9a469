"""Demo money-against-plan for seed_demo: budget lines on the edge-inference grant with expenses, a quarterly
reporting schedule with the first report approved and the next one due, rate cards and attributions that put the
demo cluster's cost on the grant's compute line, and the seed strategy's roadmap and success metrics.
Runs after the funding and compute seeders, through the services (so the audit trail shows it all)."""

import datetime as dt
import random

from django.utils import timezone

from apps.compute.models import Device, SampleRollup
from apps.economics.models import RoadmapPhase
from apps.economics.services import cost_attribution_create, initiative_act, rate_card_create, roadmap_template_load
from apps.funding.models import BudgetLine, Grant, KpiMetric, Milestone
from apps.funding.services.budget import budget_line_add, expense_record
from apps.funding.services.kpis import kpi_reading_create
from apps.funding.services.reporting import period_report_approve, period_report_submit, reporting_schedule_set
from apps.tenancy.models import Role

DEMO_GRANT = "Privacy-preserving inference at the edge"
LINES = [
    ("compute", "GPU cluster (on-prem)", "280000"),
    ("personnel", "Research engineers", "240000"),
    ("equipment", "RISC-V edge boards", "90000"),
    ("cloud", "Cloud burst", "40000"),
    ("travel", "Field trials travel", "20000"),
    ("indirect", "Indirect costs", "30000"),
]


def seed(*, organization, users, stdout) -> None:
    grant = Grant.objects.filter(organization=organization, title=DEMO_GRANT).first()
    if grant is None or BudgetLine.objects.filter(grant=grant).exists():
        return
    owner, finance, engineer, funder = (users[r] for r in (Role.OWNER, Role.FINANCE, Role.ENGINEER, Role.VIEWER))
    today = timezone.localdate()
    lines = {
        category: budget_line_add(parent=grant, by=finance, category=category, name=name, amount=amount)
        for category, name, amount in LINES
    }
    for category, amount, days_ago, description in [
        ("personnel", "41500.00", 75, "Payroll, research engineers"),
        ("personnel", "41500.00", 45, "Payroll, research engineers"),
        ("equipment", "18400.00", 60, "40 RISC-V boards"),
        ("cloud", "2310.75", 20, "Cloud burst, eu-west"),
        ("travel", "1280.00", 30, "Pilot site visit, Lyon"),
    ]:
        spent_on = max(grant.period_start, today - dt.timedelta(days=days_ago))
        expense_record(
            budget_line=lines[category], by=finance, amount=amount, spent_on=spent_on, description=description
        )

    _tag_the_pilot_payment(grant, lines, finance)
    periods = reporting_schedule_set(grant=grant, by=finance, frequency="quarterly", due_days=30)
    first = periods[0]
    period_report_submit(
        period=first,
        by=finance,
        narrative="First quarter: 40 edge boards online, the on-prem cluster racked and reporting, the DPIA drafted.",
    )
    period_report_approve(period=first, by=funder, note="Thank you; on track.")

    _power_rollups(organization)
    cluster = rate_card_create(
        organization=organization,
        by=finance,
        name="Blackwell cluster (on-prem)",
        kind="on_prem",
        currency="EUR",
        valid_from=grant.period_start,
        device_selector={"cluster": "blackwell-a"},
        purchase_price="38000",
        lifetime_days=1460,
        power_price_per_kwh="0.21",
    )
    rate_card_create(
        organization=organization,
        by=finance,
        name="Edge boards (on-prem)",
        kind="on_prem",
        currency="EUR",
        valid_from=grant.period_start,
        device_selector={"site": "pilot-lyon"},
        purchase_price="460",
        lifetime_days=1095,
        power_price_per_kwh="0.21",
    )
    rate_card_create(
        organization=organization,
        by=finance,
        name="Cloud burst eu-west",
        kind="cloud",
        currency="EUR",
        valid_from=grant.period_start,
        device_selector={"cloud": "burst"},
        provider="example-cloud",
        region="eu-west",
        price_per_gpu_hour="2.45",
    )
    cost_attribution_create(
        organization=organization,
        by=finance,
        name="Blackwell cluster to the grant",
        device_selector={"cluster": "blackwell-a"},
        budget_line=lines["compute"],
    )
    cost_attribution_create(
        organization=organization,
        by=finance,
        name="Edge fleet to the grant",
        device_selector={"site": "pilot-lyon"},
        budget_line=lines["equipment"],
    )
    kpi_reading_create(
        organization=organization,
        by=engineer,
        metric=KpiMetric.OPERATIONS,
        value="5400000",
        period_start=today - dt.timedelta(days=2),
        period_end=today - dt.timedelta(days=1),
        source="inference-gateway",
    )
    for metric, value in (
        (KpiMetric.CUSTOMERS, "19"),
        (KpiMetric.LATENCY_MS, "184"),
        (KpiMetric.MARKET_PENETRATION_PCT, "1.6"),
    ):
        kpi_reading_create(
            organization=organization,
            by=finance,
            metric=metric,
            value=value,
            period_start=today - dt.timedelta(days=30),
            period_end=today - dt.timedelta(days=1),
            source="crm" if metric != KpiMetric.LATENCY_MS else "apm",
        )

    if not RoadmapPhase.objects.filter(organization=organization).exists():
        loaded = roadmap_template_load(organization=organization, by=owner, start=grant.period_start)
        first_phase = loaded["initiatives"][:3]
        milestone = Milestone.objects.filter(organization=organization, title__startswith="GPU cluster").first()
        if milestone is not None:
            first_phase[0].milestones.add(milestone)
            first_phase[0].compute_sources.set(cluster.organization.compute_sources.all()[:1])
        for initiative in first_phase[:2]:
            initiative_act(initiative=initiative, by=owner, action="start")
        initiative_act(initiative=first_phase[0], by=owner, action="complete")
        initiative_act(initiative=loaded["initiatives"][3], by=owner, action="start")
    stdout.write(
        f"Economics: {len(lines)} budget lines on '{grant.title}', {len(periods)} reporting periods (the first "
        "approved), rate cards on the demo cluster and edge fleet, the seed strategy's roadmap and scorecard."
    )


def _tag_the_pilot_payment(grant, lines, finance) -> None:
    """The edge pilot's payment was recorded before the budget had lines: it is voided and booked again against
    the lines it paid for (a correction, both entries kept). Left as it is when the chain pays it (escrow)."""
    from django.db import transaction

    from apps.core.errors import ApplicationError
    from apps.funding.models import Disbursement, DisbursementKind
    from apps.funding.services.disbursements import disbursement_record, disbursement_void

    paid = Disbursement.objects.filter(
        milestone__grant=grant,
        kind=DisbursementKind.FIAT,
        voids__isnull=True,
        voided_by__isnull=True,
        budget_line__isnull=True,
    ).first()
    if paid is None:
        return
    try:
        with transaction.atomic():
            reason = "Booked again against the budget lines it paid for."
            disbursement_void(disbursement=paid, by=finance, reason=reason)
            for category, amount in (("equipment", "90000"), ("personnel", "110000")):
                disbursement_record(
                    milestone=paid.milestone,
                    by=finance,
                    amount=amount,
                    paid_on=paid.paid_on,
                    reference=paid.reference,
                    budget_line=lines[category],
                )
    except ApplicationError:
        return


def _power_rollups(organization) -> None:
    """A power reading beside each utilization rollup of the demo GPUs (idle ~150 W, busy ~1000 W)."""
    rng = random.Random(20261201)  # noqa: S311 - synthetic demo data
    gpus = Device.objects.filter(organization=organization, labels__cluster="blackwell-a")
    rows = SampleRollup.objects.filter(device__in=gpus, metric="gpu.utilization").values_list(
        "device_id", "minute", "avg"
    )
    power = []
    for device_id, minute, utilization in rows.iterator(chunk_size=5000):
        watts = round(150 + 8.5 * utilization + rng.gauss(0, 12), 1)
        power.append(
            SampleRollup(
                device_id=device_id, metric="gpu.power.watts", minute=minute, avg=watts, min=watts, max=watts, count=6
            )
        )
    SampleRollup.objects.bulk_create(power, batch_size=2000, ignore_conflicts=True)
