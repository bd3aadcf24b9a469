from django.urls import include, path

from apps.dashboard.views import compliance, compute, economics, funding, overview, risks

app_name = "dashboard"
urlpatterns = [
    path("", overview.home, name="home"),
    path("organization/", overview.switch_organization, name="switch_organization"),
    path("grants/", funding.grants, name="grants"),
    path("grants/new/", funding.grant_create, name="grant_create"),
    path("grants/<uuid:pk>/", funding.grant_detail, name="grant"),
    path("grants/<uuid:pk>/status/", funding.grant_action, name="grant_action"),
    path("grants/<uuid:pk>/milestones/", funding.milestone_create, name="milestone_create"),
    path("grants/<uuid:pk>/disbursements/", funding.disbursement_record, name="disbursement_record"),
    path("milestones/<uuid:pk>/evidence/", funding.evidence_add, name="evidence_add"),
    path("milestones/<uuid:pk>/action/", funding.milestone_action, name="milestone_action"),
    path("criteria/<uuid:pk>/approve/", funding.criterion_approve, name="criterion_approve"),
    path("investments/", funding.investments, name="investments"),
    path("investments/<uuid:pk>/", funding.investment_detail, name="investment"),
    path("compute/", compute.compute, name="compute"),
    path("compute/utilization/", compute.utilization_partial, name="utilization"),
    path("compute/economics/", economics.economics, name="economics"),
    path("scorecard/", economics.scorecard, name="scorecard"),
    path("compliance/", compliance.compliance, name="compliance"),
    path("compliance/audits/<uuid:pk>/", compliance.audit_detail, name="audit"),
    path("compliance/audits/<uuid:pk>/action/", compliance.audit_action, name="audit_action"),
    path("compliance/assessments/<uuid:pk>/", compliance.assessment_record, name="assessment_record"),
    path("risks/", risks.risks, name="risks"),
    path("risks/<uuid:pk>/", risks.risk_detail, name="risk"),
    path("risks/<uuid:pk>/action/", risks.risk_action, name="risk_action"),
    path("", include("apps.reports.urls")),
]
