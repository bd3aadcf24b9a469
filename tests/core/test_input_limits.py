"""Input that cannot crash a process or leak an HTML page: JSON depth and size caps, 413, JSON 404 and 500 under
/api/, and object fields checked for their type with a 400 that names them."""

import sys

import pytest
from django.test import Client, override_settings

from apps.compute.models import ComputeSource, SourceKind
from apps.funding.models import CriterionKind
from apps.tenancy.models import Role
from compute_hooks.json_limits import JSONLimitError, json_depth, json_loads_bounded
from tests.funding.factories import MilestoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(people, token_client_for):
    return token_client_for(people[Role.OWNER])


def post_raw(client, url: str, body: str | bytes, **extra):
    return client.generic("POST", url, body, content_type="application/json", **extra)


# --- the recursion limit and nesting depth ------------------------------------------------------------------------


def test_the_recursion_limit_is_pythons_default_once_web3_is_loaded():
    import eth_account  # noqa: F401 - what pulls in py_ecc, which raises the limit to 100,000 on import
    import py_ecc  # noqa: F401

    assert "py_ecc" in sys.modules
    assert sys.getrecursionlimit() == 1000


def test_a_deeply_nested_body_is_a_400_naming_the_body(owner_client):
    response = post_raw(owner_client, "/api/funders/", "[" * 100_000)
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "The request body is JSON nested deeper than 64 levels."
    assert body["extra"]["fields"] == {"body": ["The request body is JSON nested deeper than 64 levels."]}


def test_nesting_up_to_the_limit_reaches_the_serializer(owner_client):
    deep = '{"name": "Deep Funder", "kind": "foundation", "notes": "' + "[" * 500 + '", "x": ' + "[" * 63 + "]" * 63
    response = post_raw(owner_client, "/api/funders/", deep + "}")
    # Parsed (brackets inside a string do not count): the answer is about the field, not the depth.
    assert response.status_code == 400 and list(response.json()["extra"]["fields"]) == ["x"], response.content


@override_settings(API_JSON_MAX_DEPTH=3)
def test_the_depth_limit_is_a_setting(owner_client):
    response = post_raw(owner_client, "/api/funders/", '{"name": "F", "kind": "foundation", "x": [[[1]]]}')
    assert response.status_code == 400
    assert response.json()["message"] == "The request body is JSON nested deeper than 3 levels."


def test_depth_counts_brackets_outside_strings_only():
    assert json_depth('{"a": [1, {"b": "]]]"}], "c": "[[[["}') == 3
    assert json_depth("5") == 0
    assert json_loads_bounded('{"a": [[1]]}', max_depth=3) == {"a": [[1]]}
    with pytest.raises(JSONLimitError) as info:
        json_loads_bounded('{"a": [[[1]]]}', max_depth=3)
    assert info.value.reason == "depth"
    with pytest.raises(JSONLimitError) as info:
        json_loads_bounded(b"[1, 2, 3]", max_bytes=5)
    assert info.value.reason == "size"
    with pytest.raises(ValueError, match="NaN"):
        json_loads_bounded("[NaN]")
    assert json_loads_bounded("[NaN]", strict_constants=False)[0] != 0


# --- size: 413 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("idempotency_key", [None, "big-body-1"])
def test_a_json_body_over_the_upload_limit_is_a_413(owner_client, idempotency_key):
    extra = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    body = '{"name": "' + "x" * (3 * 1024 * 1024) + '", "kind": "foundation"}'
    response = post_raw(owner_client, "/api/funders/", body, **extra)
    assert response.status_code == 413
    assert response.json() == {
        "message": "The request body is larger than 2621440 bytes.",
        "extra": {"max_bytes": 2621440},
    }


def test_a_multipart_body_over_the_upload_limit_is_a_413(org, people, token_client_for):
    milestone = MilestoneFactory(grant__organization=org)
    client = token_client_for(people[Role.FINANCE])
    response = client.post(
        f"/api/milestones/{milestone.pk}/evidence/", {"description": "x" * (3 * 1024 * 1024)}, format="multipart"
    )
    assert response.status_code == 413
    assert response.json()["extra"] == {"max_bytes": 2621440}


# --- JSON 404 and 500 under /api/ -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/no-such-thing/", "/api/report-exports/not-a-uuid/", "/api/grants/123/report.pdf", "/api/x"]
)
def test_unknown_api_paths_are_a_json_404(owner_client, path):
    response = owner_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Not found.", "extra": {}}


def test_pages_outside_the_api_keep_their_html_404(owner_client):
    response = owner_client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@override_settings(ROOT_URLCONF="tests.core.urls_failing")
def test_a_failure_outside_the_api_framework_is_a_json_500():
    response = Client(raise_request_exception=False).get("/api/test-failure/", HTTP_X_REQUEST_ID="req-500-abcdef")
    assert response.status_code == 500
    assert response.json() == {
        "message": "Internal error. Quote the request id to support.",
        "extra": {"request_id": "req-500-abcdef"},
    }


# --- object fields --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [True, [1], 5, "x"])
def test_a_source_config_that_is_not_an_object_is_a_400_naming_it(org, owner_client, config):
    created = owner_client.post(
        "/api/compute/sources/", {"name": "Edge", "kind": SourceKind.PUSH, "config": config}, format="json"
    )
    assert created.status_code == 400
    assert list(created.json()["extra"]["fields"]) == ["config"]
    source = ComputeSource.objects.create(organization=org, name="Pushers", kind=SourceKind.PUSH, config={})
    changed = owner_client.patch(f"/api/compute/sources/{source.pk}/", {"config": config}, format="json")
    assert changed.status_code == 400, changed.content
    assert changed.json()["extra"]["fields"]["config"][0].startswith("Give a JSON object ({...}), not ")
    source.refresh_from_db()
    assert source.config == {}


@pytest.mark.parametrize("labels", [[1], "cluster=a", 5, None])
def test_device_labels_that_are_not_an_object_are_a_400_naming_them(owner_client, labels):
    response = owner_client.post("/api/compute/devices/", {"key": "gpu-0", "labels": labels}, format="json")
    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["labels"]


@pytest.mark.parametrize("events", ["grant.created", {"grant.created": True}, 5])
def test_webhook_events_that_are_not_a_list_are_a_400_naming_them(owner_client, events):
    response = owner_client.post(
        "/api/webhooks/", {"url": "https://hooks.example.com/govtrack", "events": events}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["events"]


@pytest.mark.parametrize("config", [[1], True, "approver_roles"])
def test_a_criterion_config_that_is_not_an_object_is_a_400_naming_it(org, people, token_client_for, config):
    milestone = MilestoneFactory(grant__organization=org)
    response = token_client_for(people[Role.FINANCE]).post(
        f"/api/milestones/{milestone.pk}/criteria/",
        {"kind": CriterionKind.MANUAL, "description": "Report accepted", "config": config},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["extra"]["fields"]) == ["config"]
