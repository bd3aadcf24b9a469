"""The grant and investment reports in the browser: download one now, or follow a background export."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.core.errors import ApplicationError, NotFound
from apps.dashboard.context import org_view
from apps.dashboard.forms import PageSizeForm
from apps.dashboard.views.common import get_or_404, page
from apps.reports.models import ExportStatus
from apps.reports.selectors import grant_for_report, grant_report_export_get, investment_for_report
from apps.reports.services import (
    grant_report_export_request,
    grant_report_render,
    investment_report_render,
    is_large,
)


def _page_size(request, data) -> str:
    form = PageSizeForm(data)
    return (form.cleaned_data.get("page_size") if form.is_valid() else "") or "A4"


def pdf_response(rendered) -> HttpResponse:
    response = HttpResponse(rendered.pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{rendered.filename}"'
    response["X-Report-SHA256"] = rendered.data_sha256
    return response


@org_view
def grant_report_pdf(request, pk):
    grant = get_or_404(request, grant_for_report, pk=pk)
    if is_large(grant):
        messages.info(request, "This grant has many milestones: its report is built in the background.")
        return redirect("dashboard:grant", pk=grant.pk)
    try:
        rendered = grant_report_render(grant=grant, by=request.user, page_size=_page_size(request, request.GET))
    except ApplicationError as error:
        return page(request, "dashboard/refused.html", {"error": error}, status=error.status_code)
    return pdf_response(rendered)


@org_view
def investment_report_pdf(request, pk):
    investment = get_or_404(request, investment_for_report, pk=pk)
    try:
        rendered = investment_report_render(
            investment=investment, by=request.user, page_size=_page_size(request, request.GET)
        )
    except ApplicationError as error:
        return page(request, "dashboard/refused.html", {"error": error}, status=error.status_code)
    return pdf_response(rendered)


@require_POST
@org_view
def grant_report_export(request, pk):
    grant = get_or_404(request, grant_for_report, pk=pk)
    try:
        export = grant_report_export_request(grant=grant, by=request.user, page_size=_page_size(request, request.POST))
    except ApplicationError as error:
        return page(request, "dashboard/refused.html", {"error": error}, status=error.status_code)
    return redirect("dashboard:reports:export", pk=export.pk)


def _export(request, pk):
    try:
        export = grant_report_export_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404("Export not found.") from None
    if export.organization_id != request.org.pk:
        raise Http404("Export not found in this organization.")
    return export


@org_view
def export_status(request, pk):
    """The export's progress; htmx polls the partial every second until it is done or failed."""
    export = _export(request, pk)
    context = {"export": export, "finished": export.status in (ExportStatus.DONE, ExportStatus.FAILED)}
    template = "reports/partials/export_status.html" if request.htmx else "reports/export.html"
    return page(request, template, context, section="dashboard:grants")


@org_view
def export_download(request, pk):
    export = _export(request, pk)
    if export.status != ExportStatus.DONE or not export.file:
        raise Http404("The report is not ready.")
    response = FileResponse(
        export.file.open("rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=f"grant-report-{export.grant_id}.pdf",
    )
    response["X-Report-SHA256"] = export.data_sha256
    return response
