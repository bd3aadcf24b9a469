"""Seeds the fuzzing gate's database: one organization with an owner and a viewer, and an API token each, made
with the service a signed-in session uses: read-write for the owner, read-only for the viewer.

Run with `manage.py shell < scripts/schemathesis/seed.py`; writes the raw tokens and the organization's id to
$GATE_TOKENS_FILE."""

import json
import os
import secrets

from apps.tenancy.models import Role, TokenScope
from apps.tenancy.services import api_token_create, membership_add, organization_create, user_create

owner = user_create(username="fuzz-owner", password=secrets.token_urlsafe(16), email="owner@fuzz.invalid")
viewer = user_create(username="fuzz-viewer", password=secrets.token_urlsafe(16), email="viewer@fuzz.invalid")
organization = organization_create(name="Fuzzing gate", slug="fuzzing-gate", created_by=owner)
membership_add(organization=organization, user=viewer, role=Role.VIEWER, by=owner)
tokens = {}
for role, user, scope in (("owner", owner, TokenScope.READ_WRITE), ("viewer", viewer, TokenScope.READ_ONLY)):
    _, tokens[role] = api_token_create(user=user, name="api fuzzing gate", scope=scope)
# The organization's id lets the gate fill `organization` in queries and bodies, so that creations succeed and
# the stateful phase can follow links from what they return.
with open(os.environ["GATE_TOKENS_FILE"], "w", encoding="utf-8") as handle:
    json.dump({**tokens, "organization": str(organization.pk)}, handle)
