"""A query parameter or body field the API does not know, a bad `page_size` or `ordering`: a 400 naming it, and
nothing written (apps/core/strict.py). A typo never widens a list or drops a value silently."""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.compute.models import DeviceKind, Sample
from apps.compute.services.devices import device_create
from apps.funding.models import Funder
from tests.funding.factories import FunderFactory, GrantFactory, MilestoneFactory

pytestmark = pytest.mark.django_db


def _fields(response) -> dict:
    return response.json()["extra"]["fields"]


def test_an_unknown_query_parameter_on_a_list_is_a_400_naming_it(org, people, client_for):
    MilestoneFactory(grant=GrantFactory(organization=org), due_date=dt.date(2026, 3, 31))
    client = client_for(people["finance"])

    typo = client.get("/api/milestones/?due_befor=2026-01-01")
    known = client.get("/api/milestones/?due_before=2026-01-01&ordering=-due_date&page_size=10")
    csv = client.get("/api/milestones/?format=csv&colour=red")

    assert typo.status_code == 400 and list(_fields(typo)) == ["due_befor"]
    assert "due_before" in typo.json()["message"]
    assert known.status_code == 200 and known.json()["results"] == []
    assert csv.status_code == 400


@pytest.mark.parametrize("page_size", ["abc", "0", "-1", "201", "2.5"])
def test_a_bad_page_size_is_a_400_naming_it(org, people, client_for, page_size):
    response = client_for(people["viewer"]).get(f"/api/grants/?page_size={page_size}")

    assert response.status_code == 400 and list(_fields(response)) == ["page_size"]


def test_ordering_takes_a_list_comma_separated_or_repeated(org, people, client_for):
    grant = GrantFactory(organization=org)
    for amount in ("300", "100", "200"):
        MilestoneFactory(grant=grant, amount=Decimal(amount))
    client = client_for(people["viewer"])

    commas = client.get("/api/milestones/?ordering=-amount,due_date").json()["results"]
    repeated = client.get("/api/milestones/?ordering=-amount&ordering=due_date").json()["results"]
    bogus = client.get("/api/milestones/?ordering=bogus")

    assert [m["amount"] for m in commas] == [m["amount"] for m in repeated]
    assert [Decimal(m["amount"]) for m in commas] == [Decimal("300"), Decimal("200"), Decimal("100")]
    assert bogus.status_code == 400 and list(_fields(bogus)) == ["ordering"]


def test_an_unknown_body_field_is_a_400_and_nothing_is_written(org, people, client_for):
    client = client_for(people["finance"])

    response = client.post("/api/funders/", {"name": "Agency", "kind": "foundation", "colour": "red"}, format="json")

    assert response.status_code == 400 and list(_fields(response)) == ["colour"]
    assert "name" in response.json()["message"]
    assert not Funder.objects.filter(name="Agency").exists()


def test_an_unknown_field_inside_a_nested_body_is_named_with_its_place(org, people, api_client):
    _device, token = device_create(organization=org, by=people["engineer"], key="board-7", kind=DeviceKind.EDGE)
    sample = {"metric": "cpu.utilization", "ts": "2026-11-26T18:00:00.000000Z", "value": 41.5}
    body = {"device": "board-7", "samples": [sample, {**sample, "unit": "%"}]}

    response = api_client.post(
        "/api/compute/ingest/", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Device {token}"
    )

    assert response.status_code == 400 and list(_fields(response)) == ["samples.1.unit"]
    assert not Sample.objects.exists()


def test_fields_a_client_echoes_back_are_not_refused(org, people, client_for):
    funder = FunderFactory(organization=org, name="Agency")
    client = client_for(people["finance"])
    body = client.get(f"/api/funders/{funder.pk}/").json()

    response = client.patch(f"/api/funders/{funder.pk}/", {**body, "name": "Agency II"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Agency II"


def _example_path(path: str, operation: dict) -> str:
    """The path with each path parameter filled in: an id or an address that exists nowhere."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            address = parameter["schema"].get("pattern") == "^0x[0-9a-fA-F]{40}$"
            value = "0x" + "ab" * 20 if address else str(uuid.uuid4())
            path = path.replace(f"{{{parameter['name']}}}", value)
    return path


def test_every_get_in_the_schema_refuses_an_unknown_query_parameter(org, people, client_for):
    # Checked before the handler runs, so an id that exists nowhere still gets the 400 rather than a 404.
    schema = SchemaGenerator().get_schema(request=None, public=True)
    client = client_for(people["owner"])
    gets = [(path, item["get"]) for path, item in schema["paths"].items() if "get" in item]
    refused = {}
    for path, operation in gets:
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        response = client.get(f"{_example_path(path, operation)}?colour=red")
        body = response.json() if response["Content-Type"].startswith("application/json") else {}
        refused[path] = response.status_code == 400 and list(body.get("extra", {}).get("fields", {})) == ["colour"]
        # Every parameter the message offers is one the schema declares (and `format`, which every GET reads).
        offered = body.get("message", "").rpartition("takes: ")[2].rstrip(".").split(", ")
        assert set(offered) <= declared | {"format"}, f"{path} offers {set(offered) - declared}"

    assert len(gets) > 90 and [path for path, ok in refused.items() if not ok] == []
