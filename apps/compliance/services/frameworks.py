"""Loading frameworks from their YAML files: idempotent, and a new version keeps the work done on open audits."""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from django.db import transaction

from apps.audit.services import audit_record
from apps.compliance.models import (
    OPEN_AUDIT_STATUSES,
    AssessmentResult,
    Control,
    ControlAssessment,
    Framework,
    FrameworkVersion,
    PrivacyAudit,
)
from apps.core.canonical import canonical_json, sha256_hex
from apps.core.errors import Conflict, ValidationFailed

FRAMEWORKS_DIR = Path(__file__).resolve().parent.parent / "frameworks"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")


@dataclass
class LoadResult:
    slug: str
    version: str
    outcome: str  # "created" | "unchanged" | "upgraded"
    audits_moved: list[str] = field(default_factory=list)
    carried: int = 0  # assessments kept because their control did not change
    reset: int = 0  # assessments of changed or new controls, to be assessed again


def control_hash(control: dict) -> str:
    return sha256_hex(canonical_json({key: control[key] for key in ("article", "title", "text")}))


def parse_framework(text: str, *, source: str = "") -> dict:
    """Validates a framework document; the error names the file and the control at fault."""
    where = source or "framework"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed.for_field("file", f"{where}: not valid YAML ({exc}).") from None
    if not isinstance(data, dict):
        raise ValidationFailed.for_field("file", f"{where}: expected a mapping at the top.")
    problems = []
    for key in ("slug", "name", "version", "controls"):
        if not data.get(key):
            problems.append(f"'{key}' is missing")
    if problems:
        raise ValidationFailed.for_field("file", f"{where}: {'; '.join(problems)}.")
    data["version"] = str(data["version"])
    if not _SLUG.match(str(data["slug"])):
        raise ValidationFailed.for_field(
            "file", f"{where}: slug '{data['slug']}' must be lowercase letters, digits, -."
        )
    controls, seen = [], set()
    for position, raw in enumerate(data["controls"], start=1):
        label = f"{where}: control #{position}"
        if not isinstance(raw, dict):
            raise ValidationFailed.for_field("file", f"{label} is not a mapping.")
        missing = [key for key in ("ref", "section", "article", "title", "text") if not raw.get(key)]
        if missing:
            raise ValidationFailed.for_field("file", f"{label} lacks {', '.join(missing)}.")
        ref = str(raw["ref"])
        if ref in seen:
            raise ValidationFailed.for_field("file", f"{label}: ref {ref} appears twice.")
        seen.add(ref)
        try:
            weight = Decimal(str(raw.get("weight", 1)))
        except InvalidOperation:
            weight = Decimal(0)
        if not Decimal(0) < weight < Decimal(1000):
            raise ValidationFailed.for_field("file", f"{label}: weight must be a positive number.")
        control = {key: " ".join(str(raw[key]).split()) for key in ("section", "article", "title", "text")}
        controls.append(control | {"ref": ref, "weight": weight, "position": position})
    data["controls"] = controls
    data["content_hash"] = sha256_hex(canonical_json({"version": data["version"], "controls": controls}))
    return data


def framework_load(*, text: str, source: str = "") -> LoadResult:
    """Creates or upgrades a framework from its YAML text.

    Loading the same version again changes nothing. A new version becomes the current one; each open audit
    (planned, fieldwork, reporting) moves to it, keeping the assessment of every control whose article, title
    and text are unchanged; a changed or new control starts as not assessed. Closed audits stay on the version
    they were run against. Changing a published version's content without a new version number is refused.
    """
    data = parse_framework(text, source=source)
    with transaction.atomic():
        framework, _ = Framework.objects.select_for_update().get_or_create(
            slug=data["slug"], defaults={"name": data["name"]}
        )
        header = {key: data.get(key, "") or "" for key in ("name", "jurisdiction", "description")}
        if any(getattr(framework, key) != value for key, value in header.items()):
            for key, value in header.items():
                setattr(framework, key, value)
            framework.save(update_fields=[*header, "updated_at"])
        existing = FrameworkVersion.objects.filter(framework=framework, version=data["version"]).first()
        if existing is not None:
            if existing.content_hash != data["content_hash"]:
                raise Conflict(
                    f"{data['slug']} version {data['version']} is already loaded with other content: "
                    "give the changed framework a new version."
                )
            return LoadResult(data["slug"], data["version"], "unchanged")

        previous = FrameworkVersion.objects.filter(framework=framework, is_current=True).first()
        if previous is not None:
            previous.is_current = False
            previous.save(update_fields=["is_current", "updated_at"])
        version = FrameworkVersion.objects.create(
            framework=framework,
            version=data["version"],
            source=source,
            content_hash=data["content_hash"],
            is_current=True,
        )
        Control.objects.bulk_create(
            [
                Control(
                    framework_version=version,
                    ref=c["ref"],
                    section=c["section"],
                    article=c["article"],
                    title=c["title"],
                    text=c["text"],
                    weight=c["weight"],
                    position=c["position"],
                    content_hash=control_hash(c),
                )
                for c in data["controls"]
            ]
        )
        result = LoadResult(data["slug"], data["version"], "upgraded" if previous else "created")
        audit_record(
            action="framework.loaded",
            obj=version,
            before={"version": previous.version} if previous else {},
            after={"version": version.version, "controls": len(data["controls"]), "source": source},
        )
        if previous is not None:
            for audit in PrivacyAudit.objects.filter(framework_version=previous, status__in=OPEN_AUDIT_STATUSES):
                carried, reset = _move_audit(audit, to=version)
                result.audits_moved.append(str(audit.pk))
                result.carried += carried
                result.reset += reset
    return result


def _move_audit(audit: PrivacyAudit, *, to: FrameworkVersion) -> tuple[int, int]:
    """Re-points the audit's assessment rows at the new controls, so notes and evidence stay attached."""
    old_version = audit.framework_version
    old = {a.control.ref: a for a in audit.assessments.select_related("control")}
    carried = reset = 0
    created = []
    for control in to.controls.all():
        assessment = old.pop(control.ref, None)
        if assessment is None:
            created.append(ControlAssessment(audit=audit, control=control))
            reset += 1
            continue
        changed = assessment.control.content_hash != control.content_hash
        assessment.control = control
        if changed:
            reset += 1
            if assessment.result != AssessmentResult.NOT_ASSESSED:
                note = f"Control changed in version {to.version}; the earlier result was {assessment.result}."
                assessment.notes = f"{assessment.notes}\n{note}".strip()
            assessment.result = AssessmentResult.NOT_ASSESSED
        else:
            carried += 1
        assessment.save(update_fields=["control", "result", "notes", "updated_at"])
    ControlAssessment.objects.bulk_create(created)
    removed = {ref: a.result for ref, a in old.items()}
    ControlAssessment.objects.filter(pk__in=[a.pk for a in old.values()]).delete()
    audit.framework_version = to
    audit.save(update_fields=["framework_version", "updated_at"])
    audit_record(
        action="privacy_audit.framework_upgraded",
        organization=audit.organization,
        obj=audit,
        before={"framework_version": old_version.version, "removed_controls": removed},
        after={"framework_version": to.version, "assessments_kept": carried, "assessments_reset": reset},
    )
    return carried, reset


def frameworks_load_directory(directory: Path = FRAMEWORKS_DIR) -> list[LoadResult]:
    results = []
    for path in sorted(directory.glob("*.yaml")):
        source = f"apps/compliance/frameworks/{path.name}" if directory == FRAMEWORKS_DIR else str(path)
        results.append(framework_load(text=path.read_text(encoding="utf-8"), source=source))
    return results
