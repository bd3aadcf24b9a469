"""Grants and investments: lists, the detail page with its milestone timeline, and the everyday funding forms."""

import json

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.compute import permissions as compute_permissions
from apps.compute.services.verification import EVALUATED_STATUSES, criterion_verify
from apps.core.errors import ApplicationError
from apps.dashboard import charts, forms, selectors
from apps.dashboard.budget_work import budget_work_context
from apps.dashboard.context import org_view
from apps.dashboard.listing import Column, list_page
from apps.dashboard.views.activity import feed_context
from apps.dashboard.views.common import allowed, get_or_404, machine_action, page, run_service
from apps.economics.selectors import plan_sections
from apps.escrow import permissions as escrow_permissions
from apps.escrow.selectors import tokens_for
from apps.funding import permissions as funding_permissions
from apps.funding.machines import GRANTS, INVESTMENTS, MILESTONES, held_in_escrow, release_status
from apps.funding.models import ApprovalPurpose, CriterionKind, MilestoneStatus
from apps.funding.selectors import (
    criterion_get,
    disbursement_get,
    funder_list,
    funding_summary,
    grant_get,
    investment_get,
    milestone_get,
    milestones_brief_attach,
)
from apps.funding.services import disbursements as disbursement_services
from apps.funding.services import grants as grant_services
from apps.funding.services import investments as investment_services
from apps.funding.services import kpis as kpi_services
from apps.funding.services import milestones as milestone_services
from apps.proofs.permissions import can_share_proof
from apps.proofs.selectors import proof_links_of_released

# --- grants list and creation ---------------------------------------------------------------------------------------


GRANT_COLUMNS = [
    Column("title", "Grant", "title", "title"),
    Column("funder", "Funder", "funder__name", "funder.name"),
    Column("status", "Status", "status", "status"),
    Column("budget", "Budget", "amount_requested", "amount_requested", css="num"),
    Column("disbursed", "Disbursed", "amount_disbursed", "amount_disbursed", css="num hide-small"),
    Column("milestones", "Milestones", None, None, css="hide-small"),
    Column("ends", "Ends", "period_end", "period_end", css="hide-small"),
]
GRANT_EXPORT_ONLY = [
    Column("reference", "Reference", None, "reference"),
    Column("currency", "Currency", None, "currency"),
    Column("awarded", "Awarded", None, "amount_awarded"),
    Column("starts", "Starts", None, "period_start"),
]


@org_view
def grants(request):
    filters = forms.GrantFilterForm(request.GET or None)
    status = filters.cleaned_data.get("status") if filters.is_valid() else ""
    listing = list_page(
        request,
        selectors.grants_of_org(user=request.user, org=request.org, status=status),
        columns=GRANT_COLUMNS + GRANT_EXPORT_ONLY,
        search=("title", "reference", "program", "funder__name"),
        default_sort="-ends",
        filename="grants",
    )
    if not isinstance(listing, dict):
        return listing
    listing["headers"] = listing["headers"][: len(GRANT_COLUMNS)]
    rows = milestones_brief_attach(listing["rows"])
    context = {
        "grants": [{"grant": g, "summary": funding_summary(g)} for g in rows],
        "listing": listing,
        "filters": filters,
        "can_create": allowed(request, funding_permissions.can_manage_funding),
    }
    return page(request, "dashboard/grants.html", context, section="dashboard:grants")


@org_view
def grant_create(request):
    funders = funder_list(user=request.user).filter(organization=request.org)
    form = forms.GrantCreateForm(request.POST or None, funders=funders)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            funder = next((f for f in funders if str(f.pk) == data["funder"]), None)
            grant, status = run_service(
                form,
                lambda: grant_services.grant_create(
                    organization=request.org,
                    by=request.user,
                    funder=funder,
                    title=data["title"],
                    program=data["program"],
                    reference=data["reference"],
                    currency=data["currency"],
                    amount_requested=data["amount_requested"],
                    period_start=data["period_start"],
                    period_end=data["period_end"],
                    focus_areas=data["focus_areas"],
                    description=data["description"],
                ),
            )
            if grant is not None:
                messages.success(request, f"Grant “{grant.title}” created as a draft.")
                return redirect("dashboard:grant", pk=grant.pk)
        else:
            status = 400
    context = {"form": form, "can_create": allowed(request, funding_permissions.can_manage_funding)}
    return page(request, "dashboard/grant_form.html", context, section="dashboard:grants", status=status)


# --- grant detail ---------------------------------------------------------------------------------------------------


def _report_view(report) -> dict:
    document = json.loads(report.canonical_json)
    result = document.get("result", {})
    devices = document.get("devices", [])
    return {
        "report": report,
        "devices": devices,
        "result": result,
        "chart": charts.verification_chart(devices=devices, threshold=result.get("threshold", 0)) if devices else "",
    }


def _kpi_form(criteria):
    """A reading form for a milestone with a KPI criterion, set to the criterion's metric and period."""
    kpi = next((c for c in criteria if c.kind == CriterionKind.KPI), None)
    if kpi is None:
        return None
    config = kpi.config or {}
    return forms.KpiReadingForm(
        initial={
            "metric": config.get("metric"),
            "period_start": config.get("period_start"),
            "period_end": config.get("period_end"),
        },
        prefix=f"kpi-{kpi.milestone_id}",
    )


def _amend_form(milestone, bound_forms: dict):
    if bound_forms.get("amend_for") == milestone.pk:
        return bound_forms["amend_form"]
    return forms.MilestoneAmendForm(milestone=milestone, escrowed=held_in_escrow(milestone))


def milestone_views(request, milestones: list, *, reports_by_milestone: dict, bound_forms: dict | None = None) -> list:
    """Each milestone with its criteria, evidence, the actions its state machine offers this user and, while its
    plan may change, the amendment form (for those who manage funding)."""
    bound_forms = bound_forms or {}
    can_add_evidence = allowed(request, funding_permissions.can_work_on_milestone)
    can_amend = allowed(request, funding_permissions.can_manage_funding)
    can_evaluate = allowed(request, compute_permissions.can_evaluate_criterion)
    can_report_kpi = allowed(request, funding_permissions.can_report_kpi)
    views = []
    for milestone in milestones:
        criteria = list(milestone.criteria.all())
        approvals = list(milestone.approvals.all())
        approvable = {
            c.pk for c in criteria if funding_permissions.criterion_approval_decision(c, milestone, request.user)[0]
        }
        views.append(
            {
                "milestone": milestone,
                "criteria": criteria,
                "approvable": approvable,
                "evaluable": {
                    c.pk
                    for c in criteria
                    if can_evaluate and c.kind == CriterionKind.COMPUTE and milestone.status in EVALUATED_STATUSES
                },
                "kpi_form": _kpi_form(criteria) if can_report_kpi else None,
                "evidence": list(milestone.evidence.all()),
                "approvals": approvals,
                "reports": [_report_view(r) for r in reports_by_milestone.get(milestone.pk, [])],
                "actions": MILESTONES.actions_for(milestone, request.user, role_refusals=False),
                "release": release_status(milestone, [a for a in approvals if a.purpose == ApprovalPurpose.RELEASE])
                if milestone.status == MilestoneStatus.VERIFIED
                else None,
                "amend_form": _amend_form(milestone, bound_forms)
                if can_amend and milestone.status in milestone_services.AMENDABLE_STATUSES
                else None,
                "can_add_evidence": can_add_evidence
                and milestone.status
                in (MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS, MilestoneStatus.SUBMITTED, "disputed"),
            }
        )
    return views


def _escrow_form(request, parent):
    """The form that puts milestones in escrow, for those who may (owner, finance) where a stablecoin of the
    parent's currency is registered."""
    if not allowed(request, escrow_permissions.can_manage_escrow):
        return None
    tokens = tokens_for(parent=parent)
    return forms.EscrowAgreementForm(tokens=tokens) if tokens else None


def parent_context(request, parent, milestones: list, **bound_forms) -> dict:
    """What a grant's and an investment's pages share: money summary, milestone timeline, disbursements, escrow
    and chain records, budget lines, proof links of released milestones, the report card and the activity feed."""
    kind = parent._meta.model_name
    reports = selectors.latest_reports_by_milestone(user=request.user, milestone_ids=[m.pk for m in milestones])
    summary = funding_summary(parent)
    released = [m for m in milestones if m.status == MilestoneStatus.RELEASED and m.amount_disbursed < m.amount]
    return {
        kind: parent,
        "parent": parent,
        "parent_kind": kind,
        "summary": summary,
        "budget_chart": charts.budget_chart(
            **{k: summary[k] for k in ("currency", "budget", "committed", "released", "disbursed")}
        ),
        "timeline": milestone_views(request, milestones, reports_by_milestone=reports, bound_forms=bound_forms),
        "disbursements": list(selectors.disbursements_of(user=request.user, parent=parent)[:50]),
        "can_void": allowed(request, funding_permissions.can_void_disbursement),
        "void_form": bound_forms.get("void_form"),
        "void_for": bound_forms.get("void_for"),
        **selectors.escrow_of(parent=parent),
        "escrow_form": bound_forms.get("escrow_form") or _escrow_form(request, parent),
        "escrow_create_url": reverse(f"dashboard:{kind}_escrow_create", args=[parent.pk]),
        "can_manage": allowed(request, funding_permissions.can_manage_funding),
        "milestone_form": bound_forms.get("milestone_form") or forms.MilestoneCreateForm(),
        "milestone_create_url": reverse(f"dashboard:{kind}_milestone_create", args=[parent.pk]),
        "disbursement_form": bound_forms.get("disbursement_form")
        or (forms.DisbursementForm(milestones=released) if released else None),
        "disbursement_url": reverse(f"dashboard:{kind}_disbursement_record", args=[parent.pk]),
        "can_disburse": allowed(request, funding_permissions.can_record_disbursement),
        "evidence_form": bound_forms.get("evidence_form"),
        "evidence_for": bound_forms.get("evidence_for"),
        "action_error": bound_forms.get("action_error"),
        "page_size_form": forms.PageSizeForm(),
        "proof_links": proof_links_of_released(user=request.user, milestones=milestones),
        "can_share_proof": allowed(request, can_share_proof),
        **feed_context(request, kind, parent, milestones),
        "plan": plan_sections(parent=parent),
    }


def grant_context(request, grant, **bound_forms) -> dict:
    milestones = selectors.parent_milestones(parent=grant)
    can_status = allowed(request, funding_permissions.can_change_grant_status)
    shared = parent_context(request, grant, milestones, **bound_forms)
    return {
        **shared,
        "grant_actions": [a for a in GRANTS.actions_for(grant, request.user, role_refusals=False) if a.name != "award"],
        "can_award": can_status and "award" in GRANTS.allowed_actions(grant, request.user),
        "award_form": bound_forms.get("award_form") or forms.AwardForm(initial={"amount_awarded": grant.budget}),
        "report_async": len(milestones) > settings.REPORTS_SYNC_MAX_MILESTONES,
        "budget_work": budget_work_context(request, grant, shared["plan"], bound_forms.get("budget_forms")),
    }


def _grant(request, pk):
    return get_or_404(request, grant_get, pk=pk)


@org_view
def grant_detail(request, pk):
    grant = _grant(request, pk)
    return page(request, "dashboard/grant_detail.html", grant_context(request, grant), section="dashboard:grants")


def _grant_message(grant, action: str) -> str:
    said = f" The reason is on the record: “{grant.status_reason}”." if grant.status_reason else ""
    return f"Grant “{grant.title}” is now {grant.get_status_display().lower()}.{said}"


def _grant_refused(request, grant, form, status: int):
    award_form = form if form.data.get("action") == "award" else None
    context = grant_context(request, grant, award_form=award_form, action_error=form)
    return page(request, "dashboard/grant_detail.html", context, section="dashboard:grants", status=status)


@require_POST
@org_view
def grant_action(request, pk):
    return machine_action(
        request,
        machine=GRANTS,
        get=lambda: _grant(request, pk),
        service=lambda grant, **step: grant_services.grant_act(grant=grant, **step),
        message=_grant_message,
        done=lambda grant: reverse("dashboard:grant", args=[grant.pk]),
        refused=lambda grant, form, status: _grant_refused(request, grant, form, status),
    )


def detail_page(request, parent, *, status: int = 200, **bound_forms):
    """The grant's or the investment's page, with the forms a post brought back."""
    if parent._meta.model_name == "grant":
        context = grant_context(request, parent, **bound_forms)
        return page(request, "dashboard/grant_detail.html", context, section="dashboard:grants", status=status)
    context = investment_context(request, parent, **bound_forms)
    return page(request, "dashboard/investment_detail.html", context, section="dashboard:investments", status=status)


def _milestone_create(request, parent):
    form = forms.MilestoneCreateForm(request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data

        def create():
            milestone = milestone_services.milestone_create(
                parent=parent,
                by=request.user,
                title=data["title"],
                amount=data["amount"],
                due_date=data["due_date"],
                description=data["description"],
            )
            if data["criterion"]:
                milestone_services.criterion_add(
                    milestone=milestone, by=request.user, kind=CriterionKind.MANUAL, description=data["criterion"]
                )
            return milestone

        milestone, status = run_service(form, create)
        if milestone is not None:
            messages.success(request, f"Milestone “{milestone.title}” added.")
            return redirect(f"dashboard:{parent._meta.model_name}", pk=parent.pk)
    return detail_page(request, parent, status=status, milestone_form=form)


@require_POST
@org_view
def grant_milestone_create(request, pk):
    return _milestone_create(request, _grant(request, pk))


@require_POST
@org_view
def investment_milestone_create(request, pk):
    return _milestone_create(request, _investment(request, pk))


def _milestone(request, pk):
    return get_or_404(request, milestone_get, pk=pk)


def _parent_url(milestone) -> str:
    if milestone.grant_id:
        return reverse("dashboard:grant", args=[milestone.grant_id])
    return reverse("dashboard:investment", args=[milestone.investment_id])


def _back_to_parent(milestone, *, anchor: bool = False):
    url = _parent_url(milestone)
    return redirect(f"{url}#m-{milestone.pk}" if anchor else url)


def _parent_page(request, milestone, *, status: int, **bound_forms):
    if milestone.grant_id:
        return detail_page(request, _grant(request, milestone.grant_id), status=status, **bound_forms)
    return detail_page(request, _investment(request, milestone.investment_id), status=status, **bound_forms)


@require_POST
@org_view
def evidence_add(request, pk):
    milestone = _milestone(request, pk)
    form = forms.EvidenceForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        evidence, status = run_service(
            form,
            lambda: milestone_services.evidence_add(
                milestone=milestone,
                by=request.user,
                upload=form.cleaned_data["file"],
                description=form.cleaned_data["description"],
            ),
        )
        if evidence is not None:
            messages.success(request, f"Evidence “{evidence.original_name}” added (SHA-256 {evidence.sha256[:12]}…).")
            return _back_to_parent(milestone)
    return _parent_page(request, milestone, status=status, evidence_form=form, evidence_for=milestone.pk)


@require_POST
@org_view
def milestone_action(request, pk):
    return machine_action(
        request,
        machine=MILESTONES,
        get=lambda: _milestone(request, pk),
        service=lambda milestone, **step: milestone_services.milestone_act(milestone=milestone, **step),
        message=milestone_services.milestone_outcome,
        done=lambda milestone: f"{_parent_url(milestone)}#m-{milestone.pk}",
        refused=lambda milestone, form, status: _parent_page(request, milestone, status=status, action_error=form),
    )


@require_POST
@org_view
def milestone_amend(request, pk):
    """Amends the planned fields of a milestone not yet verified (`milestone_update`: audited with before and
    after, the budget and the period re-checked, an escrowed amount or deadline refused with its reason)."""
    milestone = _milestone(request, pk)
    form = forms.MilestoneAmendForm(request.POST, milestone=milestone, escrowed=held_in_escrow(milestone))
    status = 400
    if form.is_valid():
        changes = form.changes()
        if not changes:
            messages.info(request, f"Nothing changed on “{milestone.title}”.")
            return _back_to_parent(milestone, anchor=True)
        updated, status = run_service(
            form, lambda: milestone_services.milestone_update(milestone=milestone, by=request.user, **changes)
        )
        if updated is not None:
            names = ", ".join(str(form.fields[name].label).lower() for name in changes)
            messages.success(request, f"“{updated.title}” amended ({names}); the audit trail keeps what it was before.")
            return _back_to_parent(milestone, anchor=True)
    return _parent_page(request, milestone, status=status, amend_form=form, amend_for=milestone.pk, action_error=form)


@require_POST
@org_view
def criterion_approve(request, pk):
    try:
        criterion = criterion_get(user=request.user, pk=pk)
    except ApplicationError:
        raise Http404("Criterion not found.") from None
    milestone = _milestone(request, criterion.milestone_id)
    criterion.milestone = milestone
    form = forms.NoteForm(request.POST)
    form.is_valid()
    result, status = run_service(
        form,
        lambda: milestone_services.criterion_approve(
            criterion=criterion, by=request.user, note=form.cleaned_data.get("note", "")
        ),
    )
    if result is not None:
        messages.success(request, f"Criterion approved: {result.get_status_display().lower()}.")
        return _back_to_parent(milestone)
    return _parent_page(request, milestone, status=status, action_error=form)


@require_POST
@org_view
def kpi_reading_add(request, pk):
    """A KPI reading entered on a milestone's page (the organization's reading, which any KPI criterion reads)."""
    milestone = _milestone(request, pk)
    form = forms.KpiReadingForm(request.POST, prefix=f"kpi-{milestone.pk}")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        reading, status = run_service(
            form,
            lambda: kpi_services.kpi_reading_create(
                organization=milestone.organization,
                by=request.user,
                metric=data["metric"],
                value=data["value"],
                unit=data["unit"],
                period_start=data["period_start"],
                period_end=data["period_end"],
                source=data["source"],
                note=data["note"],
            ),
        )
        if reading is not None:
            messages.success(
                request,
                f"{reading.get_metric_display()} {reading.value.normalize():f} for "
                f"{reading.period_start:%-d %b %Y} to {reading.period_end:%-d %b %Y} recorded; "
                "the milestone's KPI criterion reads it when the milestone is verified.",
            )
            return _back_to_parent(milestone, anchor=True)
    return _parent_page(request, milestone, status=status, action_error=form)


@require_POST
@org_view
def criterion_evaluate(request, pk):
    """Evaluates a compute criterion now (instead of waiting for beat) and shows the report it gave."""
    try:
        criterion = criterion_get(user=request.user, pk=pk)
    except ApplicationError:
        raise Http404("Criterion not found.") from None
    milestone = _milestone(request, criterion.milestone_id)
    form = forms.NoteForm(request.POST)
    form.is_valid()
    report, status = run_service(form, lambda: criterion_verify(criterion=criterion, by=request.user))
    if report is not None:
        outcome = "passed" if report.passed else "did not pass"
        value = "no value" if report.value is None else f"value {report.value:.2f}"
        messages.success(
            request,
            f"Evaluated now: the criterion {outcome} ({value}, {report.devices_counted} device(s), "
            f"{report.window_start:%-d %b %Y %H:%M} to {report.window_end:%-d %b %Y %H:%M} UTC). "
            f"Report SHA-256 {report.sha256[:12]}….",
        )
        return _back_to_parent(milestone, anchor=True)
    return _parent_page(request, milestone, status=status, action_error=form)


def _disbursement_record(request, parent):
    milestones = [m for m in selectors.parent_milestones(parent=parent) if m.status == MilestoneStatus.RELEASED]
    form = forms.DisbursementForm(request.POST, milestones=milestones)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        milestone = next(m for m in milestones if str(m.pk) == data["milestone"])
        milestone.organization = parent.organization
        disbursement, status = run_service(
            form,
            lambda: disbursement_services.disbursement_record(
                milestone=milestone,
                by=request.user,
                amount=data["amount"],
                paid_on=data["paid_on"],
                reference=data["reference"],
            ),
        )
        if disbursement is not None:
            messages.success(request, f"Disbursement of {disbursement.amount} {disbursement.currency} recorded.")
            return redirect(f"dashboard:{parent._meta.model_name}", pk=parent.pk)
    return detail_page(request, parent, status=status, disbursement_form=form)


@require_POST
@org_view
def grant_disbursement_record(request, pk):
    return _disbursement_record(request, _grant(request, pk))


@require_POST
@org_view
def investment_disbursement_record(request, pk):
    return _disbursement_record(request, _investment(request, pk))


@require_POST
@org_view
def disbursement_void(request, pk):
    """Voids a disbursement recorded in error: a compensating entry of the opposite amount with the reason (both
    stay in the list; the totals come down and the amount is payable again)."""
    disbursement = get_or_404(request, disbursement_get, pk=pk)
    milestone = _milestone(request, disbursement.milestone_id)
    form = forms.ReasonForm(request.POST)
    status = 400
    if form.is_valid():
        void, status = run_service(
            form,
            lambda: disbursement_services.disbursement_void(
                disbursement=disbursement, by=request.user, reason=form.cleaned_data["reason"]
            ),
        )
        if void is not None:
            messages.success(
                request,
                f"The disbursement of {disbursement.amount} {disbursement.currency} paid on "
                f"{disbursement.paid_on:%-d %b %Y} is voided: an entry of {void.amount} {void.currency} stands "
                f"beside it, and “{milestone.title}” may be paid again.",
            )
            return redirect(f"{_parent_url(milestone)}#disbursements")
    return _parent_page(request, milestone, status=status, void_form=form, void_for=disbursement.pk)


# --- investments ----------------------------------------------------------------------------------------------------


INVESTMENT_COLUMNS = [
    Column("title", "Investment", "title", "title"),
    Column("investor", "Investor", "investor__name", "investor.name"),
    Column("instrument", "Instrument", "instrument", "instrument"),
    Column("status", "Status", "status", "status"),
    Column("committed", "Committed", "committed_amount", "committed_amount", css="num"),
    Column("disbursed", "Disbursed", "amount_disbursed", "amount_disbursed", css="num hide-small"),
]
INVESTMENT_EXPORT_ONLY = [
    Column("currency", "Currency", None, "currency"),
    Column("created", "Created", "created_at", "created_at"),
]


@org_view
def investments(request):
    filters = forms.InvestmentFilterForm(request.GET or None)
    values = filters.cleaned_data if filters.is_valid() else {}
    listing = list_page(
        request,
        selectors.investments_of_org(
            user=request.user, org=request.org, status=values.get("status"), instrument=values.get("instrument")
        ),
        columns=INVESTMENT_COLUMNS + INVESTMENT_EXPORT_ONLY,
        search=("title", "investor__name"),
        default_sort="-created",
        filename="investments",
    )
    if not isinstance(listing, dict):
        return listing
    listing["headers"] = listing["headers"][: len(INVESTMENT_COLUMNS)]
    rows = milestones_brief_attach(listing["rows"])
    context = {
        "investments": [{"investment": i, "summary": funding_summary(i)} for i in rows],
        "listing": listing,
        "filters": filters,
    }
    return page(request, "dashboard/investments.html", context, section="dashboard:investments")


def investment_context(request, investment, **bound_forms) -> dict:
    milestones = selectors.parent_milestones(parent=investment)
    return {
        **parent_context(request, investment, milestones, **bound_forms),
        "investment_actions": INVESTMENTS.actions_for(investment, request.user, role_refusals=False),
    }


def _investment(request, pk):
    return get_or_404(request, investment_get, pk=pk)


@org_view
def investment_detail(request, pk):
    investment = _investment(request, pk)
    context = investment_context(request, investment)
    return page(request, "dashboard/investment_detail.html", context, section="dashboard:investments")


@require_POST
@org_view
def investment_action(request, pk):
    investment = _investment(request, pk)
    action = request.POST.get("action", "")
    if action not in INVESTMENTS.by_name:
        raise Http404("Unknown action.")
    form = forms.NoteForm(request.POST)
    form.is_valid()
    result, status = run_service(
        form,
        lambda: investment_services.investment_act(
            investment=investment, by=request.user, action=action, text=form.cleaned_data.get("note", "")
        ),
    )
    if result is not None:
        messages.success(request, f"Investment is now {result.get_status_display().lower()}.")
        return redirect("dashboard:investment", pk=investment.pk)
    return detail_page(request, _investment(request, pk), status=status, action_error=form)
