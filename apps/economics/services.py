"""Writes of the economics app: rate cards and cost attributions (prices: a change is a new version, never an
edit), the roadmap and its initiatives, success metrics, and the seed strategy's template."""

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.core.money import clean_amount, clean_currency
from apps.economics import permissions
from apps.economics.machines import INITIATIVES
from apps.economics.models import (
    CostAttribution,
    Initiative,
    MetricDirection,
    MetricSource,
    RateCard,
    RateCardKind,
    RoadmapPhase,
    SuccessMetric,
)
from apps.tenancy.models import Membership
from apps.tenancy.services import require

TEMPLATES_DIR = Path(__file__).resolve().parent / "roadmap_templates"
COMPUTE_FIGURES = ("utilization_pct", "idle_cost", "cost_per_operation", "total_cost", "energy_kwh")


def _text(value, *, field: str, max_length: int = 200, required: bool = True) -> str:
    text = (value or "").strip() if isinstance(value, str | type(None)) else None
    if text is None:
        raise ValidationFailed.for_field(field, "Give text.")
    if required and not text:
        raise ValidationFailed.for_field(field, "This field is required.")
    if len(text) > max_length:
        raise ValidationFailed.for_field(field, f"At most {max_length} characters.")
    return text


def _selector(value, *, field: str = "device_selector") -> dict:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or any(not isinstance(v, str | int | float) for v in value.values()):
        raise ValidationFailed.for_field(field, 'An object of label names to values, e.g. {"cluster": "blackwell-a"}.')
    return {str(k): str(v) for k, v in sorted(value.items())}


def _unit_price(value, *, field: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed.for_field(field, f"'{value}' is not a number.") from None
    if not number.is_finite() or number < 0:
        raise ValidationFailed.for_field(field, "A price of zero or more.")
    if number.as_tuple().exponent < -6 or number.adjusted() >= 12:
        raise ValidationFailed.for_field(field, "At most 12 digits before and 6 after the decimal point.")
    return number


def _date(value, *, field: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed.for_field(field, f"'{value}' is not a date (YYYY-MM-DD).") from None


# --- rate cards and attribution ---------------------------------------------------------------------------------


def rate_card_create(
    *,
    organization,
    by,
    name: str,
    kind: str,
    currency: str,
    valid_from,
    source=None,
    device_selector: dict | None = None,
    provider: str = "",
    region: str = "",
    price_per_gpu_hour=None,
    purchase_price=None,
    lifetime_days=None,
    power_price_per_kwh=None,
) -> RateCard:
    """A rate card, or a new version of one (same name, later `valid_from`): prices are never edited."""
    require(permissions.can_manage_rates(by, organization))
    if kind not in RateCardKind.values:
        raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(RateCardKind.values)}.")
    if source is not None and source.organization_id != organization.pk:
        raise ValidationFailed.for_field("source", "Unknown in this organization.")
    values = {
        "name": _text(name, field="name"),
        "currency": clean_currency(currency),
        "valid_from": _date(valid_from, field="valid_from"),
        "device_selector": _selector(device_selector),
        "provider": _text(provider, field="provider", max_length=100, required=False),
        "region": _text(region, field="region", max_length=100, required=False),
    }
    if kind == RateCardKind.CLOUD:
        if price_per_gpu_hour is None:
            raise ValidationFailed.for_field("price_per_gpu_hour", "A cloud card gives its price per GPU-hour.")
        values["price_per_gpu_hour"] = _unit_price(price_per_gpu_hour, field="price_per_gpu_hour")
    else:
        for field, given in (
            ("purchase_price", purchase_price),
            ("lifetime_days", lifetime_days),
            ("power_price_per_kwh", power_price_per_kwh),
        ):
            if given is None:
                raise ValidationFailed.for_field(
                    field, "An on-prem card gives its purchase price, lifetime and power price."
                )
        values["purchase_price"] = clean_amount(purchase_price, field="purchase_price", allow_zero=True)
        if isinstance(lifetime_days, bool) or not isinstance(lifetime_days, int) or not 1 <= lifetime_days <= 10000:
            raise ValidationFailed.for_field("lifetime_days", "A whole number of days from 1 to 10000.")
        values["lifetime_days"] = lifetime_days
        values["power_price_per_kwh"] = _unit_price(power_price_per_kwh, field="power_price_per_kwh")
    earlier = (
        RateCard.objects.filter(organization=organization, name=values["name"])
        .values_list("currency", flat=True)
        .first()
    )
    if earlier is not None and earlier != values["currency"]:
        # A window priced by two versions sums their days' costs: one card keeps one currency.
        raise ValidationFailed.for_field("currency", f"Earlier versions of this card are priced in {earlier}.")
    try:
        with transaction.atomic():
            card = RateCard.objects.create(organization=organization, kind=kind, source=source, created_by=by, **values)
            audit_record(
                action="economics.rate_card_created",
                actor=by,
                organization=organization,
                obj=card,
                after={"kind": kind, "source": str(source.pk) if source else None, **values},
            )
    except IntegrityError:
        raise ValidationFailed.for_field("valid_from", "A version of this card already starts on that day.") from None
    return card


def cost_attribution_create(*, organization, by, name: str, device_selector: dict, budget_line) -> CostAttribution:
    """Devices carrying the labels bill their compute cost to the budget line."""
    require(permissions.can_manage_rates(by, organization))
    if budget_line.organization_id != organization.pk:
        raise ValidationFailed.for_field("budget_line", "Unknown in this organization.")
    selector = _selector(device_selector)
    if not selector:
        raise ValidationFailed.for_field("device_selector", "Name at least one label the devices carry.")
    try:
        with transaction.atomic():
            rule = CostAttribution.objects.create(
                organization=organization,
                name=_text(name, field="name"),
                device_selector=selector,
                budget_line=budget_line,
                created_by=by,
            )
            audit_record(
                action="economics.attribution_created",
                actor=by,
                organization=organization,
                obj=rule,
                after={"device_selector": selector, "budget_line": str(budget_line.pk)},
            )
    except IntegrityError:
        raise ValidationFailed.for_field("name", "An attribution of that name exists.") from None
    return rule


# --- roadmap ------------------------------------------------------------------------------------------------------


def roadmap_phase_create(*, organization, by, name: str, start, end, description: str = "", position: int = 0):
    require(permissions.can_manage_roadmap(by, organization))
    start, end = _date(start, field="start"), _date(end, field="end")
    if end < start:
        raise ValidationFailed.for_field("end", "The phase ends before it starts.")
    try:
        with transaction.atomic():
            phase = RoadmapPhase.objects.create(
                organization=organization,
                name=_text(name, field="name"),
                start=start,
                end=end,
                description=description or "",
                position=position,
            )
            audit_record(
                action="roadmap.phase_created",
                actor=by,
                organization=organization,
                obj=phase,
                after={"name": phase.name, "start": start, "end": end},
            )
    except IntegrityError:
        raise ValidationFailed.for_field("name", "A phase of that name exists.") from None
    return phase


def initiative_create(
    *,
    phase: RoadmapPhase,
    by,
    title: str,
    due_date,
    owner=None,
    description: str = "",
    milestones=(),
    risks=(),
    compute_sources=(),
    kpis=(),
) -> Initiative:
    """An initiative of a phase, linked to the organization's own milestones, risks, compute sources and KPIs."""
    from apps.funding.models import KpiMetric

    organization = phase.organization
    require(permissions.can_manage_roadmap(by, organization))
    due = _date(due_date, field="due_date")
    for field, rows in (("milestones", milestones), ("risks", risks), ("compute_sources", compute_sources)):
        if any(row.organization_id != organization.pk for row in rows):
            raise ValidationFailed.for_field(field, "Unknown in this organization.")
    unknown = [k for k in kpis if k not in KpiMetric.values]
    if unknown:
        raise ValidationFailed.for_field("kpis", f"Unknown KPI(s): {', '.join(unknown)}.")
    if owner is not None and not Membership.objects.filter(organization=organization, user=owner).exists():
        raise ValidationFailed.for_field("owner", "Not a member of this organization.")
    with transaction.atomic():
        initiative = Initiative.objects.create(
            organization=organization,
            phase=phase,
            title=_text(title, field="title", max_length=300),
            description=description or "",
            owner=owner,
            due_date=due,
            kpis=sorted(set(kpis)),
        )
        initiative.milestones.set(milestones)
        initiative.risks.set(risks)
        initiative.compute_sources.set(compute_sources)
        audit_record(
            action="roadmap.initiative_created",
            actor=by,
            organization=organization,
            obj=initiative,
            after={
                "phase": str(phase.pk),
                "title": initiative.title,
                "due_date": due,
                "owner": owner.get_username() if owner else None,
                "kpis": initiative.kpis,
                "milestones": sorted(str(m.pk) for m in milestones),
            },
        )
    return initiative


def initiative_act(*, initiative: Initiative, by, action: str, reason: str = "") -> Initiative:
    if action not in INITIATIVES.by_name:
        raise ValidationFailed.for_field("action", f"Choose one of: {', '.join(INITIATIVES.by_name)}.")
    return INITIATIVES.run(initiative, action, by=by, reason=reason)


def success_metric_create(*, organization, by, **values) -> SuccessMetric:
    from apps.funding.models import KpiMetric

    require(permissions.can_manage_roadmap(by, organization))
    source = values.get("source")
    if source not in MetricSource.values:
        raise ValidationFailed.for_field("source", f"Choose one of: {', '.join(MetricSource.values)}.")
    if source == MetricSource.KPI and values.get("kpi_metric") not in KpiMetric.values:
        raise ValidationFailed.for_field("kpi_metric", f"Choose one of: {', '.join(KpiMetric.values)}.")
    if source == MetricSource.COMPUTE and values.get("compute_figure") not in COMPUTE_FIGURES:
        raise ValidationFailed.for_field("compute_figure", f"Choose one of: {', '.join(COMPUTE_FIGURES)}.")
    if values.get("direction") not in MetricDirection.values:
        raise ValidationFailed.for_field("direction", f"Choose one of: {', '.join(MetricDirection.values)}.")
    try:
        target = Decimal(str(values.get("target")))
        margin = Decimal(str(values.get("at_risk_margin_pct", "5")))
    except InvalidOperation:
        raise ValidationFailed.for_field("target", "Give a number.") from None
    if not target.is_finite() or not margin.is_finite() or not 0 <= margin <= 100:
        raise ValidationFailed.for_field("target", "A finite target and a margin from 0 to 100 percent.")
    fields = {
        "key": _text(values.get("key"), field="key", max_length=60),
        "name": _text(values.get("name"), field="name"),
        "source": source,
        "kpi_metric": values.get("kpi_metric") or "",
        "compute_figure": values.get("compute_figure") or "",
        "growth": bool(values.get("growth", False)),
        "direction": values["direction"],
        "target": target,
        "at_risk_margin_pct": margin,
        "unit": _text(values.get("unit"), field="unit", max_length=20, required=False),
        "position": int(values.get("position", 0)),
    }
    try:
        with transaction.atomic():
            metric = SuccessMetric.objects.create(organization=organization, **fields)
            audit_record(action="roadmap.metric_created", actor=by, organization=organization, obj=metric, after=fields)
    except IntegrityError:
        raise ValidationFailed.for_field("key", "A metric with that key exists.") from None
    return metric


def available_templates() -> dict[str, Path]:
    return {path.stem.replace("_", "-"): path for path in sorted(TEMPLATES_DIR.glob("*.yaml"))}


def _add_months(day: dt.date, months: int) -> dt.date:
    from apps.funding.services.reporting import _add_months as add

    return add(day, months)


def roadmap_template_load(*, organization, by, template: str = "seed-strategy", start=None) -> dict:
    """Fills the roadmap from a template: its phases (offsets in months from `start`, default today), their
    initiatives (owners by role) and the success metrics. Refused when the organization already has phases."""
    from apps.tenancy.models import Membership as M

    require(permissions.can_manage_roadmap(by, organization))
    templates = available_templates()
    if template not in templates:
        raise ValidationFailed.for_field("template", f"Unknown template. Choose one of: {', '.join(templates)}.")
    data = yaml.safe_load(templates[template].read_text(encoding="utf-8"))
    start = _date(start, field="start") if start else timezone.localdate()
    owners = {
        m.role: m.user
        for m in M.objects.filter(organization=organization).select_related("user").order_by("-user__username")
    }
    with transaction.atomic():
        if RoadmapPhase.objects.filter(organization=organization).exists():
            raise Conflict("This organization already has a roadmap; add phases to it instead of loading a template.")
        phases, initiatives = [], []
        for position, entry in enumerate(data["phases"]):
            phase_start = _add_months(start, entry["start_month"])
            phase_end = _add_months(start, entry["end_month"]) - dt.timedelta(days=1)
            phase = roadmap_phase_create(
                organization=organization,
                by=by,
                name=entry["name"],
                start=phase_start,
                end=phase_end,
                description=entry.get("description", ""),
                position=position,
            )
            phases.append(phase)
            for item in entry.get("initiatives", []):
                initiatives.append(
                    initiative_create(
                        phase=phase,
                        by=by,
                        title=item["title"],
                        due_date=phase_end,
                        owner=owners.get(item.get("owner_role")),
                        kpis=item.get("kpis", []),
                    )
                )
        metrics = [
            success_metric_create(organization=organization, by=by, position=index, **entry)
            for index, entry in enumerate(data.get("metrics", []))
            if not SuccessMetric.objects.filter(organization=organization, key=entry["key"]).exists()
        ]
    return {"phases": phases, "initiatives": initiatives, "metrics": metrics}
