"""The sign-in, two-factor and password-reset pages carry nothing the Content-Security-Policy would block."""

import pyotp
import pytest
from django.test import Client

from tests.dashboard.test_csp import inline_code
from tests.factories import UserFactory
from tests.identity.helpers import enrolled_user, shown_secret, sign_in

pytestmark = pytest.mark.django_db


def checked(response) -> str:
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    page = response.content.decode()
    assert inline_code(page) == [], inline_code(page)
    return page


def test_every_identity_page_satisfies_the_policy():
    anonymous = Client()
    for url in ["/accounts/login/", "/accounts/password-reset/", "/accounts/password-reset/sent/"]:
        checked(anonymous.get(url))
    checked(anonymous.get("/accounts/reset/bad/link/"))  # the "link no longer works" page

    newcomer = Client()
    newcomer.force_login(UserFactory(username="new"))
    secret = shown_secret(checked(newcomer.get("/accounts/two-factor/")))
    checked(newcomer.post("/accounts/two-factor/", {"code": pyotp.TOTP(secret).now()}))  # the recovery codes
    checked(newcomer.get("/accounts/two-factor/"))  # account security, two-factor on

    enrolled_user("cfo")
    half_way = Client()
    sign_in(half_way, "cfo")
    checked(half_way.get("/accounts/two-factor/verify/"))
