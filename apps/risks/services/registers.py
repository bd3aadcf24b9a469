"""Risk registers, and the starter registers shipped as templates (apps/risks/register_templates/*.yaml)."""

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import yaml
from django.db import transaction
from django.db.models import Max

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.errors import Conflict, ValidationFailed
from apps.risks import permissions
from apps.risks.models import DEFAULT_CATEGORIES, SCORE_FIELDS, KeyRiskIndicator, Mitigation, RiskMatrix, RiskRegister
from apps.risks.services.risks import risk_create
from apps.tenancy.models import Membership, Organization
from apps.tenancy.services import require

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "register_templates"
REGISTER_EDITABLE = ("name", "program", "description", "matrix", "categories", "review_cadence_days")
TEMPLATE_SCALE = 5  # template scores are written on a 5-point scale


def _clean_categories(categories) -> list[str]:
    if categories is None:
        return list(DEFAULT_CATEGORIES)
    if not isinstance(categories, list) or not categories:
        raise ValidationFailed.for_field("categories", "Give at least one category.")
    cleaned = []
    for category in categories:
        if not isinstance(category, str) or not category.strip() or len(category) > 60:
            raise ValidationFailed.for_field("categories", "Categories are short non-empty texts.")
        if category.strip() not in cleaned:
            cleaned.append(category.strip())
    return cleaned


def _check_matrix(organization: Organization, matrix: RiskMatrix) -> None:
    if matrix.organization_id != organization.pk:
        raise ValidationFailed.for_field("matrix", "Use a matrix of the same organization.")


def available_templates() -> dict[str, Path]:
    return {path.stem.replace("_", "-"): path for path in sorted(TEMPLATES_DIR.glob("*.yaml"))}


def risk_register_create(
    *,
    organization: Organization,
    name: str,
    matrix: RiskMatrix,
    by,
    program: str = "",
    description: str = "",
    categories: list[str] | None = None,
    review_cadence_days: int = 90,
    template: str | None = None,
) -> RiskRegister:
    """Creates a register; with `template`, fills it with the template's risks, mitigations and indicators."""
    require(permissions.can_manage_registers(by, organization))
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.for_field("name", "A register needs a name.")
    _check_matrix(organization, matrix)
    template_data = _read_template(template) if template else None
    if template_data and categories is None:
        categories = template_data.get("categories")
    categories = _clean_categories(categories)
    if not 1 <= review_cadence_days <= 3660:
        raise ValidationFailed.for_field("review_cadence_days", "Review every 1 to 3660 days.")
    if RiskRegister.objects.filter(organization=organization, name=name).exists():
        raise ValidationFailed.for_field("name", f"{organization.name} already has a register named '{name}'.")
    with transaction.atomic():
        register = RiskRegister.objects.create(
            organization=organization,
            name=name,
            program=program,
            description=description or (template_data or {}).get("description", ""),
            matrix=matrix,
            categories=categories,
            review_cadence_days=review_cadence_days,
        )
        audit_record(
            action="risk_register.created",
            actor=by,
            organization=organization,
            obj=register,
            after=snapshot(register, REGISTER_EDITABLE) | {"template": template or ""},
        )
        if template_data:
            _fill_from_template(register, template_data, by=by)
    return register


def risk_register_update(*, register: RiskRegister, by, **changes) -> RiskRegister:
    organization = register.organization
    require(permissions.can_manage_registers(by, organization))
    unknown = set(changes) - set(REGISTER_EDITABLE)
    if unknown:
        raise ValidationFailed.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise ValidationFailed.for_field("name", "A register needs a name.")
        if (
            RiskRegister.objects.filter(organization=organization, name=changes["name"])
            .exclude(pk=register.pk)
            .exists()
        ):
            raise ValidationFailed.for_field(
                "name", f"{organization.name} already has a register named '{changes['name']}'."
            )
    if "categories" in changes:
        changes["categories"] = _clean_categories(changes["categories"])
        used = set(register.risks.values_list("category", flat=True))
        missing = sorted(used - set(changes["categories"]))
        if missing:
            raise Conflict(f"Risks still use the categories {', '.join(missing)}: recategorise them first.")
    if "matrix" in changes:
        _check_matrix(organization, changes["matrix"])
        highest = register.risks.aggregate(**{name: Max(name) for name in SCORE_FIELDS})
        for name, value in highest.items():
            size = changes["matrix"].likelihood_size if name.endswith("likelihood") else changes["matrix"].impact_size
            if value and value > size:
                raise Conflict(
                    f"Some risks have {name} {value}, above the new matrix's scale of {size}: rescore first."
                )
    with transaction.atomic():
        register = RiskRegister.objects.select_for_update().get(pk=register.pk)
        before = snapshot(register, REGISTER_EDITABLE)
        for name, value in changes.items():
            setattr(register, name, value)
        before, after = changed_fields(before, snapshot(register, REGISTER_EDITABLE))
        if after:
            register.save(update_fields=[*changes, "updated_at"])
            audit_record(
                action="risk_register.updated",
                actor=by,
                organization=organization,
                obj=register,
                before=before,
                after=after,
            )
    return register


def _read_template(slug: str) -> dict:
    templates = available_templates()
    if slug not in templates:
        raise ValidationFailed.for_field("template", f"Unknown template. Choose one of: {', '.join(templates)}.")
    return yaml.safe_load(templates[slug].read_text(encoding="utf-8"))


def rescale(value: int, size: int) -> int:
    """A template score on the 5-point scale, mapped to a scale of `size` steps."""
    return max(1, min(size, math.ceil(value * size / TEMPLATE_SCALE)))


def _member_for_role(organization: Organization, role: str | None, fallback):
    membership = (
        Membership.objects.select_related("user")
        .filter(organization=organization, role=role)
        .order_by("user__username")
        .first()
    )
    return membership.user if membership else fallback


def _fill_from_template(register: RiskRegister, data: dict, *, by) -> None:
    matrix, organization = register.matrix, register.organization
    for item in data.get("risks", []):
        owner = _member_for_role(organization, item.get("owner_role"), by)
        inherent, residual = item["inherent"], item.get("residual", item["inherent"])
        risk = risk_create(
            register=register,
            ref=item["ref"],
            title=item["title"],
            description=item.get("description", ""),
            category=item["category"],
            owner=owner.username,
            inherent_likelihood=rescale(inherent[0], matrix.likelihood_size),
            inherent_impact=rescale(inherent[1], matrix.impact_size),
            residual_likelihood=rescale(residual[0], matrix.likelihood_size),
            residual_impact=rescale(residual[1], matrix.impact_size),
            treatment=item.get("treatment", "mitigate"),
            by=by,
        )
        for title in item.get("mitigations", []):
            Mitigation.objects.create(risk=risk, title=title, owner=owner)
        for indicator in item.get("indicators", []):
            KeyRiskIndicator.objects.create(
                organization=organization,
                risk=risk,
                name=indicator["name"],
                source=indicator["source"],
                metric=indicator["metric"],
                aggregation=indicator.get("aggregation", "avg"),
                window=dt.timedelta(minutes=indicator["window_minutes"]),
                comparison=indicator.get("comparison", "gt"),
                threshold=Decimal(str(indicator["threshold"])),
            )
        audit_record(
            action="risk.template_items_added",
            actor=by,
            organization=organization,
            obj=risk,
            after={
                "mitigations": item.get("mitigations", []),
                "indicators": [indicator["name"] for indicator in item.get("indicators", [])],
            },
        )
