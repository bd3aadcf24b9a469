"""What every dashboard view shares: rendering a page of the current organization, and running a service."""

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.core.errors import ApplicationError, NotFound
from apps.core.transitions import Machine
from apps.dashboard.forms import ActionParamsForm, service_error_to_form

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


def machine_action(
    request,
    *,
    machine: Machine,
    get: Callable[[], object],
    service: Callable[..., object],
    message: Callable[[object, str], str],
    done: Callable[[object], str],
    refused: Callable[[object, ActionParamsForm, int], object],
):
    """One state machine action posted from a page (every page's action buttons post here through their view).

    The action's name is checked against the machine's own table (anything else, or a step only govtrack takes, is
    a 404); its reason and parameters are parsed with `ActionParamsForm`; `service(obj, action=, by=, reason=,
    **params)` runs it. Success: post/redirect/get to `done(result)` with `message(result, action)`. Refused: the
    page again, from `refused(fresh object, form, status)`, with the service's reason and status."""
    obj = get()
    action = request.POST.get("action", "")
    if action not in machine.by_name or machine[action].system:
        raise Http404("Unknown action.")
    form = ActionParamsForm(request.POST)
    status = 400
    if form.is_valid():
        result, status = run_service(
            form,
            lambda: service(obj, action=action, by=request.user, reason=form.cleaned_data["note"], **form.params()),
        )
        if result is not None:
            messages.success(request, message(result, action))
            return redirect(done(result))
    return refused(get(), form, status)
