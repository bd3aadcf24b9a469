"""Risks: the heat map (inherent vs. residual), the register with filters, and updating a risk."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.dashboard import forms, selectors
from apps.dashboard.context import org_view
from apps.dashboard.views.activity import feed_context
from apps.dashboard.views.common import get_or_404, page, run_service
from apps.risks import permissions as risk_permissions
from apps.risks.machines import RISKS
from apps.risks.selectors import risk_get
from apps.risks.services.risks import risk_act, risk_update

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


def _filters(request):
    registers = list(selectors.registers_of_org(user=request.user, org=request.org))
    form = forms.RiskFilterForm(request.GET or None, registers=registers)
    values = form.cleaned_data if form.is_valid() else {}
    return form, values


@org_view
def risks(request):
    form, values = _filters(request)
    context = {
        "filters": form,
        "heat_map": selectors.heat_map_for(user=request.user, org=request.org, register_id=values.get("register")),
        "risks": list(
            selectors.risks_of_org(
                user=request.user,
                org=request.org,
                register_id=values.get("register") or None,
                status=values.get("status") or None,
                category=values.get("category") or None,
            )[:200]
        ),
    }
    template = "dashboard/partials/risks_body.html" if request.htmx else "dashboard/risks.html"
    return page(request, template, context, section="dashboard:risks")


def risk_context(request, risk, form, *, action_error=None) -> dict:
    matrix = risk.register.matrix
    return {
        "risk": risk,
        "form": form,
        "can_update": risk_permissions.can_update_risk(request.user, risk)[0],
        "matrix": matrix,
        "levels": {
            stage: matrix.level_of(getattr(risk, f"{stage}_likelihood"), getattr(risk, f"{stage}_impact"))
            for stage in ("inherent", "current", "residual")
        },
        # Accepting needs an expiry date: it is taken through the API (POST /api/risks/{id}/accept/).
        "risk_actions": [a for a in RISKS.actions_for(risk, request.user, role_refusals=False) if a.name != "accept"],
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
    risk = get_or_404(request, risk_get, pk=pk)
    action = request.POST.get("action", "")
    if action not in RISKS.by_name:
        raise Http404("Unknown action.")
    note = forms.NoteForm(request.POST)
    note.is_valid()
    result, status = run_service(
        note, lambda: risk_act(risk=risk, by=request.user, action=action, text=note.cleaned_data.get("note", ""))
    )
    if result is not None:
        messages.success(request, f"Risk {result.ref} is now {result.get_status_display().lower()}.")
        return redirect("dashboard:risk", pk=risk.pk)
    risk = get_or_404(request, risk_get, pk=pk)
    context = risk_context(request, risk, _update_form(risk), action_error=note)
    return page(request, "dashboard/risk_detail.html", context, section="dashboard:risks", status=status)
