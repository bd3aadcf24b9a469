"""The reports over the API: `GET /api/grants/{id}/report.pdf` and `GET /api/investments/{id}/report.pdf` (org-scoped:
another organization's is a 404). A large grant's report is built in the background: the answer is then 202 with the
export to poll."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from apps.core.api import error_responses
from apps.core.errors import NotFound
from apps.reports.models import ExportStatus, GrantReportExport, PageSize
from apps.reports.selectors import grant_for_report, grant_report_export_get, investment_for_report
from apps.reports.services import (
    grant_report_export_request,
    grant_report_render,
    investment_report_render,
    is_large,
)
from apps.reports.views import pdf_response


class PdfRenderer(BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class GrantReportExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = GrantReportExport
        fields = [
            "id",
            "grant",
            "status",
            "progress",
            "page_size",
            "data_sha256",
            "error",
            "created_at",
            "finished_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, export) -> str | None:
        if export.status != ExportStatus.DONE:
            return None
        return reverse("report-export-file", kwargs={"pk": export.pk}, request=self.context.get("request"))


class PdfOrJsonView(APIView):
    """PDF for a success; errors and statuses as the API's JSON whatever the Accept header asked for."""

    renderer_classes = [JSONRenderer, PdfRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


PAGE_SIZE_PARAM = OpenApiParameter(
    "page_size", str, enum=PageSize.values, description="Paper size (default A4).", required=False
)


class GrantReportPdfView(PdfOrJsonView):
    @extend_schema(
        operation_id="grants_report_pdf",
        summary="The grant's report as a PDF",
        parameters=[PAGE_SIZE_PARAM],
        responses={
            200: OpenApiResponse(OpenApiTypes.BINARY, description="The PDF (header X-Report-SHA256: the data hash)."),
            202: OpenApiResponse(GrantReportExportSerializer, description="A large grant: the export to poll."),
            **error_responses(400, 401, 404),
        },
    )
    def get(self, request, pk):
        grant = grant_for_report(user=request.user, pk=pk)
        page_size = request.query_params.get("page_size") or PageSize.A4
        if is_large(grant):
            export = grant_report_export_request(grant=grant, by=request.user, page_size=page_size)
            export.refresh_from_db()
            body = GrantReportExportSerializer(export, context={"request": request}).data
            return Response(
                body,
                status=202,
                headers={"Location": reverse("report-export", kwargs={"pk": export.pk}, request=request)},
            )
        return pdf_response(grant_report_render(grant=grant, by=request.user, page_size=page_size))


class InvestmentReportPdfView(PdfOrJsonView):
    @extend_schema(
        operation_id="investments_report_pdf",
        summary="The investment's report as a PDF",
        parameters=[PAGE_SIZE_PARAM],
        responses={
            200: OpenApiResponse(OpenApiTypes.BINARY, description="The PDF (header X-Report-SHA256: the data hash)."),
            **error_responses(400, 401, 404),
        },
    )
    def get(self, request, pk):
        investment = investment_for_report(user=request.user, pk=pk)
        page_size = request.query_params.get("page_size") or PageSize.A4
        return pdf_response(investment_report_render(investment=investment, by=request.user, page_size=page_size))


class GrantReportExportView(APIView):
    @extend_schema(
        operation_id="report_exports_retrieve",
        summary="A background grant report export: status and progress",
        description=(
            "Where a grant report PDF started in the background stands: `status`, `progress` and, once done, the "
            "`download_url` of the file. Poll it until `status` is done or failed."
        ),
        responses={200: GrantReportExportSerializer, **error_responses(401, 404)},
    )
    def get(self, request, pk):
        export = grant_report_export_get(user=request.user, pk=pk)
        return Response(GrantReportExportSerializer(export, context={"request": request}).data)


class GrantReportExportFileView(PdfOrJsonView):
    @extend_schema(
        operation_id="report_exports_file",
        summary="The finished export's PDF",
        responses={200: OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."), **error_responses(401, 404)},
    )
    def get(self, request, pk):
        export = grant_report_export_get(user=request.user, pk=pk)
        if export.status != ExportStatus.DONE or not export.file:
            raise NotFound("The report is not ready.")
        response = FileResponse(
            export.file.open("rb"),
            content_type="application/pdf",
            as_attachment=True,
            filename=f"grant-report-{export.grant_id}.pdf",
        )
        response["X-Report-SHA256"] = export.data_sha256
        return response
