from django.db.models import QuerySet

from apps.audit.models import AuditEvent
from apps.tenancy.models import Role
from apps.tenancy.scoping import scope_to_user

# Viewers (investors, grant officers) see the funding record, not who changed what inside the company.
AUDIT_READER_ROLES = (Role.OWNER, Role.COMPLIANCE, Role.FINANCE)


def audit_event_list(*, user, organization_id=None) -> QuerySet:
    events = scope_to_user(AuditEvent.objects.all(), user=user, roles=AUDIT_READER_ROLES)
    if organization_id:
        events = events.filter(organization_id=organization_id)
    return events.order_by("-occurred_at", "-id")
