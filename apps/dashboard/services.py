"""Writes of the dashboard's own: comments."""

from django.db import models, transaction

from apps.audit.services import audit_record
from apps.core.errors import ValidationFailed
from apps.dashboard.models import Comment
from apps.dashboard.permissions import can_comment
from apps.tenancy.models import Organization
from apps.tenancy.services import require

COMMENT_MAX_CHARS = 4000


def comment_add(*, organization: Organization, obj: models.Model, by, body: str) -> Comment:
    """A comment on `obj`, which must belong to `organization` (the caller found it through a scoped selector)."""
    require(can_comment(by, organization))
    body = (body or "").strip()
    if not body:
        raise ValidationFailed.for_field("body", "Write the comment first.")
    if len(body) > COMMENT_MAX_CHARS:
        raise ValidationFailed.for_field("body", f"At most {COMMENT_MAX_CHARS} characters.")
    with transaction.atomic():
        comment = Comment.objects.create(
            organization=organization,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            author=by,
            body=body,
        )
        audit_record(
            action="comment.added",
            actor=by,
            organization=organization,
            obj=comment,
            object_repr=f"on {obj}"[:300],
            after={"object_type": comment.object_type, "object_id": comment.object_id, "body": body},
        )
    return comment
