"""Reads of what happened: an object's activity feed (its audit events and comments) and the organization's log.

The feed reads the audit trail through `apps.audit.selectors.audit_event_list`, so who may see who changed what
is decided there (owners, compliance and finance); every member sees the comments.
"""

import datetime as dt

from django.db.models import QuerySet

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_event_list
from apps.dashboard.models import Comment

FEED_LIMIT = 50


def action_words(action: str) -> str:
    """ "finding.status_changed" -> "Finding status changed" (the trail's own names, readable)."""
    return action.replace(".", " ").replace("_", " ").capitalize()


def changes_of(event: AuditEvent) -> list[dict]:
    """Each field the event names, with its value before and after (either may be absent)."""
    before, after = event.before or {}, event.after or {}
    return [
        {"field": name.replace("_", " "), "before": before.get(name), "after": after.get(name)}
        for name in list(dict.fromkeys([*before, *after]))
    ]


def activity_for(*, user, org, objects) -> list[dict]:
    """The newest events and comments of these objects, newest first (two queries)."""
    ids = [str(obj.pk) for obj in objects]
    events = audit_event_list(user=user, organization_id=org.pk).filter(object_id__in=ids)[:FEED_LIMIT]
    comments = (
        Comment.objects.filter(organization=org, object_id__in=ids)
        .select_related("author")
        .order_by("-created_at")[:FEED_LIMIT]
    )
    feed = [
        {
            "kind": "event",
            "at": e.occurred_at,
            "who": e.actor_repr,
            "what": action_words(e.action),
            "object": e.object_repr,
            "changes": changes_of(e),
        }
        for e in events
    ]
    feed += [{"kind": "comment", "at": c.created_at, "who": c.author.username, "body": c.body} for c in comments]
    return sorted(feed, key=lambda entry: entry["at"], reverse=True)[:FEED_LIMIT]


def audit_log(
    *,
    user,
    org,
    action: str = "",
    actor: str = "",
    object_type: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet:
    events = audit_event_list(user=user, organization_id=org.pk)
    if action:
        events = events.filter(action=action)
    if actor:
        events = events.filter(actor_repr=actor)
    if object_type:
        events = events.filter(object_type=object_type)
    if since:
        events = events.filter(occurred_at__date__gte=since)
    if until:
        events = events.filter(occurred_at__date__lte=until)
    return events


def audit_log_choices(*, user, org) -> dict:
    """The actions and object types this organization's trail holds (for the filters' choices)."""
    events = audit_event_list(user=user, organization_id=org.pk).order_by()
    return {
        "actions": sorted(events.values_list("action", flat=True).distinct()),
        "object_types": sorted(t for t in events.values_list("object_type", flat=True).distinct() if t),
    }
