"""The OpenAPI schema and its Swagger UI and Redoc pages: behind sign-in unless API_DOCS_PUBLIC opens them; the
pages keep the Content-Security-Policy (Swagger UI's start-up script is a file; only Redoc may inline styles)."""

import subprocess
import sys

import pytest
from django.test import Client

from tests.dashboard.test_csp import inline_code, policy

pytestmark = pytest.mark.django_db

DOCS = ("/api/docs/", "/api/redoc/")


def test_signed_out_the_schema_is_refused_and_the_pages_ask_to_sign_in(settings, client):
    settings.API_DOCS_PUBLIC = False
    schema = client.get("/api/schema/")
    assert schema.status_code in (401, 403)
    assert b"openapi" not in schema.content
    for url in DOCS:
        page = client.get(url)
        assert page.status_code == 302, url
        assert page["Location"] == f"/accounts/login/?next={url}"


def test_signed_in_members_read_the_schema_and_pages(settings, people, token_client_for):
    settings.API_DOCS_PUBLIC = False
    browser = Client()
    browser.force_login(people["viewer"])
    assert browser.get("/api/schema/").status_code == 200
    tool = token_client_for(people["viewer"])  # a finance tool's token reads the schema and the pages too
    assert tool.get("/api/schema/").status_code == 200
    assert tool.get("/api/docs/").status_code == 200
    for url in DOCS:
        assert browser.get(url).status_code == 200, url
    script = browser.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_public_docs_are_open_to_anyone(settings, client):
    settings.API_DOCS_PUBLIC = True
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"openapi: 3" in schema.content
    for url in DOCS:
        assert client.get(url).status_code == 200, url


def test_the_docs_pages_keep_the_policy(settings, client):
    settings.API_DOCS_PUBLIC = True
    swagger = client.get("/api/docs/")
    assert policy(swagger)["script-src"] == ["'self'"] and policy(swagger)["style-src"] == ["'self'"]
    assert inline_code(swagger.content.decode()) == []

    redoc = client.get("/api/redoc/")
    assert policy(redoc)["script-src"] == ["'self'"]
    assert policy(redoc)["style-src"] == ["'self'", "'unsafe-inline'"]  # Redoc's own styled components
    assert inline_code(redoc.content.decode()) == []  # and no web fonts from another site


def test_production_default_is_closed():
    """DEBUG=0 with no API_DOCS_PUBLIC in the environment gives closed docs; the embedded default opens them."""
    code = "import django; django.setup(); from django.conf import settings; print(settings.API_DOCS_PUBLIC)"
    for debug, expected in (("0", "False"), ("1", "True")):
        env = {
            "DJANGO_SETTINGS_MODULE": "govtrack.settings",
            "DEBUG": debug,
            "SECRET_KEY": "x" * 50,
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert result.stdout.strip() == expected, result.stderr
