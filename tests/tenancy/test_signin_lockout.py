"""Sign-in lockout: wrong passwords lock a username from one address for a while, visibly and audited."""

import pytest
from django.test import Client

from apps.audit.models import GLOBAL_CHAIN, AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RIGHT = "correct horse battery staple"


def sign_in(client: Client, username: str, password: str, address: str = "203.0.113.5"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_forty_wrong_passwords_then_the_right_one_is_refused(settings):
    UserFactory(username="cfo")
    client = Client()
    answers = [sign_in(client, "cfo", f"guess-{n}").status_code for n in range(40)]
    limit = settings.AXES_FAILURE_LIMIT
    assert answers[: limit - 1] == [200] * (limit - 1)  # the form again, with the usual error
    assert set(answers[limit - 1 :]) == {429}

    response = sign_in(client, "cfo", RIGHT)
    assert response.status_code == 429
    assert not signed_in(client)
    assert 0 < int(response["Retry-After"]) <= settings.AXES_COOLOFF_TIME.total_seconds()
    page = response.content.decode()
    assert "Too many wrong passwords for this username from your address" in page
    assert f"locked for {int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)} minutes" in page

    events = AuditEvent.objects.filter(action="signin.locked_out")
    assert events.count() == 1  # one event per lockout, not one per refused attempt
    event = events.get()
    assert event.chain == GLOBAL_CHAIN
    assert event.after["username"] == "cfo" and event.after["ip_address"] == "203.0.113.5"


def test_lockout_is_per_username_and_address(settings):
    UserFactory(username="cfo")
    UserFactory(username="cto")
    attacker = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(attacker, "cfo", f"guess-{n}")
    assert sign_in(attacker, "cfo", RIGHT).status_code == 429

    colleague = Client()
    assert sign_in(colleague, "cfo", RIGHT, address="198.51.100.9").status_code == 302
    assert signed_in(colleague)
    other_user = Client()
    assert sign_in(other_user, "cto", RIGHT).status_code == 302


def test_a_good_sign_in_before_the_limit_clears_the_count(settings):
    UserFactory(username="cfo")
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "cfo", f"typo-{n}")
    assert sign_in(client, "cfo", RIGHT).status_code == 302
    client.post("/accounts/logout/")
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "cfo", f"typo-again-{n}").status_code == 200
    assert sign_in(client, "cfo", RIGHT).status_code == 302
    assert not AuditEvent.objects.filter(action="signin.locked_out").exists()
