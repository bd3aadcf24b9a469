"""What every dashboard view shares: rendering a page of the current organization, and running a service."""

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from apps.core.errors import ApplicationError, NotFound
from apps.dashboard.forms import service_error_to_form

# A detail page lives at its object's address: shown in answer to a post elsewhere (an action, a form of its own),
# it names that address, and dashboard.js puts it back in the address bar in place of the POST endpoint.
DETAIL_PAGES = {
    "dashboard/audit_detail.html": ("audit", "dashboard:audit"),
    "dashboard/finding_detail.html": ("finding", "dashboard:finding"),
    "dashboard/risk_detail.html": ("risk", "dashboard:risk"),
    "dashboard/grant_detail.html": ("grant", "dashboard:grant"),
    "dashboard/investment_detail.html": ("investment", "dashboard:investment"),
}


def page(request, template: str, context: dict, *, section: str = "", status: int = 200):
    request.nav_section = section
    if request.method == "POST" and not getattr(request, "htmx", False) and template in DETAIL_PAGES:
        key, name = DETAIL_PAGES[template]
        context["canonical_url"] = reverse(name, args=[context[key].pk])
    return render(request, template, context, status=status)


def allowed(request, decision, *args) -> bool:
    """Whether the user's role in the current organization allows an action (to show it or not)."""
    return decision(request.user, request.org, *args)[0]


def in_current_org(obj):
    """An object of another of the user's organizations is not found here: every page shows one organization."""

    def check(request):
        if obj is None or obj.organization_id != request.org.pk:
            raise Http404("Not found in this organization.")
        return obj

    return check


def get_or_404(request, selector, **kwargs):
    try:
        obj = selector(user=request.user, **kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from None
    return in_current_org(obj)(request)


def run_service(form, call) -> tuple[object | None, int]:
    """Calls the service; an ApplicationError lands on the form. Returns (result, HTTP status for the page)."""
    try:
        return call(), 200
    except ApplicationError as error:
        service_error_to_form(form, error)
        return None, error.status_code
