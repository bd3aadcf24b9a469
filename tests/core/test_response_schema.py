"""What the API answers with null is declared nullable in the OpenAPI schema: a generated client otherwise rejects
a device without a source, a grant or investment without an owner, an ethical criterion not yet assessed (found by
the API fuzzing gate, scripts/schemathesis_gate.sh)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.compute.services.devices import device_create
from apps.funding.services.investments import ethical_criterion_add
from apps.tenancy.models import Role
from tests.factories import OrganizationFactory, member
from tests.funding.factories import GrantFactory, InvestmentFactory

pytestmark = pytest.mark.django_db


def _nulls_undeclared(schema: dict, component: str, body: dict) -> list[str]:
    properties = schema["components"]["schemas"][component]["properties"]
    return sorted(key for key, value in body.items() if value is None and not properties[key].get("nullable"))


def test_null_answers_are_declared_nullable(client_for):
    organization = OrganizationFactory()
    owner = member(organization, Role.OWNER)
    viewer = client_for(member(organization, Role.VIEWER))
    device, _ = device_create(organization=organization, by=owner, key="gpu-0")
    grant = GrantFactory(organization=organization, owner=None)
    investment = InvestmentFactory(organization=organization, owner=None)
    ethical_criterion_add(investment=investment, by=owner, criterion="No surveillance customers")
    schema = SchemaGenerator().get_schema(request=None, public=True)

    device_body = viewer.get(f"/api/compute/devices/{device.pk}/").json()
    grant_body = viewer.get(f"/api/grants/{grant.pk}/").json()
    investment_body = viewer.get(f"/api/investments/{investment.pk}/").json()

    assert device_body["source_name"] is None and grant_body["owner"] is None
    assert investment_body["ethical_criteria"][0]["assessed_by"] is None
    assert _nulls_undeclared(schema, "Device", device_body) == []
    assert _nulls_undeclared(schema, "Grant", grant_body) == []
    assert _nulls_undeclared(schema, "Investment", investment_body) == []
    assert _nulls_undeclared(schema, "EthicalCriterion", investment_body["ethical_criteria"][0]) == []
