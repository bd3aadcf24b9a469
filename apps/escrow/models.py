"""Escrow agreements on chain, the transaction outbox, the event index and its cursor.

On-chain amounts are integer base units (token units) in `DecimalField(max_digits=78, decimal_places=0)`, with
the token and its decimals beside them. Addresses are stored checksummed; hashes as 0x-prefixed lowercase hex.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel


def BaseUnitsField(**kwargs) -> models.DecimalField:
    """An integer amount of a token's smallest unit (uint256 fits in 78 digits)."""
    return models.DecimalField(max_digits=78, decimal_places=0, **kwargs)


def AddressField(**kwargs) -> models.CharField:
    return models.CharField(max_length=42, **kwargs)


def HashField(**kwargs) -> models.CharField:
    return models.CharField(max_length=66, **kwargs)


class WrittenOnceJSONField(models.JSONField):
    """JSON kept as written (PostgreSQL `json`, not `jsonb`), for values stored by the thousand, read whole and never
    searched inside or changed: PostgreSQL checks the text without building jsonb (measured: about a sixth of what
    a COPY of decoded logs costs the server). Key lookups in SQL are not available on it (`json` has no equality);
    other databases store it as JSONField does."""

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        if value is not None and not isinstance(value, str):  # the driver parsed `json` already
            return value
        return super().from_db_value(value, expression, connection)


class EscrowToken(BaseModel):
    """An ERC-20 stablecoin accepted for escrow on one chain, and the ISO-4217 currency it is denominated in."""

    chain_id = models.PositiveBigIntegerField()
    address = AddressField()
    symbol = models.CharField(max_length=20)
    name = models.CharField(max_length=100, blank=True)
    decimals = models.PositiveSmallIntegerField()
    currency = models.CharField(max_length=3, help_text="The currency one whole token stands for (e.g. USD).")

    class Meta:
        ordering = ["chain_id", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "address"], name="escrow_token_unique_address"),
            models.CheckConstraint(condition=Q(decimals__lte=36), name="escrow_token_decimals_range"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} ({self.currency}) on {self.chain_id}"


class AgreementStatus(models.TextChoices):
    CREATING = "creating", "Creating (create transaction queued)"
    ACTIVE = "active", "Active on chain"
    SETTLED = "settled", "Settled (every milestone approved or refunded)"
    FAILED = "failed", "Creation failed"


class EscrowAgreement(BaseModel):
    """A grant's or an investment's milestones held in the escrow contract. The on-chain id comes from the
    AgreementCreated log in the receipt of govtrack's own create transaction, checked against these terms;
    `external_ref` (echoed by that event) is public once the transaction is sent, so any other AgreementCreated
    carrying it is recorded in `conflicts` for a person, never bound (services/binding.py)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="escrows")
    grant = models.ForeignKey(
        "funding.Grant", null=True, blank=True, on_delete=models.PROTECT, related_name="escrow_agreements"
    )
    investment = models.ForeignKey(
        "funding.Investment", null=True, blank=True, on_delete=models.PROTECT, related_name="escrow_agreements"
    )
    chain_id = models.PositiveBigIntegerField()
    contract_address = AddressField()
    onchain_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="Set by the indexer.")
    external_ref = HashField(help_text="bytes32 echoed by AgreementCreated.")
    funder_address = AddressField()
    beneficiary_address = AddressField()
    token = models.ForeignKey(EscrowToken, on_delete=models.PROTECT, related_name="agreements")
    token_address = AddressField()
    token_decimals = models.PositiveSmallIntegerField()
    currency = models.CharField(max_length=3)
    total_base_units = BaseUnitsField()
    withdrawn_base_units = BaseUnitsField(default=0)
    refunded_base_units = BaseUnitsField(default=0, help_text="Paid back to the funder (RefundClaimed).")
    approvers = models.JSONField(default=list)
    threshold = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=20, choices=AgreementStatus.choices, default=AgreementStatus.CREATING, db_index=True
    )
    conflicts = models.JSONField(
        default=list,
        blank=True,
        help_text="AgreementCreated events claiming this agreement that are not govtrack's own (or whose terms "
        "differ): on-chain id, funder, transaction, block, log index and what is wrong. Never applied.",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(grant__isnull=False) & Q(investment__isnull=True))
                | (Q(grant__isnull=True) & Q(investment__isnull=False)),
                name="escrow_agreement_one_parent",
            ),
            models.CheckConstraint(condition=Q(status__in=AgreementStatus.values), name="escrow_agreement_status"),
            models.CheckConstraint(condition=Q(total_base_units__gt=0), name="escrow_agreement_total_positive"),
            models.CheckConstraint(condition=Q(threshold__gte=1), name="escrow_agreement_threshold_positive"),
            models.CheckConstraint(
                condition=Q(withdrawn_base_units__gte=0) & Q(withdrawn_base_units__lte=models.F("total_base_units")),
                name="escrow_agreement_withdrawn_within_total",
            ),
            models.UniqueConstraint(
                fields=["chain_id", "contract_address", "external_ref"], name="escrow_agreement_unique_ref"
            ),
            models.UniqueConstraint(
                fields=["chain_id", "contract_address", "onchain_id"],
                condition=Q(onchain_id__isnull=False),
                name="escrow_agreement_unique_onchain_id",
            ),
        ]

    def __str__(self) -> str:
        return f"Escrow #{self.onchain_id or '?'} ({self.currency}) for {self.grant_id or self.investment_id}"

    @property
    def has_conflict(self) -> bool:
        return bool(self.conflicts)

    @property
    def parent(self):
        return self.grant if self.grant_id else self.investment


class ApproverKind(models.TextChoices):
    GOVTRACK = "govtrack", "govtrack's signer"
    EOA = "eoa", "An account (EOA)"
    SAFE = "safe", "A Safe multisig"


class EscrowApprover(BaseModel):
    """One approver of an agreement: an address the contract counts toward the threshold, and what it is.

    `EscrowAgreement.approvers` keeps the addresses in the order the contract was given them (a term the binding
    checks); this row says what each one is. govtrack sends its own `attest` only where its signer is an approver
    (`govtrack`); for a `safe` it builds the Safe transaction the Safe's owners sign. A Safe's owners and threshold
    are read from the Safe contract when the approver is added.
    """

    agreement = models.ForeignKey(EscrowAgreement, on_delete=models.CASCADE, related_name="approver_rows")
    position = models.PositiveSmallIntegerField(help_text="Its place in the agreement's approvers.")
    address = AddressField()
    kind = models.CharField(max_length=20, choices=ApproverKind.choices)
    safe_owners = models.JSONField(default=list, blank=True, help_text="A Safe's owners, as read when added.")
    safe_threshold = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="How many of the Safe's owners must sign, as read when added."
    )
    safe_version = models.CharField(max_length=20, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True, help_text="When the Safe was read on chain.")

    class Meta:
        ordering = ["agreement", "position"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "address"], name="escrow_approver_unique_address"),
            models.UniqueConstraint(fields=["agreement", "position"], name="escrow_approver_unique_position"),
            models.CheckConstraint(condition=Q(kind__in=ApproverKind.values), name="escrow_approver_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind=ApproverKind.SAFE, safe_threshold__gte=1) | Q(safe_threshold__isnull=True),
                name="escrow_approver_safe_threshold",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.address}"


class OnchainMilestoneStatus(models.TextChoices):
    """The contract's MilestoneStatus enum, in its order (the ABI gives uint8 0..4)."""

    NONE = "none", "Not on chain yet"
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved (withdrawable)"
    REFUNDED = "refunded", "Refunded"
    CANCELLED = "cancelled", "Cancelled"


ONCHAIN_STATUS_BY_CODE = {
    0: OnchainMilestoneStatus.NONE,
    1: OnchainMilestoneStatus.PENDING,
    2: OnchainMilestoneStatus.APPROVED,
    3: OnchainMilestoneStatus.REFUNDED,
    4: OnchainMilestoneStatus.CANCELLED,
}


class EscrowMilestone(BaseModel):
    agreement = models.ForeignKey(EscrowAgreement, on_delete=models.CASCADE, related_name="milestones")
    milestone = models.OneToOneField("funding.Milestone", on_delete=models.PROTECT, related_name="escrow")
    index = models.PositiveSmallIntegerField()
    amount_base_units = BaseUnitsField()
    deadline = models.DateTimeField(help_text="Attest until, refund after (the contract's uint64 seconds).")
    onchain_status = models.CharField(
        max_length=20, choices=OnchainMilestoneStatus.choices, default=OnchainMilestoneStatus.NONE, db_index=True
    )
    approvals = models.PositiveSmallIntegerField(default=0)
    evidence_hash = HashField(blank=True, help_text="What we attest with (SHA-256 of the verification record).")
    onchain_evidence_hash = HashField(
        blank=True, help_text="The hash of the last attestation on chain; once approved, the approved hash."
    )
    withdrawn_base_units = BaseUnitsField(default=0)
    proposed_deadline = models.DateTimeField(
        null=True, blank=True, help_text="A later deadline one party proposed on chain, waiting for the other party."
    )
    proposed_deadline_by = AddressField(blank=True, help_text="Who proposed it (funder or beneficiary).")

    class Meta:
        ordering = ["agreement", "index"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "index"], name="escrow_milestone_unique_index"),
            models.CheckConstraint(condition=Q(amount_base_units__gt=0), name="escrow_milestone_amount_positive"),
            models.CheckConstraint(
                condition=Q(onchain_status__in=OnchainMilestoneStatus.values), name="escrow_milestone_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_base_units__gte=0) & Q(withdrawn_base_units__lte=models.F("amount_base_units")),
                name="escrow_milestone_withdrawn_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agreement} milestone {self.index}"


class ChainTxKind(models.TextChoices):
    DEPLOY = "deploy", "Deploy a contract"
    TOKEN_APPROVE = "token_approve", "Allow the escrow to take the deposit"
    TOKEN_MINT = "token_mint", "Mint test tokens (local chain)"
    CREATE = "create", "Create agreement"
    ATTEST = "attest", "Attest milestone"
    REFUND = "refund", "Refund milestone"
    CLAIM_REFUND = "claim_refund", "Pay refunds to the funder"
    DEADLINE_EXTENSION = "deadline_extension", "Propose or confirm a later milestone deadline"


class ChainTxStatus(models.TextChoices):
    PENDING = "pending", "Pending (not signed)"
    SIGNED = "signed", "Signed (raw transaction stored, not yet accepted by the node)"
    SENT = "sent", "Sent"
    MINED = "mined", "Mined"
    CONFIRMED = "confirmed", "Confirmed"
    FAILED = "failed", "Failed"


OPEN_TX_STATUSES = (ChainTxStatus.PENDING, ChainTxStatus.SIGNED, ChainTxStatus.SENT, ChainTxStatus.MINED)


class ChainTx(BaseModel):
    """The outbox: one intent to send a transaction, written in the transaction of the business change.

    pending → signed → sent → mined → confirmed; a reverted transaction, or one refused before it was signed,
    is failed. A reorg takes a mined (or confirmed) transaction back to sent. Once a nonce is taken the row
    never fails without being mined, so the sender's nonces never leave a gap.
    """

    organization = models.ForeignKey(
        "tenancy.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="chain_txs"
    )
    agreement = models.ForeignKey(
        EscrowAgreement, null=True, blank=True, on_delete=models.CASCADE, related_name="transactions"
    )
    escrow_milestone = models.ForeignKey(
        EscrowMilestone, null=True, blank=True, on_delete=models.CASCADE, related_name="transactions"
    )
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    kind = models.CharField(max_length=20, choices=ChainTxKind.choices)
    params = models.JSONField(default=dict, help_text="What the call data is built from when it is signed.")
    chain_id = models.PositiveBigIntegerField()
    sender = AddressField()
    to = AddressField(blank=True, help_text="Empty for a contract creation.")
    data = models.TextField(blank=True, help_text="0x call data, as signed.")
    value = BaseUnitsField(default=0)
    nonce = models.PositiveBigIntegerField(null=True, blank=True)
    gas = models.PositiveBigIntegerField(null=True, blank=True)
    max_fee_per_gas = BaseUnitsField(null=True, blank=True)
    max_priority_fee_per_gas = BaseUnitsField(null=True, blank=True)
    raw_tx = models.TextField(blank=True, help_text="0x signed transaction, stored before it is broadcast.")
    tx_hash = HashField(blank=True, db_index=True)
    previous_hashes = models.JSONField(default=list, blank=True, help_text="Hashes of replaced transactions.")
    status = models.CharField(
        max_length=20, choices=ChainTxStatus.choices, default=ChainTxStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    block_hash = HashField(blank=True)
    receipt_status = models.PositiveSmallIntegerField(null=True, blank=True)
    gas_used = models.PositiveBigIntegerField(null=True, blank=True)
    contract_address = AddressField(blank=True, help_text="The created contract (deploy).")
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "chain transaction"
        indexes = [models.Index(fields=["chain_id", "sender", "status"], name="chaintx_sender_status")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ChainTxKind.values), name="chaintx_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=ChainTxStatus.values), name="chaintx_status_valid"),
            models.CheckConstraint(
                condition=Q(status=ChainTxStatus.PENDING) | Q(status=ChainTxStatus.FAILED) | Q(nonce__isnull=False),
                name="chaintx_signed_has_nonce",
            ),
            models.CheckConstraint(
                condition=Q(status=ChainTxStatus.PENDING) | Q(status=ChainTxStatus.FAILED) | ~Q(raw_tx=""),
                name="chaintx_signed_has_raw",
            ),
            models.UniqueConstraint(
                fields=["chain_id", "sender", "nonce"],
                condition=Q(nonce__isnull=False) & ~Q(status=ChainTxStatus.FAILED),
                name="chaintx_unique_live_nonce",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.tx_hash[:12] or '(unsigned)'} {self.status}"

    @property
    def all_hashes(self) -> list[str]:
        return [h for h in [self.tx_hash, *self.previous_hashes] if h]


class ChainNonce(BaseModel):
    """The next nonce of one sender on one chain, taken under a row lock (initialised from the node's pending
    count, raised again if the node ever knows of more)."""

    chain_id = models.PositiveBigIntegerField()
    sender = AddressField()
    next_nonce = models.PositiveBigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain_id", "sender"], name="chain_nonce_unique_sender")]

    def __str__(self) -> str:
        return f"{self.sender}@{self.chain_id}: {self.next_nonce}"


class ChainEvent(models.Model):
    """One contract log, stored once. `removed`: its block left the canonical chain and its effects were undone.
    `applied`: its effects on agreements, milestones and disbursements were made (`effects` says which).

    Like compute samples, an index row rather than a domain row: a bigint key, no created/updated times, and as
    few indexes as the indexer's queries need (it writes them by the thousand).
    """

    chain_id = models.PositiveBigIntegerField()
    contract_address = AddressField()
    block_number = models.PositiveBigIntegerField()
    block_hash = HashField()
    block_timestamp = models.DateTimeField(null=True, blank=True)
    tx_hash = HashField()
    log_index = models.PositiveIntegerField()
    name = models.CharField(max_length=40)
    args = WrittenOnceJSONField(default=dict)  # the ABI-decoded arguments, as the indexer wrote them
    agreement_onchain_id = models.PositiveBigIntegerField(null=True, blank=True)
    removed = models.BooleanField(default=False)
    applied = models.BooleanField(default=False)
    effects = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["block_number", "log_index"]
        # Range reads by block (rewinds after a fork) use a BRIN index on PostgreSQL (migration 0002): logs arrive
        # in block order, so it costs almost nothing to keep while thousands of logs are copied in per page.
        indexes = [
            models.Index(
                fields=["chain_id", "contract_address", "block_number"],
                condition=Q(applied=False, removed=False),
                name="chain_event_unapplied",
            ),
            # Events of a block that left the chain, looked up when such a block comes back: few rows, so checking
            # for them costs nothing on the thousands of logs copied in per page.
            models.Index(fields=["chain_id", "block_hash"], condition=Q(removed=True), name="chain_event_removed"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "block_hash", "log_index"], name="chain_event_unique_log"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.block_number}:{self.log_index}"


class SyncCursor(BaseModel):
    """How far the indexer has read one contract's events, and the hash of that block (to detect forks)."""

    chain_id = models.PositiveBigIntegerField()
    contract_address = AddressField()
    last_block = models.BigIntegerField(help_text="-1: nothing read yet.")
    last_block_hash = HashField(blank=True)
    page_size = models.PositiveIntegerField(default=2000, help_text="Blocks per eth_getLogs; adapts to the node.")
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "contract_address"], name="sync_cursor_unique_contract")
        ]

    def __str__(self) -> str:
        return f"{self.contract_address}@{self.chain_id} up to {self.last_block}"


class EscrowContract(models.Model):
    """What the indexer knows of one escrow contract as a whole: whether its owner has paused it (from its
    confirmed Paused/Unpaused events). While paused the contract refuses new agreements and attestations; the
    sender holds govtrack's attestations until it is unpaused (services/sender.py)."""

    chain_id = models.PositiveBigIntegerField()
    address = AddressField()
    paused = models.BooleanField(default=False)
    paused_changed_at = models.DateTimeField(null=True, blank=True, help_text="Block time of the last change.")
    paused_changed_tx = HashField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain_id", "address"], name="escrow_contract_unique_address")]

    def __str__(self) -> str:
        return f"{self.address}@{self.chain_id}{' (paused)' if self.paused else ''}"
