"""Compute economics (the cost trend and the biggest idle costs) and the scorecard with the scaling roadmap."""

from apps.dashboard import charts
from apps.dashboard.context import org_view
from apps.dashboard.views.common import page
from apps.economics import selectors
from apps.economics.costing import compute_economics

RANGES = {"7d": 7, "30d": 30, "90d": 90}


@org_view
def economics(request):
    range_key = request.GET.get("range") if request.GET.get("range") in RANGES else "30d"
    start, end = selectors.economics_window(days=RANGES[range_key])
    report = compute_economics(organization=request.org, start=start, end=end)
    currency = report["currencies"][0] if len(report["currencies"]) == 1 else ""
    context = {
        "report": report,
        "currency": currency,
        "range_key": range_key,
        "ranges": list(RANGES),
        "trend_chart": charts.cost_trend_chart(days=report["trend"], currency=currency) if report["trend"] else "",
        "rate_cards": list(selectors.rate_card_list(user=request.user).filter(organization=request.org)),
    }
    return page(request, "dashboard/economics.html", context, section="dashboard:economics")


@org_view
def scorecard(request):
    phases = selectors.roadmap_phase_list(user=request.user).filter(organization=request.org)
    context = {"rows": selectors.scorecard(organization=request.org), "phases": list(phases)}
    return page(request, "dashboard/scorecard.html", context, section="dashboard:scorecard")
