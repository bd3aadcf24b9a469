"""Escrow in the support window: browsing the outbox, the event index and the agreements, read-only. State
changes go through the services: the only action is the retry of failed or stuck transactions, taken in the
staff user's name (owner/finance of the row's organization)."""

from django.contrib import admin

from apps.core.admin import SupportInline, SupportModelAdmin, service_action
from apps.escrow import models
from apps.escrow.services.outbox import chaintx_retry


@admin.register(models.EscrowToken)
class EscrowTokenAdmin(SupportModelAdmin):
    list_display = ["symbol", "currency", "decimals", "chain_id", "address"]
    list_filter = ["chain_id", "currency"]


class EscrowMilestoneInline(SupportInline):
    model = models.EscrowMilestone
    fields = ["index", "milestone", "amount_base_units", "deadline", "onchain_status", "approvals", "evidence_hash"]


class EscrowApproverInline(SupportInline):
    model = models.EscrowApprover
    fields = ["position", "address", "kind", "safe_threshold", "safe_owners", "safe_version", "checked_at"]


@admin.register(models.EscrowAgreement)
class EscrowAgreementAdmin(SupportModelAdmin):
    list_display = [
        "__str__", "organization", "status", "onchain_id", "has_conflict", "currency", "total_base_units", "chain_id"
    ]  # fmt: skip
    list_filter = ["status", "chain_id", "currency"]
    search_fields = ["external_ref", "contract_address", "beneficiary_address"]
    list_select_related = ["organization", "grant", "investment"]
    inlines = [EscrowApproverInline, EscrowMilestoneInline]


@admin.register(models.EscrowMilestone)
class EscrowMilestoneAdmin(SupportModelAdmin):
    list_display = ["__str__", "milestone", "onchain_status", "approvals", "deadline", "amount_base_units"]
    list_filter = ["onchain_status"]
    list_select_related = ["agreement", "milestone"]


@admin.register(models.ChainTx)
class ChainTxAdmin(SupportModelAdmin):
    list_display = ["kind", "status", "tx_hash", "nonce", "attempts", "short_error", "organization", "created_at"]
    list_filter = ["status", "kind", "chain_id"]
    search_fields = ["tx_hash", "previous_hashes", "last_error", "sender"]
    list_select_related = ["organization"]
    exclude = ["raw_tx"]
    actions = ["retry"]

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error[:80]

    @admin.action(description="Retry (failed: a new transaction; waiting or unmined: now, with higher fees)")
    def retry(self, request, queryset):
        service_action(
            self,
            request,
            queryset,
            lambda chain_tx: chaintx_retry(chain_tx=chain_tx, by=request.user),
            done="transaction(s) queued again.",
        )


@admin.register(models.ChainEvent)
class ChainEventAdmin(SupportModelAdmin):
    list_display = ["name", "block_number", "log_index", "agreement_onchain_id", "tx_hash", "removed", "applied"]
    list_filter = ["name", "removed", "applied", "chain_id"]
    search_fields = ["tx_hash", "block_hash"]


@admin.register(models.SyncCursor)
class SyncCursorAdmin(SupportModelAdmin):
    list_display = ["contract_address", "chain_id", "last_block", "page_size", "last_synced_at", "last_error"]


@admin.register(models.ChainNonce)
class ChainNonceAdmin(SupportModelAdmin):
    list_display = ["sender", "chain_id", "next_nonce", "updated_at"]


@admin.register(models.EscrowContract)
class EscrowContractAdmin(SupportModelAdmin):
    list_display = ["address", "chain_id", "paused", "paused_changed_at", "paused_changed_tx"]
    list_filter = ["paused", "chain_id"]
