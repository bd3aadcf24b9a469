"""Output serializers shape rows; input serializers parse types. Rules live in the services."""

from rest_framework import serializers

from apps.escrow.models import ChainTx, EscrowAgreement, EscrowContract, EscrowMilestone, EscrowToken


class EscrowTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = EscrowToken
        fields = ["id", "chain_id", "address", "symbol", "name", "decimals", "currency"]


class EscrowMilestoneSerializer(serializers.ModelSerializer):
    """A milestone's escrow status: what the contract says, and the funding milestone it holds."""

    milestone_title = serializers.CharField(source="milestone.title", read_only=True)
    milestone_status = serializers.CharField(source="milestone.status", read_only=True)
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


class EscrowAgreementSerializer(serializers.ModelSerializer):
    token = EscrowTokenSerializer(read_only=True)
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


class AgreementInput(serializers.Serializer):
    grant = serializers.UUIDField(required=False, allow_null=True, default=None)
    investment = serializers.UUIDField(required=False, allow_null=True, default=None)
    token = serializers.UUIDField(help_text="An accepted stablecoin in the parent's currency (GET /escrow/tokens/).")
    beneficiary_address = serializers.CharField(max_length=42)
    approvers = serializers.ListField(
        child=serializers.CharField(max_length=42), required=False, help_text="Default: govtrack's signer."
    )
    threshold = serializers.IntegerField(min_value=1, max_value=32, default=1)
    milestones = serializers.ListField(
        child=serializers.UUIDField(), required=False, help_text="Default: every open or verified milestone."
    )

    def validate(self, data):
        if bool(data.get("grant")) == bool(data.get("investment")):
            raise serializers.ValidationError({"grant": ["Give either a grant or an investment."]})
        return data


class RefundInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DeadlineExtensionInput(serializers.Serializer):
    deadline = serializers.DateTimeField(help_text="The new on-chain deadline; later than the current one.")
    confirm = serializers.BooleanField(
        default=False, help_text="Confirm the other party's proposal of this deadline (instead of proposing it)."
    )
