"""The OpenAPI document says what the API does, so that a client generated from it (openapi-python-client,
openapi-typescript) imports, sends JSON and reads every answer: one request media type, CSV declared as text,
shared enums, the error shape and the headers on every operation (apps/core/openapi.py)."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.tenancy.models import Role
from tests.factories import OrganizationFactory, member

UPLOADS = {
    ("post", "/api/v1/milestones/{id}/evidence/"),
    ("post", "/api/v1/control-assessments/{id}/evidence/"),
    ("post", "/api/v1/privacy-audits/{id}/import-findings/"),
    ("post", "/api/v1/processing-activities/import/"),
    ("post", "/api/v1/risk-registers/{id}/import/"),
    ("post", "/api/v1/reporting-periods/{id}/attachments/"),
}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def test_a_request_body_is_json_except_where_a_file_is_uploaded(schema):
    media = {
        (method, path): sorted(operation["requestBody"]["content"])
        for method, path, operation in _operations(schema)
        if "requestBody" in operation
    }
    assert {key: types for key, types in media.items() if types != ["application/json"]} == {
        key: ["multipart/form-data"] for key in UPLOADS
    }


def test_format_is_a_parameter_of_file_answers_only_and_csv_is_text(schema):
    offered = []
    for method, path, operation in _operations(schema):
        query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        assert method == "get" or not query, f"{method} {path} documents query parameters: {query}"
        if any(p["name"] == "format" for p in query):
            offered.append(path)
            content = operation["responses"]["200"]["content"]
            assert set(content) - {"application/json"}, f"{path} offers a format it does not declare"
            if "text/csv" in content:
                assert content["text/csv"]["schema"]["type"] == "string", path
    assert "/api/v1/milestones/" in offered and "/api/v1/grants/" in offered
    assert not any(path.endswith("{id}/") for path in offered), "a single object answers JSON only"


def test_parameter_choices_are_shared_enum_components(schema):
    inline = [
        f"{method} {path} {p['name']}"
        for method, path, operation in _operations(schema)
        for p in operation.get("parameters", [])
        if "enum" in p["schema"] or "enum" in p["schema"].get("items", {})
    ]
    assert inline == []
    status = next(p for p in schema["paths"]["/api/v1/milestones/"]["get"]["parameters"] if p["name"] == "status")
    assert status["schema"] in (
        {"$ref": "#/components/schemas/MilestoneStatusEnum"},
        {"type": "array", "items": {"$ref": "#/components/schemas/MilestoneStatusEnum"}},
    )


def test_every_operation_has_a_summary_errors_and_headers(schema):
    for method, path, operation in _operations(schema):
        responses = operation["responses"]
        assert operation.get("summary"), f"{method} {path} has no summary"
        throttled = path != "/api/v1/compute/ingest/"  # devices push without a rate limit
        for code in ("401", "403", "429") if throttled else ("401", "403"):
            assert responses[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert throttled == ("429" in responses), f"{method} {path}"
        if throttled:
            assert "Retry-After" in responses["429"]["headers"]
            for code, response in responses.items():
                counted = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(response["headers"])
                assert counted == (code not in ("401", "403")), f"{method} {path} {code}"
        assert all("X-Request-ID" in response["headers"] for response in responses.values())
        if "{id}" in path:
            assert "404" in responses, f"{method} {path}"
        if method == "post":
            assert "Idempotency-Key" in [p["name"] for p in operation["parameters"] if p["in"] == "header"]
            success = next(code for code in responses if code.startswith("2"))
            assert "Idempotent-Replayed" in responses[success]["headers"]
    fields = schema["components"]["schemas"]["Error"]["properties"]["extra"]["properties"]["fields"]
    assert fields["additionalProperties"] == {"type": "array", "items": {"type": "string"}}


def test_answers_are_typed_as_they_come(schema):
    components = schema["components"]["schemas"]
    untyped = [
        f"{name}.{prop}"
        for name, component in components.items()
        for prop, value in (component.get("properties") or {}).items()
        if not {"type", "$ref", "allOf", "oneOf", "anyOf"} & set(value)
    ]
    assert untyped == []
    samples = schema["paths"]["/api/v1/compute/samples/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert samples["schema"] == {"$ref": "#/components/schemas/Samples"}
    verify = schema["paths"]["/api/v1/organizations/{id}/audit-verify/"]["get"]["responses"]["200"]["content"]
    assert "ok" in components[verify["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert components["WebhookEndpoint"]["properties"]["events"]["items"] == {
        "$ref": "#/components/schemas/WebhookEventEnum"
    }
    assert components["Grant"]["properties"]["focus_areas"]["type"] == "array"


@pytest.mark.django_db
def test_a_form_body_is_refused_and_a_csv_list_answers_text(client_for):
    organization = OrganizationFactory()
    finance = client_for(member(organization, Role.FINANCE))

    form = finance.post(
        "/api/funders/", "name=Agency&kind=foundation", content_type="application/x-www-form-urlencoded"
    )
    csv = finance.get("/api/grants/?format=csv")

    assert form.status_code == 415 and form.json()["message"].startswith("Unsupported media type")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")


@pytest.mark.django_db
def test_the_unversioned_paths_answer_the_same_and_say_they_are_deprecated(client_for):
    organization = OrganizationFactory()
    viewer = client_for(member(organization, Role.VIEWER))

    current = viewer.get("/api/v1/funders/")
    alias = viewer.get("/api/funders/")

    assert current.status_code == 200 and "Deprecation" not in current
    assert alias.status_code == 200 and alias["Deprecation"] == "true" and alias["Sunset"].endswith("GMT")
    assert alias["Link"] == '</api/v1/funders/>; rel="successor-version"'


def test_the_schema_describes_the_current_version_only(schema):
    assert all(path.startswith("/api/v1/") for path in schema["paths"])
    assert schema["info"]["version"].split(".")[0] == "1"


# The objects a finance tool reads and writes (docs/api.md): each of their fields says what it means.
FINANCE_COMPONENTS = re.compile(
    r"^(Patched)?(Grant|GrantDetail|GrantReport|GrantRequirement|Milestone|MilestoneBrief|MilestoneDetail|Disbursement"
    r"|KpiReading|WebhookEndpoint|WebhookEndpointCreated|WebhookEndpointUpdated|WebhookDelivery)"
    r"(Input|UpdateInput|Update)?(Request)?$"
)


def test_every_operation_has_a_summary_and_a_description(schema):
    lacking = [
        f"{method} {path}"
        for method, path, operation in _operations(schema)
        if not operation.get("summary", "").strip() or not operation.get("description", "").strip()
    ]
    assert lacking == []


def test_every_field_of_a_finance_object_has_a_description(schema):
    components = {name: c for name, c in schema["components"]["schemas"].items() if FINANCE_COMPONENTS.match(name)}
    undescribed = [
        f"{name}.{field}"
        for name, component in components.items()
        for field, prop in component.get("properties", {}).items()
        if not prop.get("description", "").strip()
    ]
    assert len(components) >= 20 and undescribed == []


def test_the_main_flows_have_examples(schema):
    paths = schema["paths"]

    def examples(body, media_type="application/json"):
        return body["content"][media_type].get("examples", {})

    grant = examples(paths["/api/v1/grants/"]["post"]["requestBody"])
    milestone = examples(paths["/api/v1/milestones/"]["post"]["requestBody"])
    due_as_csv = examples(paths["/api/v1/milestones/"]["get"]["responses"]["200"], "text/csv")
    reading = examples(paths["/api/v1/kpi-readings/"]["post"]["responses"]["201"])
    webhook = paths["/api/v1/webhooks/"]["post"]

    assert next(iter(grant.values()))["value"]["amount_requested"] == "100000.00"
    assert next(iter(milestone.values()))["value"]["grant"]
    assert "due_after=2026-07-01&due_before=2026-09-30" in next(iter(due_as_csv.values()))["summary"]
    assert next(iter(reading.values()))["value"]["value"] == "125000.5"
    assert "X-Govtrack-Signature" in webhook["description"] and "hmac.compare_digest" in webhook["description"]
    assert "secret" in next(iter(examples(webhook["responses"]["201"]).values()))["value"]
