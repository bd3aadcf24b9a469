"""What is waiting for me, comments on an object, and the organization's audit log with its verification."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.audit.verification import verify_chain
from apps.compliance.selectors import finding_get, privacy_audit_get
from apps.dashboard import forms
from apps.dashboard.activity import activity_for, audit_log, audit_log_choices
from apps.dashboard.context import org_view
from apps.dashboard.inbox import waiting_for
from apps.dashboard.permissions import can_read_audit_log
from apps.dashboard.services import comment_add
from apps.dashboard.views.common import allowed, get_or_404, page, run_service
from apps.funding.selectors import grant_get, investment_get
from apps.risks.selectors import risk_get
from apps.tenancy.selectors import membership_list

# What may be commented on from the dashboard: the kind in the URL -> (selector, page).
COMMENTABLE = {
    "grant": (grant_get, "dashboard:grant"),
    "investment": (investment_get, "dashboard:investment"),
    "audit": (privacy_audit_get, "dashboard:audit"),
    "finding": (finding_get, "dashboard:finding"),
    "risk": (risk_get, "dashboard:risk"),
}
AUDIT_LOG_PAGE_SIZE = 50


def feed_context(request, kind: str, obj, related=()) -> dict:
    """The activity feed of `obj` (and of the child rows named in `related`) with its comment form."""
    return {
        "activity": activity_for(user=request.user, org=request.org, objects=[obj, *related]),
        "comment_url": reverse("dashboard:comment_add", args=[kind, obj.pk]),
        "comment_form": forms.CommentForm(),
    }


@org_view
def inbox(request):
    items = waiting_for(user=request.user, org=request.org)
    return page(request, "dashboard/inbox.html", {"items": items}, section="dashboard:inbox")


@require_POST
@org_view
def comment_create(request, kind, pk):
    if kind not in COMMENTABLE:
        raise Http404("Nothing to comment on.")
    selector, page_name = COMMENTABLE[kind]
    obj = get_or_404(request, selector, pk=pk)
    form = forms.CommentForm(request.POST)
    if form.is_valid():
        comment, _status = run_service(
            form,
            lambda: comment_add(organization=request.org, obj=obj, by=request.user, body=form.cleaned_data["body"]),
        )
        if comment is not None:
            messages.success(request, "Comment added.")
            return redirect(f"{reverse(page_name, args=[obj.pk])}#activity-title")
    errors = " ".join(str(e) for errors in form.errors.values() for e in errors)
    messages.error(request, f"The comment was not added: {errors}")
    return redirect(f"{reverse(page_name, args=[obj.pk])}#activity-title")


@org_view
def audit_log_page(request):
    decision = can_read_audit_log(request.user, request.org)
    if not decision[0]:
        return page(request, "dashboard/refused.html", {"error": {"message": decision[1]}}, status=403)
    choices = audit_log_choices(user=request.user, org=request.org)
    members = list(membership_list(user=request.user, organization=request.org))
    filters = forms.AuditLogFilterForm(request.GET or None, choices=choices, memberships=members)
    values = filters.cleaned_data if filters.is_valid() else {}
    events = audit_log(
        user=request.user,
        org=request.org,
        action=values.get("action", ""),
        actor=values.get("actor", ""),
        object_type=values.get("object_type", ""),
        since=values.get("since"),
        until=values.get("until"),
    )
    paginator = Paginator(events, AUDIT_LOG_PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("verify", None)
    verification = verify_chain(str(request.org.pk)) if request.GET.get("verify") else None
    context = {
        "filters": filters,
        "page_obj": page_obj,
        "query": query.urlencode(),
        "verification": verification,
        "can_verify": allowed(request, can_read_audit_log),
    }
    return page(request, "dashboard/audit_log.html", context, section="dashboard:audit_log")
