"""The proof page: public, no account. The token in the address is the only key, and it shows one milestone."""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from apps.core.errors import NotFound
from apps.proofs.selectors import Gone, proof_link_by_token, proof_page_data, proof_url


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
