import functools
from decimal import Decimal

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def get_stage(cell: dict, stage: str):
    """A heat map cell's count for one stage (inherent, current, residual)."""
    return cell.get(stage, 0)


@register.filter
def money(value) -> str:
    """An amount with thousands separators and its two decimals (never a float)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):  # figures stored as text (a period report's financial part)
        value = Decimal(value)
    return f"{value:,.2f}"


@functools.cache
def _labels() -> dict:
    from apps.compliance.models import AuditStatus
    from apps.economics.models import MetricDirection
    from apps.economics.selectors import STATUS_LABELS
    from apps.escrow.models import ChainTxKind, ChainTxStatus
    from apps.funding.models import (
        ApprovalPurpose,
        Assessment,
        BudgetCategory,
        CriterionKind,
        CriterionStatus,
        DisbursementKind,
        FocusArea,
        GrantStatus,
        Instrument,
        InvestmentStatus,
        MilestoneStatus,
        PeriodStatus,
    )
    from apps.risks.models import RiskStatus
    from apps.tenancy.models import Role

    kinds = {
        "grant": GrantStatus,
        "investment": InvestmentStatus,
        "milestone": MilestoneStatus,
        "criterion": CriterionStatus,
        "criterion_kind": CriterionKind,
        "approval": ApprovalPurpose,
        "disbursement": DisbursementKind,
        "focus": FocusArea,
        "risk": RiskStatus,
        "audit": AuditStatus,
        "role": Role,
        "instrument": Instrument,
        "assessment": Assessment,
        "budget_category": BudgetCategory,
        "period": PeriodStatus,
        "chain_tx": ChainTxKind,
        "chain_status": ChainTxStatus,
        "direction": MetricDirection,
    }
    return {kind: dict(choices.choices) for kind, choices in kinds.items()} | {"scorecard": STATUS_LABELS}


@register.filter
def label(code, kind: str) -> str:
    """A stored code in words ("in_progress" -> "In progress"), for the report and the pages."""
    labels = _labels().get(kind, {})
    return labels.get(code, str(code or "").replace("_", " ").capitalize())


COMPARISON_SIGNS = {"gte": "≥", "gt": ">", "lte": "≤", "lt": "<", "eq": "="}


@register.filter
def kpi_rule(config: dict) -> str:
    """A KPI criterion's rule in words: "Revenue (sum) ≥ 100000, 1 Jan 2026 to 31 Mar 2026"."""
    import datetime as dt

    from apps.funding.models import KpiMetric

    config = config or {}
    metric = dict(KpiMetric.choices).get(config.get("metric"), config.get("metric", ""))
    sign = COMPARISON_SIGNS.get(config.get("comparison"), config.get("comparison", ""))
    try:
        start, end = (dt.date.fromisoformat(config[k]).strftime("%-d %b %Y") for k in ("period_start", "period_end"))
    except (KeyError, TypeError, ValueError):
        start = end = "?"
    return f"{metric} ({config.get('aggregation', 'latest')}) {sign} {config.get('threshold', '')}, {start} to {end}"


@register.filter
def short_hash(value: str) -> str:
    return f"{value[:12]}…" if value and len(value) > 12 else value or ""


@register.filter
def css_string(value) -> str:
    """Text for a CSS string in double quotes inside <style> (the report's running headers). Every character but
    an ASCII letter, digit or space is written as a CSS escape, "\\<hex> " (CSS Syntax 3, 4.3.7): a quote, a
    backslash, a newline of any kind (\\n, \\r, \\f), "}" or "<" cannot end the string, the rule or the <style>
    element, so a title reaches the page as text and nothing else. HTML entities mean nothing inside <style>."""
    return mark_safe("".join(_css_char(char) for char in str(value or "")))  # noqa: S308 - every char escaped


def _css_char(char: str) -> str:
    if char.isascii() and (char.isalnum() or char == " "):
        return char
    code = ord(char)
    # U+0000 and lone surrogates are not allowed in CSS; they would be read as U+FFFD anyway.
    if code == 0 or 0xD800 <= code <= 0xDFFF:
        code = 0xFFFD
    return f"\\{code:x} "
