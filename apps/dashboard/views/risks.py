"""Risks: the heat map (inherent vs. residual), the register with filters, and updating a risk."""

from django.contrib import messages
from django.db.models import F
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.errors import NotFound
from apps.dashboard import forms, selectors
from apps.dashboard.context import org_view
from apps.dashboard.listing import Column, list_page, searched
from apps.dashboard.views.activity import feed_context
from apps.dashboard.views.common import allowed, get_or_404, machine_action, page, run_service
from apps.risks import permissions as risk_permissions
from apps.risks.machines import RISKS
from apps.risks.selectors import mitigation_get, mitigation_list, risk_get, risk_score_history
from apps.risks.services.risks import mitigation_create, mitigation_update, risk_act, risk_create, risk_update
from apps.tenancy.selectors import membership_list

RISK_FIELDS = [
    "title",
    "inherent_likelihood",
    "inherent_impact",
    "current_likelihood",
    "current_impact",
    "residual_likelihood",
    "residual_impact",
    "treatment",
    "due_date",
]


RISK_COLUMNS = [
    Column("ref", "Ref", "ref", "ref"),
    Column("title", "Risk", "title", "title"),
    Column("category", "Category", "category", "category", css="hide-small"),
    Column("status", "Status", "status", "status"),
    Column("inherent", "Inherent", "inherent_score", "inherent_score", css="num"),
    Column("residual", "Residual", "residual_score", "residual_score", css="num"),
    Column("owner", "Owner", "owner__username", "owner.username", css="hide-small"),
]
RISK_EXPORT_ONLY = [
    Column("register", "Register", None, "register.name"),
    Column("review", "Next review", None, "next_review_on"),
]


RISK_SEARCH = ("ref", "title", "description", "owner__username")


def _filters(request):
    registers = list(selectors.registers_of_org(user=request.user, org=request.org))
    categories = selectors.risk_categories_of_org(registers)
    form = forms.RiskFilterForm(request.GET or None, registers=registers, categories=categories)
    values = form.cleaned_data if form.is_valid() else {}
    return form, values


@org_view
def risks(request):
    form, values = _filters(request)
    filtered = searched(
        request,
        selectors.risks_of_org(
            user=request.user,
            org=request.org,
            register_id=values.get("register") or None,
            status=values.get("status") or None,
            category=values.get("category") or None,
        ).annotate(
            inherent_score=F("inherent_likelihood") * F("inherent_impact"),
            residual_score=F("residual_likelihood") * F("residual_impact"),
        ),
        RISK_SEARCH,
    )
    listing = list_page(
        request,
        filtered,
        columns=RISK_COLUMNS + RISK_EXPORT_ONLY,
        search=(),  # already searched: the heat map counts the same rows
        default_sort="-residual",
        filename="risks",
    )
    if not isinstance(listing, dict):
        return listing
    listing["headers"] = listing["headers"][: len(RISK_COLUMNS)]
    context = {
        "filters": form,
        # The heat map counts what the list shows: the same register, status, category and search.
        "heat_map": selectors.heat_map_for(
            user=request.user,
            org=request.org,
            register_id=values.get("register"),
            risks=filtered,
            include_closed=values.get("status") == "closed",
        ),
        "risks": listing["rows"],
        "listing": listing,
        "can_create": allowed(request, risk_permissions.can_create_risk),
    }
    template = "dashboard/partials/risks_body.html" if request.htmx else "dashboard/risks.html"
    return page(request, template, context, section="dashboard:risks")


def risk_context(request, risk, form, *, action_error=None, mitigation_form=None) -> dict:
    matrix = risk.register.matrix
    can_update = risk_permissions.can_update_risk(request.user, risk)[0]
    members = list(membership_list(user=request.user, organization=request.org)) if can_update else []
    return {
        "mitigations": list(mitigation_list(user=request.user).filter(risk=risk).order_by("due_date", "created_at")),
        "history": [
            {
                "snapshot": snap,
                "inherent": snap.inherent_likelihood * snap.inherent_impact,
                "current": snap.current_likelihood * snap.current_impact,
                "residual": snap.residual_likelihood * snap.residual_impact,
            }
            for snap in risk_score_history(risk=risk)
        ],
        "mitigation_form": mitigation_form or (forms.MitigationForm(memberships=members) if can_update else None),
        "mitigation_statuses": forms.MitigationStatusForm.base_fields["status"].choices,
        "risk": risk,
        "form": form,
        "can_update": risk_permissions.can_update_risk(request.user, risk)[0],
        "matrix": matrix,
        "levels": {
            stage: matrix.level_of(getattr(risk, f"{stage}_likelihood"), getattr(risk, f"{stage}_impact"))
            for stage in ("inherent", "current", "residual")
        },
        "risk_actions": RISKS.actions_for(risk, request.user, role_refusals=False),
        "action_error": action_error,
        **feed_context(request, "risk", risk),
    }


def _update_form(risk, data=None):
    return forms.RiskUpdateForm(data, initial={name: getattr(risk, name) for name in RISK_FIELDS})


@org_view
def risk_detail(request, pk):
    risk = get_or_404(request, risk_get, pk=pk)
    form = _update_form(risk, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changes = {name: form.cleaned_data[name] for name in RISK_FIELDS if name in form.changed_data}
            updated, status = run_service(form, lambda: risk_update(risk=risk, by=request.user, **changes))
            if updated is not None:
                messages.success(request, f"Risk {risk.ref} updated.")
                return redirect("dashboard:risk", pk=risk.pk)
        else:
            status = 400
    context = risk_context(request, risk, form)
    return page(request, "dashboard/risk_detail.html", context, section="dashboard:risks", status=status)


@require_POST
@org_view
def risk_action(request, pk):
    return machine_action(
        request,
        machine=RISKS,
        get=lambda: get_or_404(request, risk_get, pk=pk),
        service=lambda risk, **step: risk_act(risk=risk, **step),
        message=lambda risk, action: f"Risk {risk.ref} is now {risk.get_status_display().lower()}.",
        done=lambda risk: reverse("dashboard:risk", args=[risk.pk]),
        refused=lambda risk, form, status: page(
            request,
            "dashboard/risk_detail.html",
            risk_context(request, risk, _update_form(risk), action_error=form),
            section="dashboard:risks",
            status=status,
        ),
    )


@org_view
def risk_new(request):
    registers = list(selectors.registers_of_org(user=request.user, org=request.org))
    members = list(membership_list(user=request.user, organization=request.org))
    form = forms.RiskCreateForm(
        request.POST or None,
        registers=registers,
        categories=selectors.risk_categories_of_org(registers),
        memberships=members,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            register = next(r for r in registers if str(r.pk) == data["register"])
            risk, status = run_service(
                form,
                lambda: risk_create(
                    register=register,
                    by=request.user,
                    title=data["title"],
                    category=data["category"],
                    owner=data["owner"],
                    inherent_likelihood=data["inherent_likelihood"],
                    inherent_impact=data["inherent_impact"],
                    residual_likelihood=data["residual_likelihood"],
                    residual_impact=data["residual_impact"],
                    treatment=data["treatment"],
                    due_date=data["due_date"],
                    description=data["description"],
                ),
            )
            if risk is not None:
                messages.success(
                    request, f"Risk {risk.ref} recorded in {register.name}, owned by {risk.owner.username}."
                )
                return redirect("dashboard:risk", pk=risk.pk)
    context = {
        "form": form,
        "registers": registers,
        "can_create": allowed(request, risk_permissions.can_create_risk),
    }
    return page(request, "dashboard/risk_form.html", context, section="dashboard:risks", status=status)


@require_POST
@org_view
def mitigation_add(request, pk):
    risk = get_or_404(request, risk_get, pk=pk)
    members = list(membership_list(user=request.user, organization=request.org))
    form = forms.MitigationForm(request.POST, memberships=members)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        mitigation, status = run_service(
            form,
            lambda: mitigation_create(
                risk=risk, by=request.user, title=data["title"], owner=data["owner"], due_date=data["due_date"]
            ),
        )
        if mitigation is not None:
            messages.success(request, f"Mitigation added to {risk.ref}.")
            return redirect("dashboard:risk", pk=risk.pk)
    context = risk_context(request, risk, _update_form(risk), mitigation_form=form)
    return page(request, "dashboard/risk_detail.html", context, section="dashboard:risks", status=status)


@require_POST
@org_view
def mitigation_status(request, pk):
    try:
        mitigation = mitigation_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404("Mitigation not found.") from None
    risk = get_or_404(request, risk_get, pk=mitigation.risk_id)
    form = forms.MitigationStatusForm(request.POST)
    status = 400
    if form.is_valid():
        updated, status = run_service(
            form, lambda: mitigation_update(mitigation=mitigation, by=request.user, status=form.cleaned_data["status"])
        )
        if updated is not None:
            messages.success(request, f"Mitigation “{updated.title}” is now {updated.get_status_display().lower()}.")
            return redirect("dashboard:risk", pk=risk.pk)
    context = risk_context(request, risk, _update_form(risk), action_error=form)
    return page(request, "dashboard/risk_detail.html", context, section="dashboard:risks", status=status)
