"""Importing findings and records of processing from CSV or XLSX (the files the exports write).

All or nothing: every row is checked first; any bad row means a 400 listing each bad row (line, field,
message) and nothing written. A row whose key (finding ref, activity name) exists is an update, else a new
row, so re-importing an export changes nothing. Status is not a free field: a new finding may start open or
remediating, and an existing one's status must match (transitions have their own endpoints and checks).
"""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.compliance import permissions
from apps.compliance.models import (
    ACTIVE_FINDING_STATUSES,
    Finding,
    FindingStatus,
    PrivacyAudit,
    ProcessingActivity,
    Severity,
)
from apps.compliance.services.findings import FINDING_EDITABLE, next_ref
from apps.compliance.services.ropa import ACTIVITY_FIELDS, clean_activity_values
from apps.core.errors import ValidationFailed
from apps.core.tabular import RowError, import_failed, read_table, split_list
from apps.tenancy.models import Membership, Organization
from apps.tenancy.services import require

FINDING_COLUMNS = ("ref", "title", "description", "severity", "status", "owner", "due_date", "control")
FINDING_REQUIRED = ("title", "severity", "owner", "due_date")
ACTIVITY_COLUMNS = ACTIVITY_FIELDS
ACTIVITY_REQUIRED = ("name", "purpose", "lawful_basis", "data_categories", "data_subjects", "retention")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def members_by_username(organization: Organization) -> dict:
    return {
        m.user.username: m.user for m in Membership.objects.filter(organization=organization).select_related("user")
    }


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(f"'{text}' is not a date (YYYY-MM-DD).") from None


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no", ""}:
        return False
    raise ValidationFailed(f"'{text}' is not true or false.")


class RowChecker:
    """Collects the errors of one import, each with its line and field."""

    def __init__(self):
        self.errors: list[RowError] = []

    def add(self, line: int, field: str, message: str) -> None:
        self.errors.append(RowError(line, field, message))

    def parse(self, line: int, field: str, func, text: str):
        try:
            return func(text)
        except ValidationFailed as exc:
            self.add(line, field, exc.message)
            return None

    def service_check(self, line: int, func, *args) -> object | None:
        """Runs a service's own validation on a row, turning its ValidationFailed into a row error."""
        try:
            return func(*args)
        except ValidationFailed as exc:
            fields = exc.extra.get("fields") or {"": [exc.message]}
            for field, messages in fields.items():
                for message in messages:
                    self.add(line, field, message)
            return None


def findings_import(*, audit: PrivacyAudit, upload, by) -> ImportResult:
    organization = audit.organization
    require(permissions.can_manage_findings(by, organization))
    records = read_table(upload, required=FINDING_REQUIRED, known=FINDING_COLUMNS)
    checker = RowChecker()
    members = members_by_username(organization)
    controls = {c.ref: c for c in audit.framework_version.controls.all()}
    existing = {f.ref: f for f in Finding.objects.filter(organization=organization)}
    seen: dict[str, int] = {}
    plans = []
    for line, row in records:
        before_count = len(checker.errors)
        ref = row.get("ref", "")
        if ref and ref in seen:
            checker.add(line, "ref", f"{ref} is also on line {seen[ref]}.")
        if ref:
            seen.setdefault(ref, line)
        title = row.get("title", "")
        if not title:
            checker.add(line, "title", "A finding needs a title.")
        if row["severity"] not in Severity.values:
            checker.add(line, "severity", f"'{row['severity']}' is not one of: {', '.join(Severity.values)}.")
        owner = members.get(row["owner"])
        if owner is None:
            checker.add(line, "owner", f"'{row['owner']}' is not a member of {organization.name}.")
        due_date = checker.parse(line, "due_date", parse_date, row["due_date"])
        control = None
        if row.get("control"):
            control = controls.get(row["control"])
            if control is None:
                checker.add(line, "control", f"{audit.framework_version} has no control '{row['control']}'.")
        current = existing.get(ref) if ref else None
        status = row.get("status", "")
        if current is not None:
            if current.audit_id != audit.pk:
                checker.add(line, "ref", f"Finding {ref} belongs to another audit.")
            if status and status != current.status:
                checker.add(
                    line,
                    "status",
                    f"Finding {ref} is {current.status}; change a status through its action endpoints.",
                )
            if current.status == FindingStatus.VERIFIED:
                checker.add(line, "ref", f"Finding {ref} is verified and closed; it cannot be changed.")
        elif status and status not in ACTIVE_FINDING_STATUSES:
            checker.add(line, "status", "A new finding starts open or remediating.")
        if len(checker.errors) == before_count:
            values = {
                "title": title,
                "description": row.get("description", ""),
                "severity": row["severity"],
                "owner": owner,
                "due_date": due_date,
                "control": control,
            }
            plans.append((ref, current, status or FindingStatus.OPEN, values))
    if checker.errors:
        raise import_failed(checker.errors, "findings")

    result = ImportResult()
    with transaction.atomic():
        scope = Finding.objects.filter(organization=organization)
        taken = set(existing) | set(seen)
        for ref, current, status, values in plans:
            if current is None:
                ref = ref or next_ref(scope, "F", taken=taken)
                taken.add(ref)
                finding = Finding.objects.create(
                    organization=organization, audit=audit, ref=ref, status=status, **values
                )
                audit_record(
                    action="finding.imported",
                    actor=by,
                    organization=organization,
                    obj=finding,
                    after=snapshot(finding, ["ref", "audit", *FINDING_EDITABLE, "status"]),
                )
                result.created += 1
                continue
            before = snapshot(current, FINDING_EDITABLE)
            for name, value in values.items():
                setattr(current, name, value)
            before, after = changed_fields(before, snapshot(current, FINDING_EDITABLE))
            if not after:
                result.unchanged += 1
                continue
            current.save(update_fields=[*FINDING_EDITABLE, "updated_at"])
            audit_record(
                action="finding.updated", actor=by, organization=organization, obj=current, before=before, after=after
            )
            result.updated += 1
    return result


def processing_activities_import(*, organization: Organization, upload, by) -> ImportResult:
    require(permissions.can_manage_ropa(by, organization))
    records = read_table(upload, required=ACTIVITY_REQUIRED, known=ACTIVITY_COLUMNS)
    checker = RowChecker()
    members = members_by_username(organization)
    existing = {a.name: a for a in ProcessingActivity.objects.filter(organization=organization)}
    seen: dict[str, int] = {}
    plans = []
    for line, row in records:
        before_count = len(checker.errors)
        name = row["name"]
        if name in seen:
            checker.add(line, "name", f"'{name}' is also on line {seen[name]}.")
        seen.setdefault(name, line)
        owner = None
        if row.get("owner"):
            owner = members.get(row["owner"])
            if owner is None:
                checker.add(line, "owner", f"'{row['owner']}' is not a member of {organization.name}.")
        special = checker.parse(line, "special_categories", parse_bool, row.get("special_categories", ""))
        values = {
            "name": name,
            "purpose": row["purpose"],
            "lawful_basis": row["lawful_basis"],
            "retention": row["retention"],
            "special_categories": special,
            "owner": owner,
            **{field: split_list(row.get(field, "")) for field in ("data_categories", "data_subjects")},
            **{field: split_list(row.get(field, "")) for field in ("recipients", "transfers")},
        }
        if row.get("role"):
            values["role"] = row["role"]
        if len(checker.errors) == before_count:
            cleaned = checker.service_check(line, clean_activity_values, organization, values)
            if cleaned is not None:
                plans.append((existing.get(name), cleaned))
    if checker.errors:
        raise import_failed(checker.errors, "records of processing")

    result = ImportResult()
    with transaction.atomic():
        for current, cleaned in plans:
            if current is None:
                activity = ProcessingActivity.objects.create(organization=organization, **cleaned)
                audit_record(
                    action="processing_activity.imported",
                    actor=by,
                    organization=organization,
                    obj=activity,
                    after=snapshot(activity, ACTIVITY_FIELDS),
                )
                result.created += 1
                continue
            before = snapshot(current, ACTIVITY_FIELDS)
            for field, value in cleaned.items():
                setattr(current, field, value)
            before, after = changed_fields(before, snapshot(current, ACTIVITY_FIELDS))
            if not after:
                result.unchanged += 1
                continue
            current.save(update_fields=[*ACTIVITY_FIELDS, "updated_at"])
            audit_record(
                action="processing_activity.updated",
                actor=by,
                organization=organization,
                obj=current,
                before=before,
                after=after,
            )
            result.updated += 1
    return result
