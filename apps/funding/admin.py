"""Funding in the support window: everything visible, nothing editable or deletable (money, dates, states,
criteria, evidence and the organization's policy change only through the services; a disbursement is corrected by
its void, shown beside it). Three transitions are offered as actions that call the services in the staff user's
name, so the role check, the separation-of-duties guards, the state rules and the audit trail apply."""

from django.contrib import admin

from apps.core.admin import (
    ReasonActionForm,
    SupportInline,
    SupportModelAdmin,
    service_action,
    transition_description,
)
from apps.funding import models
from apps.funding.machines import GRANTS, MILESTONES
from apps.funding.services.grants import grant_begin_closing, grant_reject
from apps.funding.services.milestones import milestone_mark_missed


class FunderContactInline(SupportInline):
    model = models.FunderContact
    fields = ["name", "email", "phone", "title"]


@admin.register(models.Funder)
class FunderAdmin(SupportModelAdmin):
    list_display = ["name", "kind", "organization"]
    list_filter = ["kind"]
    search_fields = ["name"]
    inlines = [FunderContactInline]


class MilestoneInline(SupportInline):
    model = models.Milestone
    fields = ["title", "amount", "currency", "due_date", "status", "amount_disbursed"]


@admin.register(models.Grant)
class GrantAdmin(SupportModelAdmin):
    list_display = ["title", "funder", "status", "currency", "amount_requested", "amount_awarded", "amount_disbursed"]
    list_filter = ["status", "currency"]
    search_fields = ["title", "program", "reference"]
    inlines = [MilestoneInline]
    action_form = ReasonActionForm
    actions = ["reject", "begin_closing"]

    @admin.action(description=transition_description(GRANTS, "reject"))
    def reject(self, request, queryset):
        reason = request.POST.get("reason", "")
        service_action(
            self,
            request,
            queryset,
            lambda grant: grant_reject(grant=grant, by=request.user, reason=reason),
            done="grant(s) rejected.",
        )

    @admin.action(description=transition_description(GRANTS, "begin_closing"))
    def begin_closing(self, request, queryset):
        service_action(
            self,
            request,
            queryset,
            lambda grant: grant_begin_closing(grant=grant, by=request.user),
            done="grant(s) closing.",
        )


@admin.register(models.Investment)
class InvestmentAdmin(SupportModelAdmin):
    list_display = ["title", "investor", "instrument", "status", "currency", "committed_amount", "amount_disbursed"]
    list_filter = ["status", "instrument"]
    search_fields = ["title"]
    inlines = [MilestoneInline]


class CriterionInline(SupportInline):
    model = models.MilestoneCriterion
    fields = ["kind", "description", "status", "last_evaluated_at"]


@admin.register(models.Milestone)
class MilestoneAdmin(SupportModelAdmin):
    list_display = ["title", "status", "amount", "currency", "due_date", "organization"]
    list_filter = ["status", "currency"]
    search_fields = ["title"]
    inlines = [CriterionInline]
    action_form = ReasonActionForm
    actions = ["mark_missed"]

    @admin.action(description=transition_description(MILESTONES, "mark_missed"))
    def mark_missed(self, request, queryset):
        reason = request.POST.get("reason", "")
        service_action(
            self,
            request,
            queryset,
            lambda milestone: milestone_mark_missed(milestone=milestone, by=request.user, reason=reason),
            done="milestone(s) marked as missed.",
        )


@admin.register(models.MilestoneCriterion)
class MilestoneCriterionAdmin(SupportModelAdmin):
    list_display = ["description", "milestone", "kind", "status", "last_evaluated_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["milestone"]


@admin.register(models.MilestoneApproval)
class MilestoneApprovalAdmin(SupportModelAdmin):
    list_display = ["milestone", "purpose", "user", "role", "created_at"]
    list_filter = ["purpose", "role"]
    list_select_related = ["milestone", "user"]


@admin.register(models.Disbursement)
class DisbursementAdmin(SupportModelAdmin):
    list_display = ["milestone", "amount", "currency", "kind", "paid_on", "reference"]
    list_filter = ["kind", "currency"]
    list_select_related = ["milestone"]


@admin.register(models.Evidence)
class EvidenceAdmin(SupportModelAdmin):
    list_display = ["original_name", "milestone", "size", "sha256", "created_at"]
    list_select_related = ["milestone"]


@admin.register(models.OrganizationPolicy)
class OrganizationPolicyAdmin(SupportModelAdmin):
    """Separation of duties and dual approval: the organization's owner changes them (audited), not the admin."""

    list_display = ["organization", "dual_approval_above", "disbursement_grace_days", "updated_by", "updated_at"]
    list_select_related = ["organization", "updated_by"]


@admin.register(models.KpiReading)
class KpiReadingAdmin(SupportModelAdmin):
    list_display = ["metric", "value", "unit", "period_start", "period_end", "source", "organization"]
    list_filter = ["metric", "source"]


@admin.register(models.GrantReport)
class GrantReportAdmin(SupportModelAdmin):
    list_display = ["title", "grant", "due_date", "status", "submitted_at"]
    list_filter = ["status"]


@admin.register(models.GrantRequirement)
class GrantRequirementAdmin(SupportModelAdmin):
    list_display = ["grant", "kind", "status"]
    list_filter = ["kind", "status"]


@admin.register(models.EthicalCriterion)
class EthicalCriterionAdmin(SupportModelAdmin):
    list_display = ["criterion", "investment", "assessment", "assessed_at"]
    list_filter = ["assessment"]
