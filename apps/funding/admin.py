"""Admin pages: browsing and search. Changes of state go through the services (the API and dashboard), so the
status, money and evidence fields are read-only here."""

from django.contrib import admin

from apps.funding import models


class ReadOnlyStateMixin:
    state_fields = ("status", "status_reason", "amount_disbursed", "amount_awarded")

    def get_readonly_fields(self, request, obj=None):
        own = {f.name for f in self.model._meta.fields}
        return [*super().get_readonly_fields(request, obj), *[f for f in self.state_fields if f in own]]


class FunderContactInline(admin.TabularInline):
    model = models.FunderContact
    extra = 0


@admin.register(models.Funder)
class FunderAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "organization"]
    list_filter = ["kind"]
    search_fields = ["name"]
    inlines = [FunderContactInline]


class MilestoneInline(admin.TabularInline):
    model = models.Milestone
    fields = ["title", "amount", "currency", "due_date", "status", "amount_disbursed"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(models.Grant)
class GrantAdmin(ReadOnlyStateMixin, admin.ModelAdmin):
    list_display = ["title", "funder", "status", "currency", "amount_requested", "amount_awarded", "amount_disbursed"]
    list_filter = ["status", "currency"]
    search_fields = ["title", "program", "reference"]
    inlines = [MilestoneInline]


@admin.register(models.Investment)
class InvestmentAdmin(ReadOnlyStateMixin, admin.ModelAdmin):
    list_display = ["title", "investor", "instrument", "status", "currency", "committed_amount", "amount_disbursed"]
    list_filter = ["status", "instrument"]
    search_fields = ["title"]
    inlines = [MilestoneInline]


@admin.register(models.Milestone)
class MilestoneAdmin(ReadOnlyStateMixin, admin.ModelAdmin):
    list_display = ["title", "status", "amount", "currency", "due_date", "organization"]
    list_filter = ["status", "currency"]
    search_fields = ["title"]
    state_fields = ("status", "status_reason", "amount_disbursed", "submitted_at", "verified_at", "released_at")


@admin.register(models.Disbursement)
class DisbursementAdmin(admin.ModelAdmin):
    list_display = ["milestone", "amount", "currency", "kind", "paid_on", "reference"]
    list_filter = ["kind", "currency"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in models.Disbursement._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(models.Evidence)
class EvidenceAdmin(admin.ModelAdmin):
    list_display = ["original_name", "milestone", "size", "sha256", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in models.Evidence._meta.fields]


@admin.register(models.KpiReading)
class KpiReadingAdmin(admin.ModelAdmin):
    list_display = ["metric", "value", "unit", "period_start", "period_end", "source", "organization"]
    list_filter = ["metric", "source"]


admin.site.register(models.GrantReport)
admin.site.register(models.GrantRequirement)
admin.site.register(models.EthicalCriterion)
admin.site.register(models.MilestoneCriterion)
