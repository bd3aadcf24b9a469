"""Runs the test OpenID Connect provider: migrates its SQLite database, adds the client and the people, serves.

Usage (the test does this): OIDC_TEST_PORT, OIDC_TEST_DB, OIDC_TEST_KEY, OIDC_TEST_CLIENT_ID, OIDC_TEST_SECRET,
OIDC_TEST_REDIRECT_URI and OIDC_TEST_PEOPLE (username:password:email:first_name, comma separated) in the
environment, then `python -m tests.identity.oidc_provider.serve`.
"""

import os
from wsgiref.simple_server import WSGIRequestHandler, make_server

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.identity.oidc_provider.settings"

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def main() -> None:
    call_command("migrate", verbosity=0)
    for person in os.environ["OIDC_TEST_PEOPLE"].split(","):
        username, password, email, first_name = person.split(":")
        get_user_model().objects.create_user(username, email, password, first_name=first_name)
    Application.objects.create(
        name="govtrack",
        client_id=os.environ["OIDC_TEST_CLIENT_ID"],
        client_secret=os.environ["OIDC_TEST_SECRET"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=os.environ["OIDC_TEST_REDIRECT_URI"],
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    server = make_server(
        "127.0.0.1", int(os.environ["OIDC_TEST_PORT"]), get_wsgi_application(), handler_class=QuietHandler
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
