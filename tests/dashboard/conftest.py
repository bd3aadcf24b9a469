import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from apps.compliance.models import FrameworkVersion
from apps.compliance.services.audits import privacy_audit_create, privacy_audit_start_fieldwork
from apps.compliance.services.frameworks import FRAMEWORKS_DIR, framework_load
from apps.compute.models import DeviceKind, SampleRollup
from apps.compute.services.devices import device_create
from apps.funding.models import Funder, FunderKind
from apps.funding.services.grants import grant_create
from apps.risks.services.matrices import risk_matrix_create
from apps.risks.services.registers import risk_register_create
from apps.risks.services.risks import risk_create
from apps.tenancy.models import Role


@pytest.fixture
def browser_for(db):
    """A Django test client signed in as the user (the session cookie a browser would hold)."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def funder(org):
    return Funder.objects.create(organization=org, name="European Innovation Agency", kind=FunderKind.GOVERNMENT_AGENCY)


@pytest.fixture
def make_grant(org, people, funder):
    def make(title="Edge privacy pilot", amount="500000", **overrides):
        values = {
            "organization": org,
            "by": people[Role.FINANCE],
            "funder": funder,
            "title": title,
            "currency": "EUR",
            "amount_requested": Decimal(amount),
            "period_start": dt.date(2026, 1, 1),
            "period_end": dt.date(2027, 12, 31),
        } | overrides
        return grant_create(**values)

    return make


@pytest.fixture
def audit(org, people):
    result = framework_load(text=(FRAMEWORKS_DIR / "gdpr.yaml").read_text(encoding="utf-8"), source="gdpr.yaml")
    version = FrameworkVersion.objects.get(framework__slug=result.slug, version=result.version)
    officer = people[Role.COMPLIANCE]
    audit = privacy_audit_create(
        organization=org,
        framework_version=version,
        title="GDPR 2026",
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 12, 31),
        auditor=officer.username,
        by=officer,
    )
    return privacy_audit_start_fieldwork(audit=audit, by=officer)


@pytest.fixture
def register(org, people):
    officer = people[Role.COMPLIANCE]
    matrix = risk_matrix_create(organization=org, name="Standard 5x5", preset="5x5", by=officer)
    return risk_register_create(organization=org, name="Platform", matrix=matrix, by=officer)


@pytest.fixture
def make_risk(register, people):
    def make(title="GPU saturation", owner=None, **overrides):
        values = {
            "register": register,
            "title": title,
            "category": register.categories[0],
            "owner": (owner or people[Role.ENGINEER]).username,
            "inherent_likelihood": 4,
            "inherent_impact": 4,
            "residual_likelihood": 2,
            "residual_impact": 2,
            "by": people[Role.COMPLIANCE],
        } | overrides
        return risk_create(**values)

    return make


@pytest.fixture
def fleet(org, people):
    """Two GPUs and an edge board with the last 3 hours of per-minute rollups."""
    engineer = people[Role.ENGINEER]
    devices = [
        device_create(organization=org, by=engineer, key=key, kind=kind, labels={}, with_token=False)[0]
        for key, kind in (("gpu-0", DeviceKind.GPU), ("gpu-1", DeviceKind.GPU), ("board-1", DeviceKind.EDGE))
    ]
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    rows = [
        SampleRollup(
            device=device,
            metric="gpu.utilization" if device.kind == DeviceKind.GPU else "cpu.utilization",
            minute=end - dt.timedelta(minutes=minute),
            avg=80.0 if device.kind == DeviceKind.GPU else 30.0,
            min=70.0 if device.kind == DeviceKind.GPU else 20.0,
            max=90.0 if device.kind == DeviceKind.GPU else 40.0,
            count=6,
        )
        for device in devices
        for minute in range(1, 181)
    ]
    SampleRollup.objects.bulk_create(rows)
    return devices


@pytest.fixture
def make_investment(org, people):
    """An investment recorded through the services: a SAFE of 2,000,000 USD, committed, with a budget line."""
    from apps.funding.services.budget import budget_line_add
    from apps.funding.services.investments import investment_commit, investment_create

    def make(title="Seed round for the Blackwell cluster", **overrides):
        finance = people[Role.FINANCE]
        investor = Funder.objects.create(organization=org, name="Northwind Ventures", kind=FunderKind.PRIVATE_INVESTOR)
        values = {
            "organization": org,
            "by": finance,
            "investor": investor,
            "title": title,
            "instrument": "safe",
            "currency": "USD",
            "committed_amount": Decimal("2000000"),
            "closing_date": dt.date(2026, 2, 15),
        } | overrides
        investment = investment_commit(investment=investment_create(**values), by=people[Role.OWNER])
        budget_line_add(parent=investment, by=finance, category="compute", name="GPU hours", amount="800000")
        return investment

    return make
