"""Charts as SVG, drawn by pygal on the server: the same drawing in the browser (inline, readable without
JavaScript) and in the PDF report.

The stylesheet is a short one of our own instead of pygal's default three: a report carries one chart per
milestone, and WeasyPrint parses each chart's stylesheet again, so a small one keeps a long report fast.
"""

import datetime as dt
import re

import pygal
from django.conf import settings
from django.utils.safestring import mark_safe
from pygal.style import Style

# The same colours as the .color-N rules of static/dashboard/charts.css.
COLORS = ("#0b5cad", "#2da44e", "#bf8700", "#a40e26", "#8250df", "#4a5560")
STYLE = Style(
    font_family='"DejaVu Sans", Verdana, sans-serif',
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#4a5560",
    colors=COLORS,
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=11,
    title_font_size=13,
    value_font_size=11,
)
# One stylesheet for both faces (its rules name the class every chart carries): the dashboard links the static file,
# the PDF copies it into each chart ("inline:" is taken as it is, with no per-chart id).
CHARTS_CSS = settings.BASE_DIR / "static" / "dashboard" / "charts.css"
CSS = "inline:" + CHARTS_CSS.read_text(encoding="utf-8")
BASE = {
    "style": STYLE,
    "css": [CSS],
    "js": [],  # pygal's tooltips would load a script from the internet; the charts are read as they are
    "disable_xml_declaration": True,
    "explicit_size": False,
    "legend_at_bottom": True,
    "legend_box_size": 10,
    "margin": 6,
    "print_values": False,
}


def _svg(chart, *, for_print: bool) -> str:
    # pygal gives every legend the same element id in every chart; a page (or a PDF) with several must not.
    svg = LEGEND_IDS.sub("", chart.render(is_unicode=True))
    # Its config <script> serves tooltips we do not load, and its one style="" hides a tooltip charts.css hides:
    # neither may be inline under the dashboard's Content-Security-Policy, nor the <style>, which the page links.
    svg = STYLE_ATTRIBUTES.sub("", SCRIPTS.sub("", svg))
    if for_print:
        # On paper the tooltips' data (a <desc> for each value) is never read: the PDF draws the chart with less.
        return mark_safe(TOOLTIP_DATA.sub("", svg))  # noqa: S308 - pygal escapes every label and value it draws
    return mark_safe(STYLESHEETS.sub("", svg))  # noqa: S308 - pygal escapes every label and value it draws


LEGEND_IDS = re.compile(r' id="activate-serie-\d+"')
SCRIPTS = re.compile(r"<script\b[^>]*>.*?</script>|<script\b[^>]*/>", re.DOTALL)
STYLESHEETS = re.compile(r"<style\b[^>]*>.*?</style>", re.DOTALL)
STYLE_ATTRIBUTES = re.compile(r' style="[^"]*"')
TOOLTIP_DATA = re.compile(r"<desc\b[^>]*>.*?</desc>", re.DOTALL)


def _compact(value) -> str:
    """Axis labels short enough not to be cut: 250k, 1.2M."""
    value = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def budget_chart(
    *, currency: str, budget, committed, released, disbursed, title: str = "", for_print: bool = False
) -> str:
    """Budget vs. committed vs. released vs. disbursed, as horizontal bars."""
    chart = pygal.HorizontalBar(
        **BASE,
        width=640,
        height=200,
        title=title or None,
        show_legend=True,
        value_formatter=_compact,
        show_y_guides=True,
        show_x_guides=False,
        max_scale=6,  # a few ticks on the value axis, readable at print size
        x_labels=[currency],
    )
    for label, value in (
        ("Budget", budget),
        ("Committed", committed),
        ("Released", released),
        ("Disbursed", disbursed),
    ):
        chart.add(label, [float(value or 0)])
    return _svg(chart, for_print=for_print)


def milestones_chart(*, currency: str, milestones: list[dict], for_print: bool = False) -> str:
    """Every milestone's amount and what was paid of it, one pair of bars per milestone, in due order.

    One chart for all milestones rather than one each: a report of fifty milestones stays a few seconds to print.
    """
    chart = pygal.HorizontalBar(
        **BASE,
        width=640,
        height=70 + 15 * max(1, len(milestones)),
        show_legend=True,
        show_x_guides=False,
        max_scale=6,  # a few ticks on the value axis, readable at print size
        truncate_label=38,
        value_formatter=_compact,
    )
    # Horizontal bars are drawn bottom-up: reversed, the first milestone is at the top, as in the list below.
    ordered = list(reversed(milestones))
    chart.x_labels = [f"{m['number']}. {m['title']}" for m in ordered]
    chart.add(f"Amount ({currency})", [float(m["amount"]) for m in ordered])
    chart.add("Disbursed", [float(m["amount_disbursed"] or 0) for m in ordered])
    return _svg(chart, for_print=for_print)


def verification_chart(*, devices: list[dict], threshold, unit: str = "%", for_print: bool = False) -> str:
    """Each device's value in a verification report against the criterion's threshold."""
    chart = pygal.Bar(
        **BASE,
        width=640,
        height=220,
        show_legend=True,
        x_label_rotation=30,
        truncate_label=18,
        show_x_guides=False,
        y_labels_major_count=5,
        show_minor_y_labels=False,
    )
    chart.x_labels = [str(device.get("key", "")) for device in devices]
    chart.add("Value", [float(device["value"]) if device.get("value") is not None else None for device in devices])
    chart.add("Threshold", [float(threshold)] * len(devices))
    return _svg(chart, for_print=for_print)


# Ticks of a time axis, per range: (step, label format). A day's chart ticks on the hour, longer ones at midnight.
TIME_TICKS = {
    "24h": (dt.timedelta(hours=3), "%H:%M"),
    "7d": (dt.timedelta(days=1), "%-d %b"),
    "30d": (dt.timedelta(days=5), "%-d %b"),
}


def time_ticks(start: dt.datetime, end: dt.datetime, range_key: str) -> list[dt.datetime]:
    """Round times within [start, end]: every 3 hours on the hour for a day, midnights (UTC) for longer ranges, so
    no label repeats and the axis spans the whole range whatever the data covers."""
    step, _ = TIME_TICKS.get(range_key, TIME_TICKS["24h"])
    if step < dt.timedelta(days=1):
        hours = int(step.total_seconds() // 3600)
        first = start.replace(minute=0, second=0, microsecond=0)
        first += dt.timedelta(hours=(-first.hour) % hours)
    else:
        first = start.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    if first < start:
        first += step
    ticks = []
    while first <= end:
        ticks.append(first)
        first += step
    return ticks


def utilization_chart(*, series: list[dict], start: dt.datetime, end: dt.datetime, range_key: str) -> str:
    """Average utilization (%) over time, one line per device kind; a plain sentence when there is nothing to draw.

    The x axis spans the chosen range (not only the hours with data) with round ticks from `time_ticks`."""
    if not any(entry["points"] for entry in series):
        return mark_safe('<p class="muted no-data">No samples in this range.</p>')
    _, label_format = TIME_TICKS.get(range_key, TIME_TICKS["24h"])
    chart = pygal.DateTimeLine(
        **BASE,
        width=640,
        height=260,
        range=(0, 100),
        show_legend=True,
        x_value_formatter=lambda moment: moment.strftime(label_format),
        x_labels=time_ticks(start, end, range_key),
        xrange=(start.timestamp(), end.timestamp()),
        show_x_guides=True,
        dots_size=1.5,
        y_labels_major_count=5,
        show_minor_y_labels=False,
    )
    for entry in series:
        chart.add(entry["label"], [(moment, value) for moment, value in entry["points"]])
    return _svg(chart, for_print=False)


def cost_trend_chart(*, days: list[dict], currency: str) -> str:
    """Daily compute cost and the part of it spent on idle GPU time (the compute economics page)."""
    chart = pygal.Line(
        **BASE,
        width=720,
        height=260,
        show_legend=True,
        value_formatter=_compact,
        x_label_rotation=0,
        show_minor_x_labels=False,
        x_labels=[day["day"].isoformat() for day in days],
        x_labels_major_every=max(1, len(days) // 6),
        truncate_label=-1,
        show_dots=len(days) < 60,
    )
    chart.add(f"Total cost ({currency})", [float(day["total_cost"] or 0) for day in days])
    chart.add(f"Idle cost ({currency})", [float(day["idle_cost"] or 0) for day in days])
    return _svg(chart, for_print=False)
