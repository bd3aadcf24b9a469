"""Seeds the generated-client check's database: one organization, its owner and a read-write API token made with
the service a signed-in session uses. Run with `manage.py shell < clients/seed.py`; prints the raw token."""

import secrets

from apps.tenancy.models import TokenScope
from apps.tenancy.services import api_token_create, organization_create, user_create

owner = user_create(username="client-owner", password=secrets.token_urlsafe(16), email="owner@clients.invalid")
organization_create(name="Generated clients", slug="generated-clients", created_by=owner)
_, raw = api_token_create(user=owner, name="generated clients", scope=TokenScope.READ_WRITE)
print(raw)
