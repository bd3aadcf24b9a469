"""Every API error has one shape: {"message": str, "extra": {...}}; bad input names its field."""

import pytest

from apps.tenancy.models import Role
from tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db


def test_unauthenticated_is_401_with_message(api_client):
    response = api_client.get("/api/organizations/")
    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}
    assert response["WWW-Authenticate"] == "Bearer"


def test_validation_error_names_the_field(client_for):
    user = member(OrganizationFactory(), Role.OWNER)
    response = client_for(user).post("/api/tokens/", {"name": "", "expires_in_days": "soon"})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert set(body["extra"]["fields"]) == {"name", "expires_in_days"}
    assert body["message"].startswith(("name:", "expires_in_days:"))


def test_forbidden_carries_the_reason(client_for):
    org = OrganizationFactory(name="Acme")
    engineer = member(org, Role.ENGINEER)
    response = client_for(engineer).get(f"/api/organizations/{org.pk}/audit-verify/")
    assert response.status_code == 403
    assert response.json() == {
        "message": "To verify the audit trail you need one of the roles: compliance, owner. "
        "Your role in Acme is engineer.",
        "extra": {},
    }


def test_method_not_allowed_has_the_shape(client_for):
    user = member(OrganizationFactory(), Role.OWNER)
    response = client_for(user).delete("/api/tokens/")
    assert response.status_code == 405
    assert response.json() == {"message": 'Method "DELETE" not allowed.', "extra": {}}


def test_malformed_json_is_400_not_500(client_for):
    user = member(OrganizationFactory(), Role.OWNER)
    response = client_for(user).generic("POST", "/api/tokens/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["message"]


def test_request_id_is_echoed_and_recorded_in_audit(client_for):
    from apps.audit.models import AuditEvent

    user = member(OrganizationFactory(), Role.OWNER)
    response = client_for(user).post("/api/tokens/", {"name": "t"}, HTTP_X_REQUEST_ID="req-12345678")
    assert response["X-Request-ID"] == "req-12345678"
    assert AuditEvent.objects.get(action="api_token.created").request_id == "req-12345678"


def test_cursor_pagination_pages_through_results(client_for):
    user = member(OrganizationFactory(), Role.OWNER)
    client = client_for(user)
    for n in range(5):
        client.post("/api/tokens/", {"name": f"tool-{n}"})
    first = client.get("/api/tokens/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"] and "cursor=" in first["next"]
    names = [t["name"] for t in first["results"]]
    url = first["next"]
    while url:
        page = client.get(url).json()
        names += [t["name"] for t in page["results"]]
        url = page["next"]
    assert sorted(names) == [f"tool-{n}" for n in range(5)]


def test_api_docs_are_served_locally_without_a_cdn(client_for):
    user = member(OrganizationFactory(), Role.OWNER)
    client = client_for(user)
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.") and "/api/v1/tokens/" in schema["paths"]


def test_a_nul_character_in_a_query_parameter_is_a_400_naming_it(client_for):
    """Found by the API fuzzing gate: `?framework=…%00…` on the audit score trend reached PostgreSQL (a 500)."""
    from apps.tenancy.models import Role
    from tests.factories import OrganizationFactory, member

    organization = OrganizationFactory()
    client = client_for(member(organization, Role.VIEWER))
    for path in ("/api/v1/privacy-audits/trend/", "/api/v1/grants/"):
        response = client.get(path, {"organization": str(organization.pk), "framework": "gdpr\x00"})
        assert response.status_code == 400, path
        assert response.json()["extra"]["fields"] == {
            "framework": ["Query parameters cannot contain the NUL character."]
        }
    assert (
        client.get(
            "/api/v1/privacy-audits/trend/", {"organization": str(organization.pk), "framework": "gdpr"}
        ).status_code
        == 200
    )


def test_a_time_filter_with_an_offset_postgresql_cannot_hold_is_read_as_utc(client_for):
    """Found by the API fuzzing gate: `occurred_after=…-17:08` (Python takes offsets to ±23:59, PostgreSQL to
    ±15:59) was a 500. The bound is the same instant in UTC, so the window still means what was asked."""
    from apps.audit.services import audit_record
    from apps.tenancy.models import Role
    from tests.factories import OrganizationFactory, member

    organization = OrganizationFactory()
    client = client_for(member(organization, Role.OWNER))
    audit_record(action="grant.updated", organization=organization, obj=organization)
    query = {"organization": str(organization.pk)}
    later = client.get("/api/v1/audit-events/", {**query, "occurred_after": "3428-07-25T00:31:31-17:08"})
    earlier = client.get("/api/v1/audit-events/", {**query, "occurred_after": "2000-01-01T00:00:00-17:08"})
    assert later.status_code == 200 and later.json()["results"] == []
    assert earlier.status_code == 200 and [e["action"] for e in earlier.json()["results"]] == ["grant.updated"]


def test_a_nul_character_in_a_json_body_is_a_400_naming_where_it_is(client_for):
    """Found by the API fuzzing gate: a device's `labels` with NUL in a key reached jsonb (a 500; PostgreSQL
    refuses `\\u0000` in text and jsonb alike). Nothing is stored; the same body without NUL is created."""
    from apps.compute.models import Device

    organization = OrganizationFactory()
    client = client_for(member(organization, Role.OWNER))
    cases = [
        ({"key": "board-1", "labels": {"rack\x00": "a"}}, "labels"),
        ({"key": "board-1", "labels": {"rack": "a\x00"}}, "labels.rack"),
        ({"key": "board\x00-1", "labels": {}}, "key"),
    ]
    for body, field in cases:
        response = client.post(
            "/api/v1/compute/devices/", {"organization": str(organization.pk), **body}, format="json"
        )
        assert response.status_code == 400, body
        assert response.json()["extra"]["fields"] == {field: ["Text cannot contain the NUL character."]}
    assert not Device.objects.filter(organization=organization).exists()
    literal = {"organization": str(organization.pk), "key": "board-1", "labels": {"note": "\\u0000 is fine as text"}}
    created = client.post("/api/v1/compute/devices/", literal, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["labels"] == {"note": "\\u0000 is fine as text"}


def test_a_get_of_an_action_that_takes_only_posts_is_a_405(client_for):
    """Found by the API fuzzing gate: the query-parameter check read the schema of a GET the operation does not
    have (a 500) before DRF could answer 405."""
    from tests.funding.factories import GrantFactory

    organization = OrganizationFactory()
    grant = GrantFactory(organization=organization)
    client = client_for(member(organization, Role.OWNER))
    for path in (f"/api/v1/grants/{grant.pk}/close/", f"/api/v1/grants/{grant.pk}/award/"):
        response = client.get(path, {"unknown": "1"})
        assert response.status_code == 405, path
        assert response.json()["message"] == 'Method "GET" not allowed.'
