"""Browser routes of the reports app, included by apps/dashboard/urls.py (namespace dashboard:reports)."""

from django.urls import path

from apps.reports import views

app_name = "reports"
urlpatterns = [
    path("grants/<uuid:pk>/report.pdf", views.grant_report_pdf, name="grant_pdf"),
    path("grants/<uuid:pk>/report/", views.grant_report_export, name="grant_export"),
    path("investments/<uuid:pk>/report.pdf", views.investment_report_pdf, name="investment_pdf"),
    path("reports/exports/<uuid:pk>/", views.export_status, name="export"),
    path("reports/exports/<uuid:pk>/download/", views.export_download, name="export_download"),
]
