"""The organization a browser session works in: chosen with the switcher, kept in the session, checked each request.

`org_view` puts `request.org`, `request.role` and `request.memberships` on the request; every dashboard page
shows only that organization's rows. `navigation` (a context processor) gives base.html the switcher and the
role-aware menu from those attributes, without a query of its own.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.tenancy.selectors import memberships_of

SESSION_KEY = "govtrack_org_id"


def current_membership(request):
    """The membership of the organization chosen in this session (the first one when none or a stale one is)."""
    memberships = list(memberships_of(user=request.user))
    chosen = request.session.get(SESSION_KEY)
    current = next((m for m in memberships if str(m.organization_id) == chosen), None)
    if current is None and memberships:
        current = memberships[0]
        request.session[SESSION_KEY] = str(current.organization_id)
    return current, memberships


def org_view(view):
    """A signed-in page of the current organization; a user with no organization sees a page that says so."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        current, memberships = current_membership(request)
        request.memberships = memberships
        if current is None:
            request.org, request.role = None, None
            return render(request, "dashboard/no_organization.html", status=403)
        request.org, request.role = current.organization, current.role
        # Seeds the per-request role cache the permission functions read, so they cost no query.
        request.user._govtrack_roles = {m.organization_id: m.role for m in memberships}
        return view(request, *args, **kwargs)

    return wrapper


# (url name, label, the roles that see it; None: everyone).
NAV = [
    ("dashboard:home", "Overview", None),
    ("dashboard:inbox", "Waiting for me", None),
    ("dashboard:grants", "Grants", None),
    ("dashboard:investments", "Investments", None),
    ("dashboard:compute", "Compute", None),
    ("dashboard:economics", "Compute economics", None),
    ("dashboard:scorecard", "Scorecard", None),
    ("dashboard:compliance", "Compliance", None),
    ("dashboard:risks", "Risks", None),
    ("dashboard:audit_log", "Audit log", {"owner", "compliance"}),
]


def navigation(request) -> dict:
    org = getattr(request, "org", None)
    if org is None:
        return {}
    return {
        "current_org": org,
        "current_role": request.role,
        "org_memberships": request.memberships,
        "nav_items": [item for item in NAV if item[2] is None or request.role in item[2]],
        "nav_section": getattr(request, "nav_section", ""),
    }
