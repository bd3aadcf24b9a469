"""This app's API routes, included under /api/ by govtrack/urls.py."""

from rest_framework.routers import SimpleRouter

from apps.compliance.api.views import (
    AssessmentEvidenceViewSet,
    ControlAssessmentViewSet,
    DpiaViewSet,
    FindingViewSet,
    FrameworkVersionViewSet,
    PrivacyAuditViewSet,
    ProcessingActivityViewSet,
    RemediationActionViewSet,
)

router = SimpleRouter()
router.register("framework-versions", FrameworkVersionViewSet, basename="framework-version")
router.register("privacy-audits", PrivacyAuditViewSet, basename="privacy-audit")
router.register("control-assessments", ControlAssessmentViewSet, basename="control-assessment")
router.register("assessment-evidence", AssessmentEvidenceViewSet, basename="assessment-evidence")
router.register("findings", FindingViewSet, basename="finding")
router.register("remediation-actions", RemediationActionViewSet, basename="remediation-action")
router.register("processing-activities", ProcessingActivityViewSet, basename="processing-activity")
router.register("dpias", DpiaViewSet, basename="dpia")

urlpatterns = router.urls
