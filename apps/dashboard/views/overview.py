"""The overview: the organization's money, deadlines, compliance, risks and fleet at a glance."""

from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.dashboard import charts, selectors
from apps.dashboard.context import SESSION_KEY, current_membership, org_view
from apps.dashboard.inbox import waiting_for
from apps.dashboard.views.common import page


@org_view
def home(request):
    user, org = request.user, request.org
    utilization = selectors.fleet_utilization(user=user, org=org, range_key="24h")
    context = {
        "pipeline": selectors.funding_pipeline(user=user, org=org),
        "money": selectors.money_flow(user=user, org=org),
        "due": selectors.milestones_due(user=user, org=org),
        "compliance": selectors.compliance_scores(user=user, org=org),
        "heat_map": selectors.heat_map_for(user=user, org=org, register_id=request.GET.get("register")),
        "utilization": utilization,
        "utilization_chart": charts.utilization_chart(**_chart_args(utilization)),
        "chain_pending": selectors.pending_chain_transactions(org=org),
        "waiting": waiting_for(user=user, org=org),
    }
    return page(request, "dashboard/home.html", context, section="dashboard:home")


def _chart_args(utilization: dict) -> dict:
    return {
        "series": utilization["series"],
        "start": utilization["start"],
        "end": utilization["end"],
        "range_key": utilization["range"],
    }


@require_POST
@org_view
def switch_organization(request):
    """Keeps the chosen organization in the session; an organization the user is not a member of is ignored."""
    wanted = request.POST.get("organization", "")
    if any(str(m.organization_id) == wanted for m in request.memberships):
        request.session[SESSION_KEY] = wanted
    else:
        current_membership(request)
    # The overview, not the page the switch was made on: that page's object belongs to the other organization.
    return redirect("dashboard:home")
