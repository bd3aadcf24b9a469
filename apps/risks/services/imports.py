"""Importing a register's risks from CSV or XLSX (the file the export writes). All or nothing.

Rows are matched by `ref`: an existing risk is updated, a new ref (or none) creates a risk. Every bad row is
reported with its line and field, and then nothing is written. Status is not a free field: a new risk starts
open or treating, and an existing risk's status must match (transitions have their own endpoints).
"""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.compliance.services.imports import ImportResult, RowChecker, members_by_username, parse_date
from apps.core.errors import ValidationFailed
from apps.core.tabular import import_failed, read_table
from apps.risks import permissions
from apps.risks.models import OPEN_RISK_STATUSES, SCORE_FIELDS, Risk, RiskRegister, RiskStatus
from apps.risks.services.risks import (
    RISK_EDITABLE,
    check_risk_values,
    default_scores,
    next_risk_ref,
    record_snapshot,
)
from apps.tenancy.services import require

RISK_COLUMNS = (
    "ref",
    "title",
    "description",
    "category",
    "owner",
    *SCORE_FIELDS,
    "treatment",
    "status",
    "due_date",
    "review_cadence_days",
    "next_review_on",
)
RISK_REQUIRED = ("title", "category", "owner", "inherent_likelihood", "inherent_impact")


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValidationFailed(f"'{text}' is not a whole number.") from None


def _optional(parse, text: str):
    return parse(text) if text else None


def risks_import(*, register: RiskRegister, upload, by) -> ImportResult:
    organization = register.organization
    require(permissions.can_create_risk(by, organization))
    records = read_table(upload, required=RISK_REQUIRED, known=RISK_COLUMNS)
    checker = RowChecker()
    members = members_by_username(organization)
    existing = {risk.ref: risk for risk in register.risks.select_related("owner")}
    seen: dict[str, int] = {}
    plans = []
    for line, row in records:
        before_count = len(checker.errors)
        ref = row.get("ref", "")
        if ref:
            if ref in seen:
                checker.add(line, "ref", f"{ref} is also on line {seen[ref]}.")
            seen.setdefault(ref, line)
        owner = members.get(row["owner"])
        if owner is None:
            checker.add(line, "owner", f"'{row['owner']}' is not a member of {organization.name}.")
        values = {
            "title": row["title"],
            "description": row.get("description", ""),
            "category": row["category"],
            "treatment": row.get("treatment") or "mitigate",
        }
        for name in SCORE_FIELDS:
            values[name] = checker.parse(line, name, lambda text: _optional(_parse_int, text), row.get(name, ""))
        values["due_date"] = checker.parse(
            line, "due_date", lambda text: _optional(parse_date, text), row.get("due_date", "")
        )
        cadence = checker.parse(
            line, "review_cadence_days", lambda text: _optional(_parse_int, text), row.get("review_cadence_days", "")
        )
        values["review_cadence_days"] = cadence or register.review_cadence_days
        next_review = checker.parse(
            line, "next_review_on", lambda text: _optional(parse_date, text), row.get("next_review_on", "")
        )
        current = existing.get(ref) if ref else None
        status = row.get("status", "")
        if current is not None:
            if status and status != current.status:
                checker.add(
                    line, "status", f"Risk {ref} is {current.status}; change a status through its action endpoints."
                )
            if current.status == RiskStatus.CLOSED:
                checker.add(line, "ref", f"Risk {ref} is closed: reopen it to change it.")
        elif status and status not in OPEN_RISK_STATUSES:
            checker.add(line, "status", "A new risk starts open or treating.")
        if len(checker.errors) != before_count:
            continue
        values = default_scores(values)
        checker.service_check(line, check_risk_values, register, values)
        if len(checker.errors) != before_count:
            continue
        values["owner"] = owner
        values["next_review_on"] = next_review or (
            current.next_review_on
            if current is not None and not row.get("review_cadence_days")
            else timezone.localdate() + dt.timedelta(days=values["review_cadence_days"])
        )
        plans.append((ref, current, status or RiskStatus.OPEN, values))
    if checker.errors:
        raise import_failed(checker.errors, "risks")

    result = ImportResult()
    with transaction.atomic():
        taken = set(existing) | set(seen)
        for ref, current, status, values in plans:
            if current is None:
                ref = ref or next_risk_ref(register, taken)
                taken.add(ref)
                risk = Risk.objects.create(
                    organization=organization, register=register, ref=ref, status=status, **values
                )
                record_snapshot(risk, reason="imported")
                audit_record(
                    action="risk.imported",
                    actor=by,
                    organization=organization,
                    obj=risk,
                    after=snapshot(risk, ["register", "ref", *RISK_EDITABLE, "status"]),
                )
                result.created += 1
                continue
            before = snapshot(current, RISK_EDITABLE)
            for name, value in values.items():
                setattr(current, name, value)
            before, after = changed_fields(before, snapshot(current, RISK_EDITABLE))
            if not after:
                result.unchanged += 1
                continue
            current.save(update_fields=[*RISK_EDITABLE, "updated_at"])
            if any(name in after for name in SCORE_FIELDS):
                record_snapshot(current, reason="imported")
            audit_record(
                action="risk.updated", actor=by, organization=organization, obj=current, before=before, after=after
            )
            result.updated += 1
    return result
