"""The proof page: public, no account. The token in the address is the only key, and it shows one milestone. And the
dashboard's buttons that share and revoke links (owner or finance)."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from apps.core.errors import ApplicationError, NotFound
from apps.dashboard.context import org_view
from apps.dashboard.views.common import get_or_404
from apps.funding.selectors import milestone_get
from apps.proofs.selectors import Gone, proof_link_by_token, proof_link_get, proof_page_data, proof_url
from apps.proofs.services import proof_link_create, proof_link_revoke


def _link_or_answer(request, token: str):
    try:
        return proof_link_by_token(token=token), None
    except Gone as gone:
        return None, render(request, "proofs/gone.html", {"message": gone.message}, status=410)
    except NotFound:
        raise Http404("No proof at this address.") from None


@never_cache
@require_safe
def proof_page(request, token: str):
    link, answer = _link_or_answer(request, token)
    if answer is not None:
        return answer
    context = {**proof_page_data(link=link), "link": link, "url": proof_url(link)}
    response = render(request, "proofs/page.html", context)
    response["Referrer-Policy"] = "no-referrer"  # the token stays out of the Referer of outgoing links
    response["X-Robots-Tag"] = "noindex"
    return response


@never_cache
@require_safe
def proof_report(request, token: str):
    """The verification report as the exact canonical bytes govtrack stored (their SHA-256 is the report hash)."""
    link, answer = _link_or_answer(request, token)
    if answer is not None:
        return answer
    report = proof_page_data(link=link)["report"]
    if report is None:
        raise Http404("This milestone has no telemetry verification report.")
    response = HttpResponse(report.canonical_json.encode("utf-8"), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="verification-report-{report.sha256[:16]}.json"'
    response["X-Report-SHA256"] = report.sha256
    response["Referrer-Policy"] = "no-referrer"
    return response


# --- the organization's side: share and revoke from the grant or investment page ---------------------------------


def _back_to_parent(milestone):
    if milestone.grant_id:
        return redirect("dashboard:grant", pk=milestone.grant_id)
    return redirect("dashboard:investment", pk=milestone.investment_id)


@require_POST
@org_view
def proof_link_share(request, pk):
    milestone = get_or_404(request, milestone_get, pk=pk)
    try:
        link = proof_link_create(milestone=milestone, by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Proof link for “{milestone.title}”: {proof_url(link)}")
    return _back_to_parent(milestone)


@require_POST
@org_view
def proof_link_withdraw(request, pk):
    link = get_or_404(request, proof_link_get, pk=pk)
    try:
        proof_link_revoke(link=link, by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The proof link of “{link.milestone.title}” is revoked: its page now answers 410.")
    return _back_to_parent(link.milestone)
