import io

import pytest
import yaml
from django.core.management import call_command

from apps.audit.models import AuditEvent
from apps.compliance.models import AssessmentResult, AuditStatus, Control, Framework, FrameworkVersion
from apps.compliance.services.audits import (
    control_assessment_record,
    privacy_audit_close,
    privacy_audit_start_fieldwork,
    privacy_audit_start_reporting,
)
from apps.compliance.services.frameworks import FRAMEWORKS_DIR, framework_load
from apps.core.errors import Conflict, ValidationFailed

pytestmark = pytest.mark.django_db


def gdpr_document() -> dict:
    return yaml.safe_load((FRAMEWORKS_DIR / "gdpr.yaml").read_text(encoding="utf-8"))


def test_command_loads_every_shipped_framework_and_a_second_run_changes_nothing():
    out = io.StringIO()
    call_command("load_frameworks", stdout=out)
    assert "gdpr 2016-679.v1: created" in out.getvalue()
    assert set(Framework.objects.values_list("slug", flat=True)) == {"gdpr", "ccpa-cpra", "eu-ai-act"}
    gdpr = FrameworkVersion.objects.get(framework__slug="gdpr", is_current=True)
    refs = set(gdpr.controls.values_list("ref", flat=True))
    # The GDPR topics the compliance lead audits against.
    assert {"GDPR-6", "GDPR-30", "GDPR-35", "GDPR-32", "GDPR-33", "GDPR-15-22", "GDPR-37-39", "GDPR-44-49"} <= refs
    ai_sections = set(
        Control.objects.filter(framework_version__framework__slug="eu-ai-act").values_list("section", flat=True)
    )
    assert {"Risk classification", "Transparency", "Human oversight", "Data governance", "Logging"} <= ai_sections
    controls, events = Control.objects.count(), AuditEvent.objects.count()

    again = io.StringIO()
    call_command("load_frameworks", stdout=again)
    assert again.getvalue().count("unchanged") == 3
    assert (Control.objects.count(), AuditEvent.objects.count()) == (controls, events)


def test_changing_a_loaded_version_without_a_new_number_is_refused():
    doc = gdpr_document()
    framework_load(text=yaml.safe_dump(doc))
    doc["controls"][0]["text"] = "Something else entirely."
    with pytest.raises(Conflict, match="new version"):
        framework_load(text=yaml.safe_dump(doc))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("version"), "'version' is missing"),
        (lambda d: d["controls"].append(dict(d["controls"][0])), "appears twice"),
        (lambda d: d["controls"][1].update(weight=-1), "weight must be a positive number"),
        (lambda d: d["controls"][2].pop("article"), "lacks article"),
    ],
)
def test_bad_framework_files_are_refused_with_the_reason(mutate, message):
    doc = gdpr_document()
    mutate(doc)
    with pytest.raises(ValidationFailed, match=message):
        framework_load(text=yaml.safe_dump(doc), source="gdpr.yaml")
    assert not Framework.objects.exists()


def test_upgrade_keeps_assessments_of_unchanged_controls_and_leaves_closed_audits_alone(make_audit, officer, gdpr):
    closed = make_audit(title="GDPR 2025")
    privacy_audit_start_fieldwork(audit=closed, by=officer)
    for assessment in closed.assessments.all():
        control_assessment_record(assessment=assessment, by=officer, result=AssessmentResult.COMPLIANT)
    privacy_audit_start_reporting(audit=closed, by=officer)
    privacy_audit_close(audit=closed, by=officer)

    running = make_audit(title="GDPR 2026")
    privacy_audit_start_fieldwork(audit=running, by=officer)
    by_ref = {a.control.ref: a for a in running.assessments.select_related("control")}
    control_assessment_record(assessment=by_ref["GDPR-6"], by=officer, result="compliant", notes="bases documented")
    control_assessment_record(assessment=by_ref["GDPR-32"], by=officer, result="partially")
    control_assessment_record(assessment=by_ref["GDPR-33"], by=officer, result="non_compliant")
    control_assessment_record(assessment=by_ref["GDPR-9"], by=officer, result="not_applicable")

    doc = gdpr_document()
    doc["version"] = "2016-679.v2"
    controls = {c["ref"]: c for c in doc["controls"]}
    controls["GDPR-32"]["text"] += " Encryption keys are rotated yearly."  # changed requirement
    controls["GDPR-6"]["weight"] = 5  # weight only: the requirement is the same
    doc["controls"] = [c for c in doc["controls"] if c["ref"] != "GDPR-9"]  # removed
    doc["controls"].append(
        {
            "ref": "GDPR-22",
            "section": "Data subject rights",
            "article": "Art. 22",
            "title": "Automated decisions",
            "text": "People may contest decisions based solely on automated processing.",
        }
    )

    result = framework_load(text=yaml.safe_dump(doc), source="gdpr.yaml")

    assert result.outcome == "upgraded"
    assert result.audits_moved == [str(running.pk)]
    v2 = FrameworkVersion.objects.get(version="2016-679.v2")
    assert v2.is_current and not FrameworkVersion.objects.get(pk=gdpr.pk).is_current
    running.refresh_from_db()
    closed.refresh_from_db()
    assert running.framework_version == v2
    assert closed.framework_version == gdpr and closed.status == AuditStatus.CLOSED
    after = {a.control.ref: a for a in running.assessments.select_related("control")}
    assert set(after) == set(v2.controls.values_list("ref", flat=True))
    assert all(a.control.framework_version_id == v2.pk for a in after.values())
    assert (after["GDPR-6"].result, after["GDPR-6"].notes) == ("compliant", "bases documented")
    assert after["GDPR-33"].result == "non_compliant"
    assert after["GDPR-32"].result == "not_assessed"
    assert "earlier result was partially" in after["GDPR-32"].notes
    assert after["GDPR-22"].result == "not_assessed"
    assert "GDPR-9" not in after
    assert closed.assessments.filter(result="compliant").count() == gdpr.controls.count()
    event = AuditEvent.objects.get(action="privacy_audit.framework_upgraded")
    assert event.before["removed_controls"] == {"GDPR-9": "not_applicable"}
    assert event.after["framework_version"] == "2016-679.v2"
