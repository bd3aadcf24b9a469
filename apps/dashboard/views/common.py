"""What every dashboard view shares: rendering a page of the current organization, and running a service."""

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from apps.core.errors import ApplicationError, NotFound
from apps.dashboard.forms import service_error_to_form

# The page a refused post is shown on, by the object in its context: the browser's address bar is set back to it.
CANONICAL_PAGES = (
    ("finding", "dashboard:finding"),
    ("audit", "dashboard:audit"),
    ("risk", "dashboard:risk"),
    ("grant", "dashboard:grant"),
    ("investment", "dashboard:investment"),
)


def page(request, template: str, context: dict, *, section: str = "", status: int = 200):
    request.nav_section = section
    if request.method == "POST" and not getattr(request, "htmx", False):
        # A post answered with its errors (not redirected) would leave the POST endpoint in the address bar;
        # dashboard.js replaces it with the page's own address, so a reload or a bookmark shows the page.
        context["canonical_url"] = canonical_url(request, context, section)
    return render(request, template, context, status=status)


def canonical_url(request, context: dict, section: str) -> str:
    for key, name in CANONICAL_PAGES:
        obj = context.get(key)
        if obj is not None and getattr(obj, "pk", None) is not None:
            return reverse(name, args=[obj.pk])
    return reverse(section) if section else request.path


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
