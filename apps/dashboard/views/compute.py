"""Compute: sources and their health, devices, and utilization charts over a chosen range."""

from apps.dashboard import charts, forms, selectors
from apps.dashboard.context import org_view
from apps.dashboard.views.common import page


def _utilization(request, devices) -> dict:
    form = forms.UtilizationRangeForm(request.GET or None, devices=devices)
    range_key, device_id = "24h", None
    if form.is_valid():
        range_key = form.cleaned_data.get("range") or "24h"
        device_id = form.cleaned_data.get("device") or None
    utilization = selectors.fleet_utilization(
        user=request.user, org=request.org, range_key=range_key, device_id=device_id
    )
    chart = charts.utilization_chart(
        series=utilization["series"], start=utilization["start"], end=utilization["end"], range_key=utilization["range"]
    )
    return {"range_form": form, "utilization": utilization, "utilization_chart": chart}


@org_view
def compute(request):
    overview = selectors.compute_overview(user=request.user, org=request.org)
    context = {**overview, **_utilization(request, overview["devices"])}
    # The range form asks this page with htmx: the chart alone comes back, and the range stays in the URL.
    template = "dashboard/partials/utilization.html" if request.htmx else "dashboard/compute.html"
    return page(request, template, context, section="dashboard:compute")


@org_view
def utilization_partial(request):
    """The chart alone, for htmx when the range or the device changes (the full page does the same without JS)."""
    devices = selectors.compute_overview(user=request.user, org=request.org)["devices"]
    return page(
        request, "dashboard/partials/utilization.html", _utilization(request, devices), section="dashboard:compute"
    )
