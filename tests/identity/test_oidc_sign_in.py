"""OpenID Connect sign-in against a real provider (django-oauth-toolkit) started in a second process."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from apps.audit.models import GLOBAL_CHAIN, AuditEvent
from apps.identity.models import OidcIdentity
from apps.tenancy.models import Invitation, Membership, Role
from apps.tenancy.services import invitation_create
from tests.conftest import free_port, wait_for_port
from tests.factories import OrganizationFactory, UserFactory, member
from tests.identity.helpers import enrolled_user, next_code, sign_in, signed_in

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]

CLIENT_ID = "govtrack-test-client"
SECRET = "govtrack-test-secret-0123456789"
CALLBACK = "http://testserver/accounts/oidc/callback/"
PEOPLE = {
    "pat": ("pat-password-1", "pat@corp.example", ""),
    "una": ("una-password-1", "ceo@corp.example", "unverified"),
}


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    """The provider process: its own RSA key (made here), SQLite file and loopback port."""
    folder = tmp_path_factory.mktemp("oidc-provider")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    port = free_port()
    env = os.environ | {
        "OIDC_TEST_PORT": str(port),
        "OIDC_TEST_DB": str(folder / "provider.sqlite3"),
        "OIDC_TEST_KEY": str(folder / "key.pem"),
        "OIDC_TEST_CLIENT_ID": CLIENT_ID,
        "OIDC_TEST_SECRET": SECRET,
        "OIDC_TEST_REDIRECT_URI": CALLBACK,
        "OIDC_TEST_PEOPLE": ",".join(f"{name}:{pw}:{email}:{first}" for name, (pw, email, first) in PEOPLE.items()),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.identity.oidc_provider.serve"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "provider.log", "wb"),  # noqa: SIM115 - the process holds it until the end
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def sso(provider, settings):
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Corp SSO"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = SECRET
    settings.OIDC_OP_ISSUER = f"{provider}/o"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider}/o/authorize/"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider}/o/token/"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider}/o/userinfo/"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider}/o/.well-known/jwks.json"
    settings.OIDC_REDIRECT_REQUIRE_HTTPS = False
    return provider


def walk(client: Client, provider: str, username: str, next_url: str = ""):
    """The browser's part of the authorization-code flow: to the provider, sign in there, back with the code."""
    start = client.get("/accounts/oidc/authenticate/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302 and start["Location"].startswith(f"{provider}/o/authorize/")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    browser = requests.Session()
    assert browser.post(f"{provider}/login/", data={"username": username, "password": PEOPLE[username][0]}).ok
    answer = browser.get(start["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:300]
    back = urlsplit(answer.headers["Location"])
    assert f"http://{back.netloc}{back.path}" == CALLBACK and "code=" in back.query
    return client.get(f"{back.path}?{back.query}")


def test_first_sign_in_makes_an_account_with_no_membership(sso):
    organization = OrganizationFactory(name="Acme")
    owner = member(organization, Role.OWNER, username="olivia")
    invitation_create(organization=organization, by=owner, role=Role.OWNER, email="pat@corp.example")

    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Corp SSO" in page

    client = Client()
    response = walk(client, sso, "pat")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in(client)
    identity = OidcIdentity.objects.select_related("user").get()
    assert identity.issuer == f"{sso}/o" and identity.subject
    user = identity.user
    assert user.username == "pat" and user.email == "pat@corp.example" and not user.has_usable_password()
    # No role from single sign-on: the owner's invitation waits for pat to accept it.
    assert not Membership.objects.filter(user=user).exists()
    assert Invitation.objects.get().accepted_at is None
    me = client.get("/api/me/").json()
    assert me["username"] == "pat" and me["memberships"] == []
    event = AuditEvent.objects.get(action="user.created_by_single_sign_on")
    assert event.chain == GLOBAL_CHAIN and event.after["issuer"] == f"{sso}/o"

    again = Client()
    walk(again, sso, "pat", next_url="/grants/")
    assert signed_in(again) and OidcIdentity.objects.count() == 1  # the same account the second time


def test_a_local_account_with_the_same_name_or_email_is_not_taken_over(sso):
    local = UserFactory(username="pat", email="pat@corp.example")
    member(OrganizationFactory(name="Acme"), Role.FINANCE, username="pat")  # a role sign-on must not reach
    client = Client()
    walk(client, sso, "pat")
    user = OidcIdentity.objects.get().user
    assert user.pk != local.pk and user.username == "pat-2"
    assert not Membership.objects.filter(user=user).exists()


def test_a_name_invited_by_username_is_not_handed_to_a_newcomer(sso):
    organization = OrganizationFactory(name="Acme")
    owner = member(organization, Role.OWNER, username="olivia")
    invitation_create(organization=organization, by=owner, role=Role.FINANCE, username="pat")
    client = Client()
    walk(client, sso, "pat")
    assert OidcIdentity.objects.get().user.username == "pat-2"
    assert client.get("/api/invitations/mine/").json() == []


def test_an_unverified_email_is_not_kept(sso):
    organization = OrganizationFactory(name="Acme")
    owner = member(organization, Role.OWNER, username="olivia")
    invitation_create(organization=organization, by=owner, role=Role.VIEWER, email="ceo@corp.example")
    client = Client()
    walk(client, sso, "una")
    user = OidcIdentity.objects.get().user
    assert user.email == ""  # else the invitation to ceo@ would count as addressed to this account
    assert client.get("/api/invitations/mine/").json() == []


def test_an_account_with_two_factor_still_needs_the_code(sso):
    user, secret, _codes = enrolled_user("pat-local")
    first = Client()
    walk(first, sso, "pat")
    OidcIdentity.objects.filter(user__username="pat").update(user=user)
    client = Client()
    response = walk(client, sso, "pat")
    assert response["Location"] == "/accounts/two-factor/verify/" and not signed_in(client)
    client.post("/accounts/two-factor/verify/", {"code": next_code(secret)})
    assert signed_in(client) and client.get("/api/me/").json()["username"] == "pat-local"


def test_a_forged_callback_signs_nobody_in(sso):
    client = Client()
    client.get("/accounts/oidc/authenticate/")
    response = client.get("/accounts/oidc/callback/?code=made-up&state=made-up")
    assert response.status_code == 400 and not signed_in(client)


def test_sign_in_is_off_without_a_provider():
    assert Client().get("/accounts/oidc/authenticate/").status_code == 404
    assert "Sign in with" not in Client().get("/accounts/login/").content.decode()
    UserFactory(username="cfo")
    assert sign_in(Client(), "cfo").status_code == 302  # password sign-in unaffected by the extra backend
