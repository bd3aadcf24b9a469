"""Output serializers shape rows; input serializers parse types. Rules live in the services."""

from rest_framework import serializers

from apps.escrow.models import (
    ApproverKind,
    ChainTx,
    EscrowAgreement,
    EscrowApprover,
    EscrowContract,
    EscrowMilestone,
    EscrowToken,
)


class EscrowTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = EscrowToken
        fields = ["id", "chain_id", "address", "symbol", "name", "decimals", "currency"]


class EscrowMilestoneSerializer(serializers.ModelSerializer):
    """A milestone's escrow status: what the contract says, and the funding milestone it holds."""

    milestone_title = serializers.CharField(source="milestone.title", read_only=True)
    milestone_status = serializers.CharField(source="milestone.status", read_only=True)
    milestone_status_reason = serializers.CharField(
        source="milestone.status_reason",
        read_only=True,
        help_text="Why the milestone is in its status; for `conflict`, the hash attested on chain and by whom.",
    )
    agreement_onchain_id = serializers.IntegerField(source="agreement.onchain_id", read_only=True, allow_null=True)

    class Meta:
        model = EscrowMilestone
        fields = [
            "id",
            "agreement",
            "agreement_onchain_id",
            "milestone",
            "milestone_title",
            "milestone_status",
            "milestone_status_reason",
            "index",
            "amount_base_units",
            "deadline",
            "onchain_status",
            "approvals",
            "evidence_hash",
            "onchain_evidence_hash",
            "withdrawn_base_units",
            "proposed_deadline",
            "proposed_deadline_by",
            "updated_at",
        ]


class EscrowApproverSerializer(serializers.ModelSerializer):
    """An approver of the agreement and what it is; a Safe's owners and threshold as read when it was added."""

    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = EscrowApprover
        fields = [
            "position",
            "address",
            "kind",
            "kind_label",
            "safe_owners",
            "safe_threshold",
            "safe_version",
            "checked_at",
        ]


class EscrowAgreementSerializer(serializers.ModelSerializer):
    token = EscrowTokenSerializer(read_only=True)
    approvers = EscrowApproverSerializer(source="approver_rows", many=True, read_only=True)
    milestones = EscrowMilestoneSerializer(many=True, read_only=True)
    contract_paused = serializers.SerializerMethodField(
        help_text="The contract's owner has paused it (confirmed Paused event): attestations wait until unpaused."
    )

    def get_contract_paused(self, agreement: EscrowAgreement) -> bool:
        if hasattr(agreement, "contract_paused"):  # annotated by the selectors
            return agreement.contract_paused
        return EscrowContract.objects.filter(
            chain_id=agreement.chain_id, address=agreement.contract_address, paused=True
        ).exists()

    class Meta:
        model = EscrowAgreement
        fields = [
            "id",
            "organization",
            "grant",
            "investment",
            "status",
            "chain_id",
            "contract_address",
            "contract_paused",
            "onchain_id",
            "external_ref",
            "funder_address",
            "beneficiary_address",
            "token",
            "currency",
            "total_base_units",
            "withdrawn_base_units",
            "refunded_base_units",
            "approvers",
            "threshold",
            "conflicts",
            "milestones",
            "created_at",
            "updated_at",
        ]


class ChainTxSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChainTx
        fields = [
            "id",
            "organization",
            "agreement",
            "escrow_milestone",
            "retry_of",
            "kind",
            "status",
            "chain_id",
            "sender",
            "to",
            "nonce",
            "gas",
            "max_fee_per_gas",
            "max_priority_fee_per_gas",
            "tx_hash",
            "previous_hashes",
            "attempts",
            "last_error",
            "next_attempt_at",
            "signed_at",
            "sent_at",
            "block_number",
            "block_hash",
            "receipt_status",
            "gas_used",
            "confirmed_at",
            "created_at",
            "updated_at",
        ]


class ApproverInput(serializers.Serializer):
    address = serializers.CharField(
        max_length=42, required=False, allow_blank=True, default="", help_text="May be left out for `govtrack`."
    )
    kind = serializers.ChoiceField(choices=ApproverKind.choices)


class AgreementInput(serializers.Serializer):
    grant = serializers.UUIDField(required=False, allow_null=True, default=None)
    investment = serializers.UUIDField(required=False, allow_null=True, default=None)
    token = serializers.UUIDField(help_text="An accepted stablecoin in the parent's currency (GET /escrow/tokens/).")
    beneficiary_address = serializers.CharField(max_length=42)
    approvers = serializers.ListField(
        child=ApproverInput(),
        required=False,
        allow_empty=True,
        help_text="Who attests on chain, each with its kind. Left out: govtrack's signer alone (threshold 1). "
        "An empty list is refused. A Safe is read on chain (owners, threshold) and refused if it is not one.",
    )
    threshold = serializers.IntegerField(min_value=1, max_value=32, default=1)
    milestones = serializers.ListField(
        child=serializers.UUIDField(), required=False, help_text="Default: every open or verified milestone."
    )

    def validate(self, data):
        if bool(data.get("grant")) == bool(data.get("investment")):
            raise serializers.ValidationError({"grant": ["Give either a grant or an investment."]})
        return data


class AttestationSerializer(serializers.Serializer):
    """One Attested event: who attested which milestone with which hash, in which transaction."""

    escrow_milestone = serializers.UUIDField(allow_null=True)
    milestone_index = serializers.IntegerField()
    approver = serializers.CharField()
    approver_kind = serializers.CharField(
        help_text="govtrack, eoa or safe; empty for an address govtrack does not know."
    )
    approver_kind_label = serializers.CharField()
    evidence_hash = serializers.CharField(help_text="The hash attested on chain.")
    matches_report = serializers.BooleanField(help_text="Whether it is govtrack's own report hash.")
    approvals = serializers.IntegerField()
    tx_hash = serializers.CharField()
    block_number = serializers.IntegerField()
    block_timestamp = serializers.DateTimeField(allow_null=True)
    confirmed = serializers.BooleanField(help_text="Deep enough to have been applied by the indexer.")


class SafeTransactionSerializer(serializers.Serializer):
    """The Safe transaction a Safe's owners sign (EIP-712 `typed_data`, or its hash `safe_tx_hash`) and any one of
    them executes with `execTransaction` once `safe_threshold` signatures are collected."""

    safe = serializers.CharField()
    safe_threshold = serializers.IntegerField(allow_null=True)
    safe_owners = serializers.ListField(child=serializers.CharField())
    chain_id = serializers.IntegerField()
    escrow_milestone = serializers.UUIDField()
    evidence_hash = serializers.CharField(help_text="govtrack's report hash, attested by this transaction.")
    to = serializers.CharField(help_text="The escrow contract.")
    value = serializers.CharField()
    data = serializers.CharField(help_text="attest(agreementId, milestoneIndex, evidenceHash) call data.")
    operation = serializers.IntegerField(help_text="0: call.")
    safe_tx_gas = serializers.CharField()
    base_gas = serializers.CharField()
    gas_price = serializers.CharField()
    gas_token = serializers.CharField()
    refund_receiver = serializers.CharField()
    nonce = serializers.IntegerField(help_text="The Safe's current nonce.")
    safe_tx_hash = serializers.CharField(help_text="EIP-712 hash the owners sign (equal to getTransactionHash).")
    typed_data = serializers.DictField(help_text="For eth_signTypedData_v4.")


class RefundInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DeadlineExtensionInput(serializers.Serializer):
    deadline = serializers.DateTimeField(help_text="The new on-chain deadline; later than the current one.")
    confirm = serializers.BooleanField(
        default=False, help_text="Confirm the other party's proposal of this deadline (instead of proposing it)."
    )
