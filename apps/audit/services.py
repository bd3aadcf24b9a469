"""Writing the audit trail. Every service that changes state calls `audit_record` inside its transaction."""

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from apps.audit.hashing import event_hash
from apps.audit.models import GLOBAL_CHAIN, AuditChainHead, AuditEvent
from apps.core.canonical import normalize
from apps.core.context import current_request_id


def snapshot(instance: models.Model, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The values of `fields` on `instance` (FKs by id), as they will be stored in an event."""
    values = {}
    for name in fields:
        field = instance._meta.get_field(name)
        values[name] = getattr(instance, field.attname)
    return normalize(values)


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    """Keeps only the keys whose value differs, so an event shows exactly what changed."""
    before, after = normalize(before), normalize(after)
    keys = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def audit_record(
    *,
    action: str,
    actor=None,
    organization=None,
    obj: models.Model | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    object_repr: str | None = None,
) -> AuditEvent:
    """Appends one event to the organization's chain (or the global chain) in the caller's transaction."""
    chain = str(organization.pk) if organization is not None else GLOBAL_CHAIN
    with transaction.atomic():
        AuditChainHead.objects.bulk_create([AuditChainHead(chain=chain)], ignore_conflicts=True)
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
        actor_ok = actor is not None and getattr(actor, "is_authenticated", False)
        event = AuditEvent(
            chain=chain,
            seq=head.seq + 1,
            organization_id=organization.pk if organization is not None else None,
            actor_id=actor.pk if actor_ok else None,
            actor_repr=(actor.get_username() if actor_ok else "system")[:200],
            action=action,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            object_repr=(object_repr if object_repr is not None else str(obj) if obj is not None else "")[:300],
            before=normalize(before or {}),
            after=normalize(after or {}),
            request_id=current_request_id() or "",
            # Microseconds survive every database backend, so the hash can be recomputed from the row.
            occurred_at=timezone.now(),
            prev_hash=head.hash,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
        head.seq, head.hash = event.seq, event.hash
        head.save(update_fields=["seq", "hash", "updated_at"])
    return event
