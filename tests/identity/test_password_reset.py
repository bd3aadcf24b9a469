"""Password reset by email: a link that works once, the same answer for unknown addresses, audited."""

import re

import pytest
from django.core import mail
from django.test import Client

from apps.audit.models import GLOBAL_CHAIN, AuditEvent
from tests.factories import UserFactory
from tests.identity.helpers import enrolled_user, sign_in, signed_in

pytestmark = pytest.mark.django_db

NEW = "a brand new passphrase 42"


def ask(client: Client, email: str):
    return client.post("/accounts/password-reset/", {"email": email}, follow=True)


def link_in(message) -> str:
    match = re.search(r"http://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_the_link_sets_a_new_password_once(settings):
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"
    UserFactory(username="cfo", email="cfo@example.test")
    client = Client()
    page = ask(client, "CFO@example.test").content.decode()
    assert "If an account has that address, a link to set a new password is on its way" in page
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["cfo@example.test"]
    assert mail.outbox[0].subject == "Reset your govtrack password"
    link = link_in(mail.outbox[0])

    form = client.get(link, follow=True)  # Django swaps the token into the session and redirects
    assert "Choose a new password" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW}, follow=True)
    assert "Your password is changed" in done.content.decode()
    assert not signed_in(client)  # the reset does not sign in: the sign-in (and its second step) does

    fresh = Client()
    assert sign_in(fresh, "cfo", NEW).status_code == 302 and signed_in(fresh)
    old = Client()
    assert sign_in(old, "cfo").status_code == 200 and not signed_in(old)  # the old password is gone

    again = Client().get(link, follow=True).content.decode()
    assert "This link no longer works" in again
    event = AuditEvent.objects.get(action="password.reset")
    assert event.chain == GLOBAL_CHAIN and event.actor_repr == "cfo"


def test_unknown_addresses_get_the_same_answer_and_no_email():
    UserFactory(username="cfo", email="cfo@example.test")
    known = ask(Client(), "cfo@example.test")
    unknown = ask(Client(), "nobody@example.test")
    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain == unknown.redirect_chain == [("/accounts/password-reset/sent/", 302)]
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"|"X-CSRFToken": "[^"]+"')
    assert strip.sub("", known.content.decode()) == strip.sub("", unknown.content.decode())
    assert [m.to for m in mail.outbox] == [["cfo@example.test"]]


def test_a_reset_keeps_two_factor():
    user, _secret, _codes = enrolled_user("cfo")
    user.email = "cfo@example.test"
    user.save(update_fields=["email"])
    client = Client()
    ask(client, "cfo@example.test")
    form = client.get(link_in(mail.outbox[0]), follow=True)
    client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    fresh = Client()
    assert sign_in(fresh, "cfo", NEW)["Location"] == "/accounts/two-factor/verify/"
    assert not signed_in(fresh)


def test_the_sign_in_page_links_to_the_reset():
    assert 'href="/accounts/password-reset/"' in Client().get("/accounts/login/").content.decode()
