"""Every paginated list of the API, walked two rows at a time through `next` in every ordering it offers (ascending
and descending) over rows that share their sort keys: each row comes exactly once, in the order of one big page,
and `previous` walks the same rows back.

The lists are found in the OpenAPI schema (every GET that takes a `cursor`), and the orderings are asked of each
view's own ordering filter, so a new list or a new ordering field is walked without editing this file. A new list
with no rows here fails until `portfolio()` gives it some; `tie_up()` then makes its rows share every column it can.
"""

import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import DatabaseError, IntegrityError, models, transaction
from django.urls import resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.compliance.models import FrameworkVersion
from apps.compliance.services.audits import privacy_audit_create
from apps.compliance.services.findings import finding_create, remediation_action_create
from apps.compliance.services.frameworks import frameworks_load_directory
from apps.compliance.services.ropa import dpia_create, processing_activity_create
from apps.compute.models import DeviceKind, ReportSource, SourceKind, VerificationReport
from apps.compute.services.devices import device_create
from apps.compute.services.sources import source_create
from apps.escrow.models import ChainTx, ChainTxKind, EscrowAgreement, EscrowMilestone, EscrowToken
from apps.funding.models import CriterionKind, Disbursement, KpiReading, Milestone
from apps.funding.services.milestones import criterion_add
from apps.proofs.services import proof_link_create
from apps.risks.services.indicators import kri_create
from apps.risks.services.matrices import risk_matrix_create
from apps.risks.services.registers import risk_register_create
from apps.risks.services.risks import mitigation_create, risk_create
from apps.tenancy.models import Role
from apps.tenancy.services import api_token_create, invitation_create
from apps.webhooks.models import WebhookDelivery, WebhookEvent
from apps.webhooks.services import webhook_endpoint_create
from tests.factories import MembershipFactory, OrganizationFactory
from tests.funding.factories import FunderFactory, GrantFactory, InvestmentFactory, MilestoneFactory

pytestmark = pytest.mark.django_db

PAGE_SIZE = 2
MIN_ROWS = 5  # three pages at least, so a walk crosses ties between pages


def paginated_lists() -> list[str]:
    """The path of every GET in the schema that pages through a cursor."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        path
        for path, operations in schema["paths"].items()
        if "get" in operations
        and any(p["in"] == "query" and p["name"] == "cursor" for p in operations["get"].get("parameters", []))
    )


def list_view(path: str, user):
    """The view that answers GET `path`, set up for `user` as DRF does for a request."""
    match = resolve(path)
    view = match.func.cls(**match.func.initkwargs)
    view.action_map = match.func.actions
    view.action = match.func.actions.get("get")
    view.args, view.kwargs, view.format_kwarg = (), match.kwargs, None
    request = Request(APIRequestFactory().get(path))
    request.user = user
    view.request = request
    return view


def orderings(view) -> list[str]:
    """Every `ordering` value the view's ordering filter accepts, each ascending and descending."""
    queryset = view.get_queryset()
    names: list[str] = []
    for backend in view.filter_backends:
        if hasattr(backend, "get_valid_fields"):
            names += [name for name, _label in backend().get_valid_fields(queryset, view, {"request": view.request})]
    return [term for name in names for term in (name, f"-{name}")]


def sortable_columns(model) -> list[models.Field]:
    return [
        field
        for field in model._meta.concrete_fields
        if not field.is_relation and not field.primary_key and field.get_internal_type() not in ("JSONField",)
    ]


def tie_up(model, ids: list) -> None:
    """Makes the first rows share every column they can (ties), and the last one NULL where a column allows it."""
    first, rest, last = ids[0], ids[1:4], ids[-1]
    for field in sortable_columns(model):
        value = model.objects.filter(pk=first).values_list(field.attname, flat=True).get()
        for targets, new in ((rest, value), ([last], None)):
            if new is None and not field.null:
                continue
            try:
                with transaction.atomic():
                    model.objects.filter(pk__in=targets).update(**{field.attname: new})
            except (IntegrityError, DatabaseError):
                pass  # a unique or check constraint: no tie on this column


def portfolio(org, people) -> None:
    """Rows for every list, several of which share their sort keys (same amounts, dates, titles, states)."""
    funder, milestone = funding_rows(org)
    escrow_rows(org, funder)
    compute_rows(org, people, milestone)
    compliance_and_risks(org, people)
    webhook_and_tenancy_rows(org, people)
    proof_rows(org, people)
    plan_rows(org, people)


def plan_rows(org, people) -> None:
    """Budget lines, expenses, re-allocations, reporting periods; rate cards, attributions, roadmap, metrics."""
    from apps.economics.models import CostAttribution, Initiative, RateCard, RoadmapPhase, SuccessMetric
    from apps.funding.models import BudgetAmendment, BudgetLine, Expense, ReportingPeriod

    grant = GrantFactory(organization=org, title="Planned")
    lines = [
        BudgetLine.objects.create(
            organization=org,
            grant=grant,
            category="compute",
            name=f"Line {n}",
            currency="EUR",
            amount_original=Decimal("1000"),
            amount=Decimal("1000"),
        )
        for n in range(MIN_ROWS)
    ]
    for n, line in enumerate(lines):
        Expense.objects.create(
            organization=org,
            budget_line=line,
            amount=Decimal("10"),
            currency="EUR",
            spent_on=dt.date(2026, 3, 1),
            description="Same",
        )
        BudgetAmendment.objects.create(
            organization=org, from_line=line, to_line=lines[(n + 1) % MIN_ROWS], amount=Decimal("5"), reason="Same"
        )
        ReportingPeriod.objects.create(
            organization=org,
            grant=grant,
            frequency="monthly",
            start=dt.date(2026, 1 + n, 1),
            end=dt.date(2026, 1 + n, 28),
            due_date=dt.date(2026, 6, 30),
        )
        RateCard.objects.create(
            organization=org,
            name=f"Card {n}",
            kind="cloud",
            currency="EUR",
            price_per_gpu_hour=Decimal("2.5"),
            valid_from=dt.date(2026, 1, 1),
        )
        CostAttribution.objects.create(
            organization=org, name=f"Rule {n}", device_selector={"n": str(n)}, budget_line=line
        )
        phase = RoadmapPhase.objects.create(
            organization=org, name=f"Phase {n}", start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31)
        )
        Initiative.objects.create(organization=org, phase=phase, title="Same", due_date=dt.date(2026, 3, 31))
        SuccessMetric.objects.create(
            organization=org,
            key=f"metric-{n}",
            name="Same",
            source="kpi",
            kpi_metric="revenue",
            direction="gte",
            target=Decimal("1"),
        )


def funding_rows(org):
    funder = FunderFactory(organization=org, name="Same Name Agency")
    FunderFactory.create_batch(MIN_ROWS, organization=org, website="https://same.example.org")
    grants = GrantFactory.create_batch(MIN_ROWS, organization=org, funder=funder, title="Same title")
    InvestmentFactory.create_batch(4, organization=org, investor=funder, title="Same title")
    milestones = [
        MilestoneFactory(grant=grants[n % 2], amount=Decimal("5000"), due_date=dt.date(2026, 6, 30)) for n in range(7)
    ]
    for n, milestone in enumerate(milestones):
        Disbursement.objects.create(
            organization=org,
            milestone=milestone,
            amount=Decimal("100"),
            currency=milestone.currency,
            paid_on=dt.date(2026, 3, 1 + n % 2),
            reference="wire",
        )
        KpiReading.objects.create(
            organization=org,
            metric="revenue",
            value=Decimal("10"),
            unit="EUR",
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 3, 31),
            source=f"ledger-{n}",
        )
    return funder, milestones[0]


def escrow_rows(org, funder) -> None:
    token = EscrowToken.objects.create(
        chain_id=31337, address="0x" + "1" * 40, symbol="DUSD", decimals=6, currency="USD"
    )
    for n in range(1, 5):
        EscrowToken.objects.create(chain_id=31337, address=f"0x{n:040x}", symbol="DUSD", decimals=6, currency="USD")
    escrowed = InvestmentFactory.create_batch(MIN_ROWS, organization=org, investor=funder, title="Same title")
    for n, investment in enumerate(escrowed):
        agreement = EscrowAgreement.objects.create(
            organization=org,
            investment=investment,
            chain_id=31337,
            contract_address="0x" + "e" * 40,
            external_ref=f"0x{n:064x}",
            funder_address="0x" + "f" * 40,
            beneficiary_address="0x" + "b" * 40,
            token=token,
            token_address=token.address,
            token_decimals=6,
            currency="USD",
            total_base_units=3000,
            threshold=1,
        )
        milestone = Milestone.objects.create(
            organization=org,
            investment=investment,
            title="Tranche",
            amount=Decimal("3000"),
            currency="USD",
            due_date=dt.date(2026, 9, 1),
        )
        EscrowMilestone.objects.create(
            agreement=agreement, milestone=milestone, index=0, amount_base_units=3000, deadline=timezone.now()
        )
        ChainTx.objects.create(
            organization=org,
            agreement=agreement,
            kind=ChainTxKind.CREATE,
            chain_id=31337,
            sender="0x" + "a" * 40,
            to="0x" + "e" * 40,
        )


def compute_rows(org, people, milestone) -> None:
    engineer = people[Role.ENGINEER]
    for n in range(MIN_ROWS):
        source = source_create(organization=org, by=engineer, name=f"Edge {n}", kind=SourceKind.PUSH)
        device_create(organization=org, by=engineer, key=f"board-{n}", kind=DeviceKind.EDGE, source=source)
    criterion = criterion_add(
        milestone=milestone,
        by=people[Role.FINANCE],
        kind=CriterionKind.COMPUTE,
        description="GPUs busy",
        config={
            "metric": "gpu.utilization",
            "aggregation": "avg",
            "comparison": "gte",
            "threshold": 70,
            "window_days": 7,
        },
    )
    window_end = timezone.now()
    for passed in (True, True, False, False, False):
        VerificationReport.objects.create(
            organization=org,
            criterion=criterion,
            milestone=criterion.milestone,
            source=ReportSource.values[0],
            window_start=window_end - dt.timedelta(days=7),
            window_end=window_end,
            passed=passed,
            value=Decimal("71.5"),
            devices_counted=8,
            canonical_json="{}",
            sha256="0" * 64,
        )


def webhook_and_tenancy_rows(org, people) -> None:
    owner = people[Role.OWNER]
    endpoint = webhook_endpoint_create(organization=org, by=owner, url="https://hooks.example.com/0", events=[])
    for n in range(1, MIN_ROWS):
        webhook_endpoint_create(organization=org, by=owner, url=f"https://hooks.example.com/{n}", events=[])
    for _ in range(MIN_ROWS):
        WebhookDelivery.objects.create(
            organization=org, endpoint=endpoint, event_id=endpoint.pk, event_type=WebhookEvent.values[0], payload={}
        )
    for n in range(MIN_ROWS):
        api_token_create(user=owner, name=f"ledger-sync-{n}")
        invitation_create(organization=org, by=owner, role=Role.VIEWER, username=f"newcomer-{n}")
        MembershipFactory(organization=OrganizationFactory(name="Same Org Name"), user=owner)


def proof_rows(org, people) -> None:
    released = MilestoneFactory(grant=GrantFactory(organization=org), status="released", title="Same title")
    for _ in range(MIN_ROWS):
        proof_link_create(milestone=released, by=people[Role.OWNER])


class WalkFailed(Exception):
    pass


def fetch(client, url: str) -> dict:
    response = client.get(url)
    if response.status_code != 200:
        raise WalkFailed(f"{url} answered {response.status_code}: {response.content[:200]!r}")
    return response.json()


def compliance_and_risks(org, people) -> None:
    officer, engineer = people[Role.COMPLIANCE], people[Role.ENGINEER]
    frameworks_load_directory()
    gdpr = FrameworkVersion.objects.get(framework__slug="gdpr", is_current=True)
    for n in range(MIN_ROWS):
        FrameworkVersion.objects.create(framework=gdpr.framework, version=f"0.{n}", content_hash="0" * 64)
    audits = [
        privacy_audit_create(
            organization=org,
            framework_version=gdpr,
            title="GDPR 2026",
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 6, 30),
            auditor=officer.username,
            by=officer,
        )
        for _ in range(MIN_ROWS)
    ]
    for n in range(MIN_ROWS):
        finding = finding_create(
            audit=audits[0],
            title="Backups are not encrypted",
            severity="high",
            owner=engineer.username,
            due_date=dt.date(2026, 12, 31),
            by=officer,
        )
        remediation_action_create(finding=finding, description="Enable KMS", owner=engineer.username, by=officer)
        activity = processing_activity_create(
            organization=org,
            by=officer,
            name=f"Support tickets {n}",
            purpose="Answer customers.",
            retention="2 years",
            lawful_basis="contract",
            data_categories=["contact details"],
            data_subjects=["customers' staff"],
        )
        dpia_create(activity=activity, by=officer, title="Support DPIA")

    matrix = risk_matrix_create(organization=org, name="Standard 5x5 (copy)", preset="5x5", by=officer)
    for n in range(MIN_ROWS):
        risk_matrix_create(organization=org, name=f"Simple 3x3 {n}", preset="3x3", by=officer)
        register = risk_register_create(organization=org, name=f"Platform {n}", matrix=matrix, by=officer)
        risk = risk_create(
            register=register,
            title="GPU saturation",
            category="infrastructure",
            owner=engineer.username,
            inherent_likelihood=4,
            inherent_impact=4,
            by=officer,
        )
        kri_create(
            risk=risk,
            name="GPU utilization above 90%",
            source="compute",
            metric="gpu_utilization",
            window=dt.timedelta(hours=1),
            threshold=Decimal(90),
            by=engineer,
        )
        mitigation_create(risk=risk, title="Reserve capacity", owner=engineer.username, by=officer)


def walk(client, path: str, ordering: str | None) -> tuple[list, list, list]:
    """(ids of one big page, ids walked through `next`, ids walked back through `previous` from the last page)."""
    query = {"page_size": 200} | ({"ordering": ordering} if ordering else {})
    expected = [row["id"] for row in fetch(client, f"{path}?{urlencode(query)}")["results"]]

    pages, url = [], f"{path}?{urlencode(query | {'page_size': PAGE_SIZE})}"
    while url and len(pages) <= len(expected):  # a walk that loops stops here
        pages.append(fetch(client, url))
        url = pages[-1]["next"]
    forward = [row["id"] for page in pages for row in page["results"]]

    back_pages, url = [pages[-1]], pages[-1]["previous"]
    while url and len(back_pages) <= len(expected):
        back_pages.insert(0, fetch(client, url))
        url = back_pages[0]["previous"]
    backward = [row["id"] for page in back_pages for row in page["results"]]
    return expected, forward, backward


@pytest.fixture
def finance_lists(org, people):
    portfolio(org, people)
    return people[Role.OWNER]


def test_every_list_walks_every_row_exactly_once_in_every_ordering(finance_lists, client_for):
    owner = finance_lists
    client = client_for(owner)
    paths = paginated_lists()
    assert {"/api/v1/milestones/", "/api/v1/grants/", "/api/v1/disbursements/", "/api/v1/risks/"} <= set(paths)

    failures, walked = [], 0
    for path in paths:
        view = list_view(path, owner)
        rows = list(view.get_queryset().values_list("pk", flat=True))
        if len(rows) < MIN_ROWS:
            failures.append(f"{path}: {len(rows)} rows; give this list at least {MIN_ROWS} in portfolio()")
            continue
        tie_up(view.get_queryset().model, rows)
        for ordering in [None, *orderings(view)]:
            walked += 1
            label = f"{path}?ordering={ordering or '(default)'}"
            try:
                expected, forward, backward = walk(client, path, ordering)
            except WalkFailed as exc:
                failures.append(f"{label}: {exc}")
                continue
            if len(expected) != len(rows):
                failures.append(f"{label}: one page of 200 holds {len(expected)} of {len(rows)} rows")
            if forward != expected:
                missing = len(set(expected) - set(forward))
                failures.append(
                    f"{label}: `next` gave {len(forward)} rows, {len(set(forward))} distinct, {missing} missing"
                )
            elif backward != expected:
                failures.append(f"{label}: `previous` walked back {len(backward)} rows, not the same {len(expected)}")
    assert not failures, f"{len(failures)} of {walked} walks went wrong:\n" + "\n".join(failures)


def sync(client, url: str) -> list:
    """What a finance tool does: follow `next` until it is null."""
    ids = []
    for _ in range(100):
        page = fetch(client, url)
        ids += [row["id"] for row in page["results"]]
        if not page["next"]:
            return ids
        url = page["next"]
    raise AssertionError("the walk never ended")


def test_finance_sync_by_amount_gets_all_nineteen_milestones(org, people, client_for):
    grant = GrantFactory(organization=org)
    amounts = [Decimal("10000")] * 10 + [Decimal("25000")] * 6 + [Decimal("50000")] * 3
    created = {str(MilestoneFactory(grant=grant, amount=amount).pk) for amount in amounts}
    client = client_for(people[Role.FINANCE])

    for ordering in ("amount", "-amount", "amount,-due_date"):
        ids = sync(client, f"/api/milestones/?ordering={ordering}&page_size=2")
        assert len(ids) == 19 and set(ids) == created, ordering
    by_amount = [m["amount"] for m in fetch(client, "/api/milestones/?ordering=-amount&page_size=200")["results"]]
    assert by_amount == sorted(by_amount, key=Decimal, reverse=True)


def test_thousands_of_equal_keys_page_by_value_not_by_offset(org, people, client_for):
    """Past a thousand rows of one amount an offset cursor gives up; the keyset cursor does not."""
    grant = GrantFactory(organization=org)
    Milestone.objects.bulk_create(
        Milestone(
            organization=org,
            grant=grant,
            title=f"M{n}",
            amount=Decimal("1000"),
            currency="EUR",
            due_date=dt.date(2026, 6, 30),
        )
        for n in range(1210)
    )
    ids = sync(client_for(people[Role.FINANCE]), "/api/milestones/?ordering=amount&page_size=200")
    assert len(ids) == len(set(ids)) == 1210


def test_an_unknown_ordering_is_a_400_naming_the_allowed_keys(org, people, client_for):
    client = client_for(people[Role.FINANCE])
    response = client.get("/api/milestones/?ordering=amount,-colour")
    assert response.status_code == 400
    (message,) = response.json()["extra"]["fields"]["ordering"]
    assert "'-colour'" in message and "amount" in message and "due_date" in message

    related = client.get("/api/compute/devices/?ordering=source__name")  # across a relation: not offered
    assert related.status_code == 400 and "ordering" in related.json()["extra"]["fields"]

    fixed = client.get("/api/audit-events/?ordering=seq")  # a list without sort keys says so instead of ignoring it
    assert fixed.status_code == 400 and "fixed order" in fixed.json()["extra"]["fields"]["ordering"][0]
    assert client.get("/api/milestones/?ordering=").status_code == 200


def test_a_cursor_works_only_with_the_ordering_it_came_from(org, people, client_for):
    grant = GrantFactory(organization=org)
    MilestoneFactory.create_batch(3, grant=grant)
    client = client_for(people[Role.FINANCE])
    next_url = fetch(client, "/api/milestones/?ordering=amount&page_size=2")["next"]
    assert client.get(next_url).status_code == 200
    assert client.get(next_url.replace("ordering=amount", "ordering=due_date")).status_code == 404
    assert client.get("/api/milestones/?cursor=bm90IGpzb24").status_code == 404


def test_the_schema_lists_each_lists_sort_keys():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    (ordering,) = [p for p in schema["paths"]["/api/v1/milestones/"]["get"]["parameters"] if p["name"] == "ordering"]
    assert "`amount`" in ordering["description"] and "`due_date`" in ordering["description"]
