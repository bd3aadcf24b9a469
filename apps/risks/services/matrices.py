"""Risk matrices as data: validated here, so a 3x3 beside a 5x5, or new labels, need no migration."""

from django.db import transaction
from django.db.models import Max, Q

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.errors import Conflict, ValidationFailed
from apps.risks import permissions
from apps.risks.models import SCORE_FIELDS, Risk, RiskMatrix
from apps.tenancy.models import Organization
from apps.tenancy.services import require

MIN_SIZE, MAX_SIZE = 2, 10
MATRIX_FIELDS = ("name", "likelihood_labels", "impact_labels", "levels")

PRESETS = {
    "5x5": {
        "likelihood_labels": ["Rare", "Unlikely", "Possible", "Likely", "Almost certain"],
        "impact_labels": ["Minimal", "Minor", "Moderate", "Major", "Severe"],
        "levels": [
            {"key": "low", "label": "Low", "min_score": 1},
            {"key": "medium", "label": "Medium", "min_score": 5},
            {"key": "high", "label": "High", "min_score": 10},
            {"key": "critical", "label": "Critical", "min_score": 17},
        ],
    },
    "3x3": {
        "likelihood_labels": ["Unlikely", "Possible", "Likely"],
        "impact_labels": ["Minor", "Moderate", "Major"],
        "levels": [
            {"key": "low", "label": "Low", "min_score": 1},
            {"key": "medium", "label": "Medium", "min_score": 3},
            {"key": "high", "label": "High", "min_score": 6},
        ],
    },
}


def _labels(field: str, labels) -> list[str]:
    if not isinstance(labels, list) or not all(isinstance(label, str) and label.strip() for label in labels):
        raise ValidationFailed.for_field(field, "Give a list of non-empty labels, lowest first.")
    if not MIN_SIZE <= len(labels) <= MAX_SIZE:
        raise ValidationFailed.for_field(field, f"A scale has {MIN_SIZE} to {MAX_SIZE} steps; this has {len(labels)}.")
    labels = [label.strip() for label in labels]
    if len(set(labels)) != len(labels):
        raise ValidationFailed.for_field(field, "Each label appears once.")
    return labels


def clean_matrix(*, likelihood_labels, impact_labels, levels) -> dict:
    """Checks labels and level thresholds; thresholds ascend from 1 and stay within the largest score."""
    likelihood_labels = _labels("likelihood_labels", likelihood_labels)
    impact_labels = _labels("impact_labels", impact_labels)
    top = len(likelihood_labels) * len(impact_labels)
    if not isinstance(levels, list) or not levels:
        raise ValidationFailed.for_field("levels", 'Give a list like [{"key": "low", "label": "Low", "min_score": 1}].')
    cleaned, keys, last = [], set(), 0
    for position, level in enumerate(levels, start=1):
        where = f"Level {position}"
        if not isinstance(level, dict):
            raise ValidationFailed.for_field("levels", f"{where} is not an object.")
        key, label, min_score = level.get("key"), level.get("label"), level.get("min_score")
        if not isinstance(key, str) or not key.strip() or key in keys:
            raise ValidationFailed.for_field("levels", f"{where} needs a unique 'key'.")
        if not isinstance(min_score, int) or isinstance(min_score, bool):
            raise ValidationFailed.for_field("levels", f"{where}: 'min_score' must be a whole number.")
        if position == 1 and min_score != 1:
            raise ValidationFailed.for_field("levels", "The first level starts at score 1, so every cell has a level.")
        if min_score <= last:
            raise ValidationFailed.for_field("levels", f"{where}: thresholds must ascend ({min_score} <= {last}).")
        if min_score > top:
            raise ValidationFailed.for_field("levels", f"{where}: {min_score} is above the largest score, {top}.")
        keys.add(key)
        last = min_score
        cleaned.append({"key": key.strip(), "label": (label or key).strip(), "min_score": min_score})
    return {"likelihood_labels": likelihood_labels, "impact_labels": impact_labels, "levels": cleaned}


def risk_matrix_create(*, organization: Organization, name: str, by, preset: str | None = None, **values) -> RiskMatrix:
    require(permissions.can_manage_registers(by, organization))
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.for_field("name", "A matrix needs a name.")
    if preset:
        if preset not in PRESETS:
            raise ValidationFailed.for_field("preset", f"Choose one of: {', '.join(PRESETS)}.")
        values = PRESETS[preset] | {key: value for key, value in values.items() if value is not None}
    cleaned = clean_matrix(**{key: values.get(key) for key in ("likelihood_labels", "impact_labels", "levels")})
    if RiskMatrix.objects.filter(organization=organization, name=name).exists():
        raise ValidationFailed.for_field("name", f"{organization.name} already has a matrix named '{name}'.")
    with transaction.atomic():
        matrix = RiskMatrix.objects.create(organization=organization, name=name, **cleaned)
        audit_record(
            action="risk_matrix.created",
            actor=by,
            organization=organization,
            obj=matrix,
            after=cleaned | {"name": name},
        )
    return matrix


def risk_matrix_update(*, matrix: RiskMatrix, by, **changes) -> RiskMatrix:
    """Labels and levels may change freely; a scale may shrink only if no risk of a register using it is above."""
    require(permissions.can_manage_registers(by, matrix.organization))
    unknown = set(changes) - set(MATRIX_FIELDS)
    if unknown:
        raise ValidationFailed.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    values = {key: getattr(matrix, key) for key in MATRIX_FIELDS} | changes
    name = (values.pop("name") or "").strip()
    if not name:
        raise ValidationFailed.for_field("name", "A matrix needs a name.")
    cleaned = clean_matrix(**values)
    duplicate = RiskMatrix.objects.filter(organization=matrix.organization, name=name).exclude(pk=matrix.pk)
    if duplicate.exists():
        raise ValidationFailed.for_field("name", f"{matrix.organization.name} already has a matrix named '{name}'.")
    with transaction.atomic():
        matrix = RiskMatrix.objects.select_for_update().get(pk=matrix.pk)
        _refuse_shrinking_below_risks(matrix, len(cleaned["likelihood_labels"]), len(cleaned["impact_labels"]))
        before = snapshot(matrix, MATRIX_FIELDS)
        matrix.name = name
        for key, value in cleaned.items():
            setattr(matrix, key, value)
        before, after = changed_fields(before, snapshot(matrix, MATRIX_FIELDS))
        if after:
            matrix.save(update_fields=[*MATRIX_FIELDS, "updated_at"])
            audit_record(
                action="risk_matrix.updated",
                actor=by,
                organization=matrix.organization,
                obj=matrix,
                before=before,
                after=after,
            )
    return matrix


def _refuse_shrinking_below_risks(matrix: RiskMatrix, likelihood_size: int, impact_size: int) -> None:
    risks = Risk.objects.filter(register__matrix=matrix)
    highest = risks.aggregate(**{f"max_{name}": Max(name) for name in SCORE_FIELDS})
    too_high_l = max((highest[f"max_{n}"] or 0) for n in SCORE_FIELDS if n.endswith("likelihood")) > likelihood_size
    too_high_i = max((highest[f"max_{n}"] or 0) for n in SCORE_FIELDS if n.endswith("impact")) > impact_size
    if too_high_l or too_high_i:
        above = Q()
        for name in SCORE_FIELDS:
            size = likelihood_size if name.endswith("likelihood") else impact_size
            above |= Q(**{f"{name}__gt": size})
        count = risks.filter(above).count()
        raise Conflict(
            f"{count} risk(s) of registers using this matrix have scores above {likelihood_size}x{impact_size}: "
            "rescore them first."
        )
