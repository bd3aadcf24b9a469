"""The one thing the dashboard stores of its own: comments on an object, shown in its activity feed."""

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class Comment(BaseModel):
    """A member's remark on one object (a grant, a milestone, an audit, a finding, a risk). Never edited: a
    correction is a new comment, and each is audited like any other change."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="comments")
    # The object's model label ("compliance.finding") and id, as the audit trail names it.
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["organization", "object_type", "object_id"], name="comment_object")]

    def __str__(self) -> str:
        return f"{self.author_id} on {self.object_type} {self.object_id}"
