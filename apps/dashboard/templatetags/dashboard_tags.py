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
