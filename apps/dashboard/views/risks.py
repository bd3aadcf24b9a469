"""Risks: the heat map (inherent vs. residual), the register with filters, and updating a risk."""

from django.contrib import messages
from django.shortcuts import redirect

from apps.dashboard import forms, selectors
from apps.dashboard.context import org_view
from apps.dashboard.views.common import get_or_404, page, run_service
from apps.risks import permissions as risk_permissions
from apps.risks.selectors import risk_get
from apps.risks.services.risks import risk_update

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


@org_view
def risk_detail(request, pk):
    risk = get_or_404(request, risk_get, pk=pk)
    can_update = risk_permissions.can_update_risk(request.user, risk)[0]
    form = forms.RiskUpdateForm(request.POST or None, initial={name: getattr(risk, name) for name in RISK_FIELDS})
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
    matrix = risk.register.matrix
    context = {
        "risk": risk,
        "form": form,
        "can_update": can_update,
        "matrix": matrix,
        "levels": {
            stage: matrix.level_of(getattr(risk, f"{stage}_likelihood"), getattr(risk, f"{stage}_impact"))
            for stage in ("inherent", "current", "residual")
        },
    }
    return page(request, "dashboard/risk_detail.html", context, section="dashboard:risks", status=status)
