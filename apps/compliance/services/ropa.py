"""Records of processing activities and DPIAs."""

from django.db import transaction

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.compliance import permissions
from apps.compliance.models import (
    Dpia,
    DpiaStatus,
    LawfulBasis,
    PrivacyAudit,
    ProcessingActivity,
    ProcessingRole,
)
from apps.compliance.services.common import member_by_username
from apps.core.errors import ValidationFailed
from apps.tenancy.models import Organization
from apps.tenancy.services import require

ACTIVITY_FIELDS = (
    "name",
    "purpose",
    "role",
    "lawful_basis",
    "data_categories",
    "special_categories",
    "data_subjects",
    "recipients",
    "transfers",
    "retention",
    "owner",
)
LIST_FIELDS = ("data_categories", "data_subjects", "recipients", "transfers")


def clean_activity_values(organization: Organization, values: dict) -> dict:
    """Checks one activity's values; the error names the field. Owner arrives as a username."""
    cleaned = dict(values)
    for name in ("name", "purpose", "retention"):
        cleaned[name] = (cleaned.get(name) or "").strip()
        if not cleaned[name]:
            raise ValidationFailed.for_field(name, "This field is required.")
    if cleaned.get("role", ProcessingRole.CONTROLLER) not in ProcessingRole.values:
        raise ValidationFailed.for_field("role", f"Choose one of: {', '.join(ProcessingRole.values)}.")
    if cleaned.get("lawful_basis") not in LawfulBasis.values:
        raise ValidationFailed.for_field("lawful_basis", f"Choose one of: {', '.join(LawfulBasis.values)}.")
    for name in LIST_FIELDS:
        items = cleaned.get(name) or []
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ValidationFailed.for_field(name, "Give a list of short texts.")
        items = [item.strip() for item in items if item.strip()]
        if any(";" in item for item in items):
            raise ValidationFailed.for_field(name, "An item cannot contain ';' (it separates items in CSV files).")
        cleaned[name] = items
    if not cleaned["data_categories"]:
        raise ValidationFailed.for_field("data_categories", "Name at least one category of personal data.")
    if not cleaned["data_subjects"]:
        raise ValidationFailed.for_field("data_subjects", "Name at least one category of data subjects.")
    owner = cleaned.get("owner")
    if owner is None or isinstance(owner, str):
        cleaned["owner"] = member_by_username(organization, owner, field="owner", required=False)
    cleaned.setdefault("role", ProcessingRole.CONTROLLER)
    cleaned.setdefault("special_categories", False)
    return cleaned


def _audits_of(organization: Organization, audits: list[PrivacyAudit] | None) -> list[PrivacyAudit] | None:
    if audits is None:
        return None
    if any(audit.organization_id != organization.pk for audit in audits):
        raise ValidationFailed.for_field("audits", "Link only audits of the same organization.")
    return audits


def processing_activity_create(
    *, organization: Organization, by, audits: list[PrivacyAudit] | None = None, **values
) -> ProcessingActivity:
    require(permissions.can_manage_ropa(by, organization))
    cleaned = clean_activity_values(organization, values)
    audits = _audits_of(organization, audits)
    if ProcessingActivity.objects.filter(organization=organization, name=cleaned["name"]).exists():
        raise ValidationFailed.for_field("name", f"{organization.name} already records '{cleaned['name']}'.")
    with transaction.atomic():
        activity = ProcessingActivity.objects.create(organization=organization, **cleaned)
        if audits:
            activity.audits.set(audits)
        audit_record(
            action="processing_activity.created",
            actor=by,
            organization=organization,
            obj=activity,
            after=snapshot(activity, ACTIVITY_FIELDS) | {"audits": [str(a.pk) for a in audits or []]},
        )
    return activity


def processing_activity_update(
    *, activity: ProcessingActivity, by, audits: list[PrivacyAudit] | None = None, **changes
) -> ProcessingActivity:
    organization = activity.organization
    require(permissions.can_manage_ropa(by, organization))
    unknown = set(changes) - set(ACTIVITY_FIELDS)
    if unknown:
        raise ValidationFailed.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    current = {name: getattr(activity, name) for name in ACTIVITY_FIELDS}
    cleaned = clean_activity_values(organization, current | changes)
    audits = _audits_of(organization, audits)
    duplicate = ProcessingActivity.objects.filter(organization=organization, name=cleaned["name"])
    if duplicate.exclude(pk=activity.pk).exists():
        raise ValidationFailed.for_field("name", f"{organization.name} already records '{cleaned['name']}'.")
    with transaction.atomic():
        activity = ProcessingActivity.objects.select_for_update().get(pk=activity.pk)
        before = snapshot(activity, ACTIVITY_FIELDS)
        old_audits = sorted(str(pk) for pk in activity.audits.values_list("pk", flat=True))
        for name in ACTIVITY_FIELDS:
            setattr(activity, name, cleaned[name])
        before, after = changed_fields(before, snapshot(activity, ACTIVITY_FIELDS))
        if audits is not None:
            new_audits = sorted(str(a.pk) for a in audits)
            if new_audits != old_audits:
                activity.audits.set(audits)
                before["audits"], after["audits"] = old_audits, new_audits
        if after:
            activity.save(update_fields=[*ACTIVITY_FIELDS, "updated_at"])
            audit_record(
                action="processing_activity.updated",
                actor=by,
                organization=organization,
                obj=activity,
                before=before,
                after=after,
            )
    return activity


DPIA_FIELDS = ("title", "status", "high_residual_risk", "conclusion", "completed_on")


def _check_dpia(values: dict) -> None:
    if not (values.get("title") or "").strip():
        raise ValidationFailed.for_field("title", "A DPIA needs a title.")
    if values.get("status", DpiaStatus.DRAFT) not in DpiaStatus.values:
        raise ValidationFailed.for_field("status", f"Choose one of: {', '.join(DpiaStatus.values)}.")
    if values.get("status") == DpiaStatus.APPROVED and not (values.get("conclusion") or "").strip():
        raise ValidationFailed.for_field("conclusion", "An approved DPIA states its conclusion.")


def dpia_create(*, activity: ProcessingActivity, by, **values) -> Dpia:
    organization = activity.organization
    require(permissions.can_manage_ropa(by, organization))
    _check_dpia(values)
    with transaction.atomic():
        dpia = Dpia.objects.create(organization=organization, processing_activity=activity, **values)
        audit_record(
            action="dpia.created",
            actor=by,
            organization=organization,
            obj=dpia,
            after=snapshot(dpia, ["processing_activity", *DPIA_FIELDS]),
        )
    return dpia


def dpia_update(*, dpia: Dpia, by, **changes) -> Dpia:
    require(permissions.can_manage_ropa(by, dpia.organization))
    unknown = set(changes) - set(DPIA_FIELDS)
    if unknown:
        raise ValidationFailed.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    _check_dpia({name: getattr(dpia, name) for name in DPIA_FIELDS} | changes)
    with transaction.atomic():
        dpia = Dpia.objects.select_for_update().get(pk=dpia.pk)
        before = snapshot(dpia, DPIA_FIELDS)
        for name, value in changes.items():
            setattr(dpia, name, value)
        before, after = changed_fields(before, snapshot(dpia, DPIA_FIELDS))
        if after:
            dpia.save(update_fields=[*changes, "updated_at"])
            audit_record(
                action="dpia.updated", actor=by, organization=dpia.organization, obj=dpia, before=before, after=after
            )
    return dpia
