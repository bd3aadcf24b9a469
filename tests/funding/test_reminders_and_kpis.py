import datetime as dt
from decimal import Decimal

import pytest

from apps.compute.criteria import COMPARISONS as COMPUTE_COMPARISONS
from apps.funding.models import GrantReport, KpiReading
from apps.funding.services.kpis import kpi_config_clean, kpi_evaluate
from apps.funding.services.reminders import reminders_send
from apps.funding.tasks import funding_send_reminders
from tests.funding.factories import GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 26)


def test_reminders_go_to_owners_once_a_day(org, people, mailoutbox):
    owner = people["engineer"]
    grant = GrantFactory(organization=org, owner=people["finance"])
    MilestoneFactory(grant=grant, title="Edge pilot", owner=owner, due_date=TODAY - dt.timedelta(days=3))
    MilestoneFactory(grant=grant, title="GPU week", owner=owner, due_date=TODAY + dt.timedelta(days=6))
    MilestoneFactory(grant=grant, title="Far away", owner=owner, due_date=TODAY + dt.timedelta(days=30))
    MilestoneFactory(grant=grant, title="Done", owner=owner, due_date=TODAY - dt.timedelta(days=3), status="released")
    GrantReport.objects.create(grant=grant, title="Interim report", due_date=TODAY)

    assert reminders_send(today=TODAY) == {"milestones": 2, "reports": 1}
    subjects = sorted(message.subject for message in mailoutbox)
    assert subjects == [
        "[govtrack] Grant report due today: Interim report",
        "[govtrack] Milestone due soon: GPU week",
        "[govtrack] Milestone overdue: Edge pilot",
    ]
    overdue = next(m for m in mailoutbox if "Edge pilot" in m.subject)
    assert overdue.to == [owner.email] and "OVERDUE by 3 day(s)" in overdue.body

    assert reminders_send(today=TODAY) == {"milestones": 0, "reports": 0}
    assert len(mailoutbox) == 3
    assert reminders_send(today=TODAY + dt.timedelta(days=1))["milestones"] == 2


def test_reminder_task_runs_the_same_service(org, people, mailoutbox):
    MilestoneFactory(grant=GrantFactory(organization=org), owner=people["finance"], due_date=dt.date.today())
    assert funding_send_reminders.delay().get() == {"milestones": 1, "reports": 0}


def test_finance_tool_posts_a_kpi_reading_with_its_token(org, people, token_client_for):
    client = token_client_for(people["finance"])
    response = client.post(
        "/api/kpi-readings/",
        {
            "metric": "uptime_pct",
            "value": "99.95",
            "unit": "%",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
            "source": "status-page",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["organization"] == str(org.pk)
    listed = client.get("/api/kpi-readings/?metric=uptime_pct").json()["results"]
    assert response.json()["value"] == "99.95"
    assert [r["value"] for r in listed] == ["99.95"]


@pytest.mark.parametrize(
    ("posted", "answered"),
    [("125000.500000", "125000.5"), ("125000", "125000"), ("0.000001", "0.000001"), ("-0.250", "-0.25"), ("0", "0")],
)
def test_a_kpi_value_is_answered_as_the_shortest_exact_decimal_in_json_and_csv(
    org, people, client_for, posted, answered
):
    client = client_for(people["finance"])
    body = {"metric": "revenue", "value": posted, "unit": "EUR", "period_start": "2026-07-01",
            "period_end": "2026-07-31", "source": "ledger-sync"}  # fmt: skip
    created = client.post("/api/kpi-readings/", body, format="json").json()

    csv = b"".join(client.get("/api/kpi-readings/?format=csv").streaming_content).decode().splitlines()

    assert created["value"] == answered
    assert client.get("/api/kpi-readings/").json()["results"][0]["value"] == answered
    assert csv[0].split(",")[:3] == ["id", "metric", "value"] and csv[1].split(",")[2] == answered


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"value": "NaN"}, "value"),
        ({"value": "Infinity"}, "value"),
        ({"metric": "vibes"}, "metric"),
        ({"period_end": "2026-09-01"}, "period_end"),
        ({"source": ""}, "source"),
    ],
)
def test_bad_kpi_readings_name_the_field(org, people, token_client_for, overrides, field):
    body = {
        "metric": "revenue",
        "value": "10",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "source": "ledger",
        **overrides,
    }
    response = token_client_for(people["finance"]).post("/api/kpi-readings/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == [field]


def test_viewer_cannot_post_kpis(org, people, token_client_for):
    body = {"metric": "revenue", "value": "10", "period_start": "2026-10-01", "period_end": "2026-10-31", "source": "x"}
    response = token_client_for(people["viewer"]).post("/api/kpi-readings/", body, format="json")
    assert response.status_code == 403 and "report KPI readings" in response.json()["message"]


# Each comparison a criterion may name, at the threshold, just above it and just below it.
BOUNDARIES = {
    "gte": (True, True, False),
    "gt": (False, True, False),
    "lte": (True, False, True),
    "lt": (False, False, True),
    "eq": (True, False, False),
}


@pytest.mark.parametrize(("comparison", "expected"), list(BOUNDARIES.items()))
def test_a_kpi_criterion_at_its_threshold_passes_only_where_the_comparison_includes_it(org, comparison, expected):
    config = kpi_config_clean(
        {
            "metric": "uptime_pct",
            "aggregation": "latest",
            "comparison": comparison,
            "threshold": "99.9",
            "period_start": "2026-10-01",
            "period_end": "2026-10-31",
        }
    )
    outcomes = []
    for n, value in enumerate(["99.9", "99.900001", "99.899999"]):
        KpiReading.objects.create(
            organization=org, metric="uptime_pct", value=Decimal(value), unit="%",
            period_start=dt.date(2026, 10, 1), period_end=dt.date(2026, 10, 31), source=f"status-page-{n}",
        )  # fmt: skip
        result = kpi_evaluate(organization=org, config=config)
        assert result["value"] == value + "0" * (6 - len(value.split(".")[1]))
        outcomes.append(result["passed"])
    assert tuple(outcomes) == expected, f"uptime {comparison} 99.9 at 99.9, above and below"


@pytest.mark.parametrize("comparison", ["gte", "gt", "lte", "lt"])
def test_a_compute_criterion_compares_at_its_threshold_the_same_way(comparison):
    at, above, below = BOUNDARIES[comparison]
    compare = COMPUTE_COMPARISONS[comparison]
    assert (compare(70.0, 70.0), compare(70.000001, 70.0), compare(69.999999, 70.0)) == (at, above, below)
    assert set(COMPUTE_COMPARISONS) == {"gte", "gt", "lte", "lt"}
