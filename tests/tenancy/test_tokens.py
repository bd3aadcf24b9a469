import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.tenancy.models import ApiToken, Organization, Role
from tests.factories import OrganizationFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance_user():
    return member(OrganizationFactory(name="Acme"), Role.FINANCE, username="cfo")


def create_token(client_for, user, **body) -> dict:
    response = client_for(user).post("/api/tokens/", {"name": "ledger-sync"} | body)
    assert response.status_code == 201, response.json()
    return response.json()


def bearer(api_client, raw):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_client


def test_token_is_shown_once_and_stored_only_as_hash(client_for, finance_user):
    created = create_token(client_for, finance_user, expires_in_days=30)
    raw = created["token"]
    assert raw.startswith("gt_")
    stored = ApiToken.objects.get(pk=created["id"])
    assert raw not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
    listed = client_for(finance_user).get("/api/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["ledger-sync"]
    assert "token" not in listed[0]
    assert AuditEvent.objects.filter(action="api_token.created", object_id=str(stored.pk)).exists()


def test_token_authenticates_a_finance_tool(api_client, client_for, finance_user):
    raw = create_token(client_for, finance_user)["token"]
    response = bearer(api_client, raw).get("/api/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "cfo"
    assert ApiToken.objects.get(name="ledger-sync").last_used_at is not None


def test_expired_token_is_refused_with_reason(api_client, client_for, finance_user):
    created = create_token(client_for, finance_user)
    ApiToken.objects.filter(pk=created["id"]).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = bearer(api_client, created["token"]).get("/api/me/")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_revoked_token_is_refused_and_revocation_is_audited(api_client, client_for, finance_user):
    created = create_token(client_for, finance_user)
    response = client_for(finance_user).post(f"/api/tokens/{created['id']}/revoke/")
    assert response.status_code == 200 and response.json()["is_active"] is False
    response = bearer(api_client, created["token"]).get("/api/me/")
    assert response.status_code == 401
    assert response.json() == {"message": "API token 'ledger-sync' was revoked.", "extra": {}}
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_cannot_revoke_someone_elses_token(client_for, finance_user):
    created = create_token(client_for, finance_user)
    other = member(OrganizationFactory(), Role.OWNER)
    assert client_for(other).post(f"/api/tokens/{created['id']}/revoke/").status_code == 404
    assert ApiToken.objects.get(pk=created["id"]).revoked_at is None


def test_garbage_token_is_401(api_client):
    response = bearer(api_client, "gt_deadbeef_nope").get("/api/me/")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API token."


def test_token_lifetime_is_bounded(client_for, finance_user):
    response = client_for(finance_user).post("/api/tokens/", {"name": "forever", "expires_in_days": 5000})
    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["expires_in_days"]
    assert not ApiToken.objects.filter(name="forever").exists()


def test_duplicate_token_name_names_the_field(client_for, finance_user):
    create_token(client_for, finance_user)
    response = client_for(finance_user).post("/api/tokens/", {"name": "ledger-sync"})
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"name": ["You already have a token named 'ledger-sync'."]}


def test_a_token_cannot_mint_tokens(api_client, client_for, finance_user):
    created = create_token(client_for, finance_user, scope="read-write")
    response = bearer(api_client, created["token"]).post("/api/tokens/", {"name": "offspring", "scope": "read-write"})
    assert response.status_code == 403
    assert response.json()["message"] == (
        "API tokens are created from a signed-in session (the dashboard or the browsable API), "
        "not with another API token."
    )
    assert not ApiToken.objects.filter(name="offspring").exists()
    # So revoking the one token leaves nothing behind that still works.
    client_for(finance_user).post(f"/api/tokens/{created['id']}/revoke/")
    assert [t.is_active for t in ApiToken.objects.filter(user=finance_user)] == [False]


def test_new_tokens_are_read_only_unless_asked(client_for, finance_user):
    assert create_token(client_for, finance_user)["scope"] == "read-only"
    assert create_token(client_for, finance_user, name="writer", scope="read-write")["scope"] == "read-write"
    response = client_for(finance_user).post("/api/tokens/", {"name": "x", "scope": "admin"})
    assert response.status_code == 400 and list(response.json()["extra"]["fields"]) == ["scope"]


def test_read_only_token_reads_but_cannot_write(api_client, client_for, finance_user, settings):
    settings.ORGANIZATION_CREATE = "anyone"
    raw = create_token(client_for, finance_user)["token"]
    client = bearer(api_client, raw)
    assert client.get("/api/organizations/").status_code == 200
    response = client.post("/api/organizations/", {"name": "Written Anyway", "slug": "written-anyway"})
    assert response.status_code == 403
    assert response.json()["message"] == (
        "API token 'ledger-sync' has the read-only scope: it may only read (GET, HEAD, OPTIONS). "
        "Use a read-write token to change data."
    )
    assert not Organization.objects.filter(name="Written Anyway").exists()


def test_read_write_token_writes(api_client, client_for, finance_user, settings):
    settings.ORGANIZATION_CREATE = "anyone"
    raw = create_token(client_for, finance_user, scope="read-write")["token"]
    response = bearer(api_client, raw).post("/api/organizations/", {"name": "Tool Made", "slug": "tool-made"})
    assert response.status_code == 201, response.json()


def test_tokens_of_a_deactivated_user_are_refused(api_client, client_for, finance_user):
    raw = create_token(client_for, finance_user, scope="read-write")["token"]
    assert bearer(api_client, raw).get("/api/me/").status_code == 200
    finance_user.is_active = False
    finance_user.save(update_fields=["is_active"])
    response = bearer(api_client, raw).get("/api/me/")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API token."


def test_a_token_is_expired_at_its_expiry_instant(api_client, client_for, finance_user, monkeypatch):
    """`expires_at` is the first instant the token no longer works (not the last one it does)."""
    import apps.tenancy.authentication as authentication

    created = create_token(client_for, finance_user)
    expires_at = ApiToken.objects.get(pk=created["id"]).expires_at
    monkeypatch.setattr(authentication.timezone, "now", lambda: expires_at)
    response = bearer(api_client, created["token"]).get("/api/me/")
    assert response.status_code == 401
    assert response.json()["message"] == f"API token 'ledger-sync' expired on {expires_at:%Y-%m-%d}."

    monkeypatch.setattr(authentication.timezone, "now", lambda: expires_at - dt.timedelta(microseconds=1))
    assert bearer(api_client, created["token"]).get("/api/me/").status_code == 200


def test_only_the_bearer_scheme_carries_a_token(api_client, client_for, finance_user):
    raw = create_token(client_for, finance_user)["token"]
    for header in (f"Token {raw}", f"bearer{raw}", f"Basic {raw}"):
        api_client.credentials(HTTP_AUTHORIZATION=header)
        assert api_client.get("/api/me/").status_code in (401, 403), header
    # Spaces around the token itself are forgiven: the scheme is the text before the first space.
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer  {raw} ")
    assert api_client.get("/api/me/").json()["username"] == "cfo"


def test_the_schema_tells_an_integrator_how_to_send_a_token():
    """What a generated client reads to authenticate: an HTTP bearer scheme, and what a read-only token may do."""
    from drf_spectacular.generators import SchemaGenerator

    from apps.tenancy.authentication import ApiTokenScheme

    scheme = SchemaGenerator().get_schema(request=None, public=True)["components"]["securitySchemes"]["apiToken"]
    assert scheme == ApiTokenScheme(None).get_security_definition(None)
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert scheme["description"] == (
        "A token (gt_…) from the API tokens page, /accounts/tokens/, or POST /api/v1/tokens/ from a signed-in "
        "session. "
        "A read-only token may only send GET, HEAD and OPTIONS."
    )
