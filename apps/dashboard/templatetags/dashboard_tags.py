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
    return f"{value:,.2f}"


@register.filter
def short_hash(value: str) -> str:
    return f"{value[:12]}…" if value and len(value) > 12 else value or ""


@register.filter
def css_string(value) -> str:
    """Text for a CSS string in double quotes inside <style> (the report's running headers): CSS-escaped, and
    safe as it is, since HTML entities mean nothing inside <style>; "<" is escaped so "</style>" cannot occur."""
    text = str(value or "")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("<", "\\3C ")
    return mark_safe(escaped)  # noqa: S308 - escaped for the CSS string it goes into
