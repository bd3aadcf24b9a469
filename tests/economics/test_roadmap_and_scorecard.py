import datetime as dt
from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent
from apps.compute.models import Device, SampleRollup
from apps.economics.models import Initiative, RoadmapPhase, SuccessMetric
from apps.economics.selectors import metric_status
from apps.funding.models import KpiReading
from tests.funding.factories import MilestoneFactory

pytestmark = pytest.mark.django_db


def test_the_seed_strategy_template_fills_the_roadmap_and_the_metrics_once(org, people, client_for):
    client = client_for(people["owner"])
    response = client.post("/api/roadmap-phases/from-template/", {"start": "2026-01-15"}, format="json")
    assert response.status_code == 201, response.json()
    phases = response.json()
    assert [(p["name"], p["start"], p["end"]) for p in phases] == [
        ("Immediate (1-3 months)", "2026-01-15", "2026-04-14"),
        ("Short-term (3-6 months)", "2026-04-15", "2026-07-14"),
        ("Mid-term (6-12 months)", "2026-07-15", "2027-01-14"),
    ]
    assert [len(p["initiatives"]) for p in phases] == [3, 3, 2]
    owners = {i["title"]: i["owner"] for i in phases[0]["initiatives"]}
    assert owners["Deploy the on-prem GPU cluster and its telemetry"] == people["engineer"].pk
    assert owners["Complete the privacy-by-design audit (GDPR)"] == people["compliance"].pk
    keys = set(SuccessMetric.objects.filter(organization=org).values_list("key", flat=True))
    assert {"uptime", "p95-latency", "gpu-utilization", "cost-per-operation", "revenue-growth"} <= keys
    again = client.post("/api/roadmap-phases/from-template/", {}, format="json")
    assert again.status_code == 409 and RoadmapPhase.objects.count() == 3
    assert client_for(people["viewer"]).post("/api/roadmap-phases/from-template/", {}, format="json").status_code in (
        403,
        409,
    )


def test_initiatives_link_milestones_and_move_through_the_machine(org, people, client_for):
    client = client_for(people["finance"])
    phase = client.post(
        "/api/roadmap-phases/", {"name": "Now", "start": "2026-01-01", "end": "2026-03-31"}, format="json"
    ).json()
    milestone = MilestoneFactory(grant__organization=org)
    body = {
        "phase": phase["id"],
        "title": "Rack the cluster",
        "due_date": "2026-03-31",
        "owner": people["engineer"].pk,
        "milestones": [str(milestone.pk)],
        "kpis": ["gpu_hours"],
    }
    created = client.post("/api/initiatives/", body, format="json")
    assert created.status_code == 201, created.json()
    initiative = created.json()
    assert initiative["milestones"] == [str(milestone.pk)]
    bad = client.post("/api/initiatives/", {**body, "kpis": ["vibes"]}, format="json")
    assert bad.json()["extra"]["fields"] == {"kpis": ["Unknown KPI(s): vibes."]}

    owner_of_it = client_for(people["engineer"])
    url = f"/api/initiatives/{initiative['id']}/act/"
    assert owner_of_it.post(url, {"action": "start"}, format="json").json()["status"] == "in_progress"
    assert owner_of_it.post(url, {"action": "block"}, format="json").status_code == 400  # a reason is required
    assert owner_of_it.post(url, {"action": "block", "reason": "PDU late"}, format="json").json()["status"] == "blocked"
    assert client_for(people["viewer"]).post(url, {"action": "unblock"}, format="json").status_code == 403
    owner_of_it.post(url, {"action": "unblock"}, format="json")
    done = owner_of_it.post(url, {"action": "complete"}, format="json").json()
    assert done["status"] == "done" and done["completed_at"]
    steps = [e.after["status"] for e in AuditEvent.objects.filter(action="initiative.status_changed")]
    assert steps == ["in_progress", "blocked", "in_progress", "done"]
    assert Initiative.objects.get().status == "done"


@pytest.mark.parametrize(
    ("direction", "target", "value", "status"),
    [
        ("gte", "99.9", "99.95", "on_target"),
        ("gte", "99.9", "99.85", "at_risk"),  # within 0.1 % of the target
        ("gte", "99.9", "99.7", "off_target"),
        ("lte", "200", "205", "at_risk"),
        ("lte", "200", "260", "off_target"),
        ("lte", "200", None, "no_data"),
    ],
)
def test_metric_status_against_target_and_margin(direction, target, value, status):
    margin = Decimal("0.1") if target == "99.9" else Decimal("5")
    metric = SuccessMetric(direction=direction, target=Decimal(target), at_risk_margin_pct=margin)
    assert metric_status(metric, None if value is None else Decimal(value)) == status


def test_scorecard_reads_kpi_readings_growth_and_gpu_rollups(org, people, client_for):
    client = client_for(people["owner"])
    for body in [
        {
            "key": "revenue-growth",
            "name": "Revenue growth",
            "source": "kpi",
            "kpi_metric": "revenue",
            "growth": True,
            "direction": "gte",
            "target": "10",
        },
        {
            "key": "gpu-utilization",
            "name": "GPU utilization",
            "source": "compute",
            "compute_figure": "utilization_pct",
            "direction": "gte",
            "target": "70",
        },
    ]:
        assert client.post("/api/success-metrics/", body, format="json").status_code == 201
    for month, value in ((9, "20000"), (10, "21000")):
        KpiReading.objects.create(
            organization=org,
            metric="revenue",
            value=Decimal(value),
            source="ledger",
            period_start=dt.date(2026, month, 1),
            period_end=dt.date(2026, month, 28),
        )
    gpu = Device.objects.create(organization=org, key="gpu-0", kind="gpu")
    edge = Device.objects.create(organization=org, key="board-0", kind="edge")
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    for device, metric, value in ((gpu, "gpu.utilization", 72.0), (edge, "cpu.utilization", 10.0)):
        SampleRollup.objects.bulk_create(
            SampleRollup(
                device=device,
                metric=metric,
                minute=now - dt.timedelta(minutes=m),
                avg=value,
                min=value,
                max=value,
                count=6,
            )
            for m in range(1, 61)
        )
    rows = {row["metric"]["key"]: row for row in client.get("/api/success-metrics/scorecard/").json()}
    growth = rows["revenue-growth"]
    assert (Decimal(growth["value"]), growth["status"]) == (Decimal(5), "off_target")  # 20000 -> 21000
    # The edge board's CPU does not dilute the GPUs' utilization.
    utilization = rows["gpu-utilization"]
    assert (Decimal(utilization["value"]), utilization["status"]) == (Decimal(72), "on_target")
