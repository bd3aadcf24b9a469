"""API routes of the reports app; govtrack/urls.py includes them with the rest of the API (/api/v1/)."""

from django.urls import path

from apps.reports import api

urlpatterns = [
    path("grants/<uuid:pk>/report.pdf", api.GrantReportPdfView.as_view(), name="grant-report-pdf"),
    path("investments/<uuid:pk>/report.pdf", api.InvestmentReportPdfView.as_view(), name="investment-report-pdf"),
    path("report-exports/<uuid:pk>/", api.GrantReportExportView.as_view(), name="report-export"),
    path("report-exports/<uuid:pk>/file", api.GrantReportExportFileView.as_view(), name="report-export-file"),
]
