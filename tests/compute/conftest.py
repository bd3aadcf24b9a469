import datetime as dt

import pytest
from django.utils import timezone

from apps.compute.models import Device, DeviceKind, SampleRollup
from apps.compute.services.devices import device_create
from apps.compute.services.ingest import samples_ingest
from apps.compute.services.sources import source_create
from apps.funding.models import CriterionKind
from apps.funding.services.milestones import criterion_add
from apps.tenancy.models import Role
from tests.compute_hooks.conftest import prometheus_stack  # noqa: F401 - the real Prometheus + node exporter
from tests.factories import OrganizationFactory, member
from tests.funding.factories import GrantFactory, MilestoneFactory
from tests.listeners import resolver_offline

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def sealed(end: dt.datetime, *, lateness: int | None = None) -> dt.datetime:
    """The first moment a window ending at `end` may be evaluated (GPUs' default lateness allowance)."""
    from django.conf import settings

    allowance = settings.COMPUTE_LATENESS_SECONDS["gpu"] if lateness is None else lateness
    return end + dt.timedelta(seconds=allowance + settings.COMPUTE_SEAL_MARGIN_SECONDS)


@pytest.fixture(autouse=True)
def _loopback_prometheus_allowed(settings, monkeypatch):
    """The test Prometheus listens on loopback: allowed here as an operator would allow an on-prem one. Names in
    source URLs are not looked up with a DNS server (the egress gate resolves them)."""
    settings.EGRESS_ALLOW_NETWORKS = ["127.0.0.1/32"]
    resolver_offline(monkeypatch)


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme Compute")


@pytest.fixture
def people(org):
    """One user per role in `org`."""
    return {role: member(org, role, username=f"{role}-acme") for role in Role.values}


@pytest.fixture
def outsider(db):
    return member(OrganizationFactory(name="Other Org"), Role.OWNER, username="outsider")


@pytest.fixture
def pushing_device(org, people):
    """An edge board with its push token."""
    device, token = device_create(
        organization=org, by=people["engineer"], key="board-7", kind=DeviceKind.EDGE, labels={"site": "lyon"}
    )
    return device, token


def gpus(org, count: int, *, labels=None, prefix="gpu") -> list[Device]:
    return [
        Device.objects.create(organization=org, key=f"{prefix}-{i}", kind=DeviceKind.GPU, labels=labels or {})
        for i in range(count)
    ]


def fill_rollups(device, *, start, minutes: int, value, metric="gpu.utilization", skip=()):
    """One rollup per minute from `start`; `value` is a number or a function of the minute's index."""
    rows = []
    for i in range(minutes):
        if i in skip:
            continue
        v = value(i) if callable(value) else value
        rows.append(
            SampleRollup(
                device=device, metric=metric, minute=start + dt.timedelta(minutes=i), avg=v, min=v, max=v, count=6
            )
        )
    SampleRollup.objects.bulk_create(rows, batch_size=2000)


def compute_criterion(milestone, by, **config):
    base = {"metric": "gpu.utilization", "aggregation": "avg", "comparison": "gte", "threshold": 70}
    return criterion_add(
        milestone=milestone, by=by, kind=CriterionKind.COMPUTE, description="GPUs busy", config={**base, **config}
    )


@pytest.fixture
def milestone(org):
    return MilestoneFactory(grant=GrantFactory(organization=org), status="in_progress")


# --- a GPU pushing real-shaped samples (tests/compute/test_sealed_evidence.py, test_verifier.py) -----------------


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def wire(moment: dt.datetime, value: float, metric: str = "gpu.utilization") -> dict:
    return {"metric": metric, "ts": _iso(moment), "value": value, "labels": {}}


@pytest.fixture
def minute():
    """The window's minute: ten minutes ago, so its samples are within the clock-skew and retention bounds."""
    return timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=10)


@pytest.fixture
def h200(org, people):
    """A GPU whose samples come through a push source at 1 s cadence, with 30 s lateness."""
    source = source_create(
        organization=org, by=people["engineer"], name="h200 push", kind="push", cadence_seconds=1, lateness_seconds=30
    )
    device, _ = device_create(
        organization=org, by=people["engineer"], key="GPU-h200", kind="gpu", labels={"host": "h200"}, source=source
    )
    return device


def load_minute(device, minute):
    """The issue's run: idle, then an 18 s load at 99 %, pushed 5 s after the minute ended (on time)."""
    samples = [wire(minute + dt.timedelta(seconds=35 + i), 99.0 if i < 17 else 66.0) for i in range(18)]
    return samples_ingest(device=device, samples=samples, now=minute + dt.timedelta(seconds=65))
