"""Admin pages: browsing the outbox, the event index and the agreements. State changes go through the services:
the only action is the retry of failed or stuck transactions (owner/finance of the row's organization)."""

from django.contrib import admin, messages

from apps.core.errors import ApplicationError
from apps.escrow import models
from apps.escrow.services.outbox import chaintx_retry


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.EscrowToken)
class EscrowTokenAdmin(admin.ModelAdmin):
    list_display = ["symbol", "currency", "decimals", "chain_id", "address"]
    list_filter = ["chain_id", "currency"]


class EscrowMilestoneInline(admin.TabularInline):
    model = models.EscrowMilestone
    fields = ["index", "milestone", "amount_base_units", "deadline", "onchain_status", "approvals", "evidence_hash"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(models.EscrowAgreement)
class EscrowAgreementAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "organization", "status", "onchain_id", "currency", "total_base_units", "chain_id"]
    list_filter = ["status", "chain_id", "currency"]
    search_fields = ["external_ref", "contract_address", "beneficiary_address"]
    list_select_related = ["organization", "grant", "investment"]
    inlines = [EscrowMilestoneInline]


@admin.register(models.EscrowMilestone)
class EscrowMilestoneAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "milestone", "onchain_status", "approvals", "deadline", "amount_base_units"]
    list_filter = ["onchain_status"]
    list_select_related = ["agreement", "milestone"]


@admin.register(models.ChainTx)
class ChainTxAdmin(ReadOnlyAdmin):
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
        done = 0
        for chain_tx in queryset:
            try:
                chaintx_retry(chain_tx=chain_tx, by=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{chain_tx}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} transaction(s) queued again.", messages.SUCCESS)


@admin.register(models.ChainEvent)
class ChainEventAdmin(ReadOnlyAdmin):
    list_display = ["name", "block_number", "log_index", "agreement_onchain_id", "tx_hash", "removed", "applied"]
    list_filter = ["name", "removed", "applied", "chain_id"]
    search_fields = ["tx_hash", "block_hash"]


@admin.register(models.SyncCursor)
class SyncCursorAdmin(ReadOnlyAdmin):
    list_display = ["contract_address", "chain_id", "last_block", "page_size", "last_synced_at", "last_error"]


@admin.register(models.ChainNonce)
class ChainNonceAdmin(ReadOnlyAdmin):
    list_display = ["sender", "chain_id", "next_nonce", "updated_at"]
