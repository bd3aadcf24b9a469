from django.conf import settings
from django.db import models

GENESIS_HASH = "0" * 64
GLOBAL_CHAIN = "global"


class AuditEvent(models.Model):
    """One change that matters, append-only and hash-chained per organization.

    hash = SHA-256(prev_hash + canonical JSON of the content fields). The database refuses
    UPDATE and DELETE on this table (a trigger); `manage.py audit_verify` catches anyone who
    gets around that.
    """

    id = models.BigAutoField(primary_key=True)
    chain = models.CharField(max_length=64, help_text="Organization id, or 'global' for user-level events.")
    seq = models.PositiveBigIntegerField()
    # No database FK to the organization or actor: an audit row must never be changed by a cascade.
    organization = models.ForeignKey(
        "tenancy.Organization",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_repr = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="auditevent_unique_seq_per_chain")]
        indexes = [models.Index(fields=["organization", "-occurred_at"], name="auditevent_org_time")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_repr}"


class AuditChainHead(models.Model):
    """The last event of each chain. Appends lock this row, so sequence numbers never race;
    verification compares it with the last row, which exposes a deleted or added tail."""

    chain = models.CharField(max_length=64, unique=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.chain} @ {self.seq}"
