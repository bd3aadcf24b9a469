"""This app's API routes, included under /api/ by govtrack/urls.py."""

from rest_framework.routers import SimpleRouter

from apps.funding.api import budget, views

router = SimpleRouter()
router.register("funders", views.FunderViewSet, basename="funder")
router.register("grants", views.GrantViewSet, basename="grant")
router.register("grant-reports", views.GrantReportViewSet, basename="grant-report")
router.register("grant-requirements", views.GrantRequirementViewSet, basename="grant-requirement")
router.register("investments", views.InvestmentViewSet, basename="investment")
router.register("investment-criteria", views.EthicalCriterionViewSet, basename="investment-criterion")
router.register("milestones", views.MilestoneViewSet, basename="milestone")
router.register("milestone-criteria", views.CriterionViewSet, basename="milestone-criterion")
router.register("evidence", views.EvidenceViewSet, basename="evidence")
router.register("disbursements", views.DisbursementViewSet, basename="disbursement")
router.register("kpi-readings", views.KpiReadingViewSet, basename="kpi-reading")
router.register("funding-policies", views.OrganizationPolicyViewSet, basename="funding-policy")
router.register("budget-lines", budget.BudgetLineViewSet, basename="budget-line")
router.register("expenses", budget.ExpenseViewSet, basename="expense")
router.register("budget-amendments", budget.BudgetAmendmentViewSet, basename="budget-amendment")
router.register("reporting-periods", budget.ReportingPeriodViewSet, basename="reporting-period")
router.register("period-attachments", budget.PeriodAttachmentViewSet, basename="period-attachment")

urlpatterns = router.urls
