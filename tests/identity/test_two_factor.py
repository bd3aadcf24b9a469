"""Two-factor sign-in: set up with an authenticator app, a code after the password, recovery codes, turning off."""

import pyotp
import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.models import GLOBAL_CHAIN, AuditEvent
from apps.identity.models import RecoveryCode
from apps.identity.services import recovery_code_hash
from tests.factories import UserFactory
from tests.identity.helpers import enrolled_user, next_code, shown_secret, sign_in, signed_in

pytestmark = pytest.mark.django_db


def test_set_up_shows_a_qr_code_and_the_key_then_recovery_codes_once():
    user = UserFactory(username="cfo")
    client = Client()
    client.force_login(user)
    response = client.get("/accounts/two-factor/")
    page = response.content.decode()
    assert response.status_code == 200
    assert '<svg width="' in page and 'class="qr"' in page  # the QR code is inline SVG
    assert "style=" not in page and "<script>" not in page  # nothing the Content-Security-Policy would block
    secret = shown_secret(page)
    assert shown_secret(client.get("/accounts/two-factor/").content.decode()) == secret  # same key until confirmed

    wrong = client.post("/accounts/two-factor/", {"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "1"})
    assert "That code is not right" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()

    TOTPDevice.objects.filter(user=user).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    response = client.post("/accounts/two-factor/", {"code": pyotp.TOTP(secret).now()})
    page = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert "this is the only time they are shown" in page
    codes = [line.split("<code>")[1].split("</code>")[0] for line in page.split("<li>")[1:] if "<code>" in line]
    assert len(codes) == 10
    stored = set(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert stored == {recovery_code_hash(code) for code in codes}  # only hashes are kept
    assert not any(code in stored for code in codes)

    again = client.get("/accounts/two-factor/").content.decode()
    assert "Two-factor sign-in is on" in again and "Recovery codes left: 10" in again
    assert not any(code in again for code in codes)  # never shown again
    event = AuditEvent.objects.get(action="two_factor.enrolled")
    assert event.chain == GLOBAL_CHAIN and event.actor_repr == "cfo" and event.after["recovery_codes"] == 10


def test_password_alone_does_not_sign_in_an_account_with_two_factor():
    enrolled_user("cfo")
    client = Client()
    response = sign_in(client, "cfo", next_url="/grants/")
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/verify/"
    assert not signed_in(client)
    assert client.get("/grants/").status_code == 302  # still signed out: the dashboard sends to sign-in
    assert client.get("/api/me/").status_code in (401, 403)


def test_the_code_after_the_password_signs_in_and_goes_where_the_user_was_going():
    _user, secret, _codes = enrolled_user("cfo")
    client = Client()
    sign_in(client, "cfo", next_url="/grants/")
    response = client.post("/accounts/two-factor/verify/", {"code": next_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/grants/"
    assert signed_in(client)
    assert client.get("/api/me/").json()["username"] == "cfo"


def test_a_code_already_used_is_refused():
    _user, secret, _codes = enrolled_user("cfo")
    code = next_code(secret)
    first = Client()
    sign_in(first, "cfo")
    assert first.post("/accounts/two-factor/verify/", {"code": code}).status_code == 302
    second = Client()
    sign_in(second, "cfo")
    response = second.post("/accounts/two-factor/verify/", {"code": code})
    assert response.status_code == 200 and "That code is not right (or was already used)" in response.content.decode()
    assert not signed_in(second)


def test_wrong_codes_send_back_to_the_password_after_five():
    enrolled_user("cfo")
    client = Client()
    sign_in(client, "cfo")
    for _ in range(4):
        response = client.post("/accounts/two-factor/verify/", {"code": "12345"})
        assert response.status_code == 200 and not signed_in(client)
    response = client.post("/accounts/two-factor/verify/", {"code": "12345"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/accounts/two-factor/verify/")["Location"] == "/accounts/login/"  # half-way state is gone


def test_a_recovery_code_signs_in_once_and_is_audited():
    _user, _secret, codes = enrolled_user("cfo")
    client = Client()
    sign_in(client, "cfo")
    response = client.post("/accounts/two-factor/verify/", {"code": codes[3].upper().replace("-", " ")}, follow=True)
    assert signed_in(client)
    assert "You signed in with a recovery code; 9 left." in response.content.decode()
    event = AuditEvent.objects.get(action="two_factor.recovery_code_used")
    assert event.chain == GLOBAL_CHAIN and event.after == {"recovery_codes_left": 9}

    again = Client()
    sign_in(again, "cfo")
    response = again.post("/accounts/two-factor/verify/", {"code": codes[3]})
    assert not signed_in(again) and "That code is not right" in response.content.decode()


def test_new_recovery_codes_replace_the_old_ones():
    user, secret, codes = enrolled_user("cfo")
    client = Client()
    client.force_login(user)
    page = client.post("/accounts/two-factor/recovery-codes/", {"code": next_code(secret)}).content.decode()
    assert "this is the only time they are shown" in page
    assert not any(code in page for code in codes)
    assert RecoveryCode.objects.filter(user=user, code_hash=recovery_code_hash(codes[0])).count() == 0
    assert AuditEvent.objects.filter(action="two_factor.recovery_codes_regenerated").count() == 1


def test_turning_off_needs_a_code_and_is_audited():
    user, _secret, codes = enrolled_user("cfo")
    client = Client()
    client.force_login(user)
    client.post("/accounts/two-factor/disable/", {"code": "999999"})
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()  # a wrong code changes nothing

    response = client.post("/accounts/two-factor/disable/", {"code": codes[0]}, follow=True)
    assert "Two-factor sign-in is off." in response.content.decode()
    assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="two_factor.disabled", actor_repr="cfo").count() == 1

    fresh = Client()
    response = sign_in(fresh, "cfo")
    assert response.status_code == 302 and signed_in(fresh)  # the password alone is enough again


def test_the_admin_has_no_sign_in_of_its_own():
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
