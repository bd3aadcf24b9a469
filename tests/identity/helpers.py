import re
import time

import pyotp
from django.test import Client

from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"


def sign_in(client: Client, username: str, password: str = PASSWORD, next_url: str = ""):
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post("/accounts/login/", data, REMOTE_ADDR="203.0.113.9")


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def shown_secret(page: str) -> str:
    """The key the set-up page shows for typing into an app, as a person would read it."""
    match = re.search(r'<code class="totp-secret">([A-Z2-7 ]+)</code>', page)
    assert match, "the set-up page shows the key"
    return match.group(1).replace(" ", "")


def next_code(secret: str) -> str:
    """The code an app shows one step (30 s) from now: django-otp never accepts a code twice."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def enrolled_user(username: str) -> tuple:
    """A user who set up an authenticator through the pages; returns (user, secret, recovery codes)."""
    user = UserFactory(username=username)
    client = Client()
    client.force_login(user)
    secret = shown_secret(client.get("/accounts/two-factor/").content.decode())
    page = client.post("/accounts/two-factor/", {"code": pyotp.TOTP(secret).now()}).content.decode()
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", page)
    assert len(codes) == 10
    return user, secret, codes
