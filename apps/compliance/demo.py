"""Demo data: the shipped frameworks, a planned GDPR audit and two records of processing. Idempotent."""

from django.utils import timezone

from apps.compliance.models import FrameworkVersion, PrivacyAudit, ProcessingActivity
from apps.compliance.services.audits import privacy_audit_create
from apps.compliance.services.frameworks import frameworks_load_directory
from apps.compliance.services.ropa import processing_activity_create
from apps.tenancy.models import Role

ACTIVITIES = [
    {
        "name": "Customer accounts and billing",
        "purpose": "Run customer accounts for GPU capacity and bill their usage.",
        "lawful_basis": "contract",
        "data_categories": ["contact details", "billing details", "usage records"],
        "data_subjects": ["customers' staff"],
        "recipients": ["payment processor", "accounting firm"],
        "transfers": ["US: standard contractual clauses"],
        "retention": "10 years after the last invoice (tax law)",
    },
    {
        "name": "Edge-device telemetry",
        "purpose": "Measure utilization of devices at customer sites to verify milestones and plan capacity.",
        "lawful_basis": "legitimate_interests",
        "data_categories": ["device identifiers", "site location", "operator usernames"],
        "data_subjects": ["customers' operators"],
        "recipients": ["grant officers (aggregates only)"],
        "retention": "raw samples 30 days, rollups 3 years",
    },
]


def seed(*, organization, users, stdout) -> None:
    for result in frameworks_load_directory():
        if result.outcome != "unchanged":
            stdout.write(f"  framework {result.slug} {result.version}: {result.outcome}")
    officer = users[Role.COMPLIANCE]
    gdpr = FrameworkVersion.objects.filter(framework__slug="gdpr", is_current=True).first()
    if gdpr is not None and not PrivacyAudit.objects.filter(organization=organization).exists():
        today = timezone.localdate()
        privacy_audit_create(
            organization=organization,
            framework_version=gdpr,
            title=f"GDPR readiness {today.year}",
            scope="Customer platform, telemetry pipeline, finance tools.",
            period_start=today.replace(month=1, day=1),
            period_end=today.replace(month=12, day=31),
            auditor=officer.username,
            by=officer,
        )
    for values in ACTIVITIES:
        if not ProcessingActivity.objects.filter(organization=organization, name=values["name"]).exists():
            processing_activity_create(organization=organization, by=officer, owner=officer.username, **values)
