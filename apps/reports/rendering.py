"""HTML to PDF with WeasyPrint, from templates/reports/ (a grant's or an investment's report, one layout): fonts
embedded from local files, page numbers, A4 or Letter.

WeasyPrint fetches what a page links to (stylesheets, images, fonts). A report links only to its fonts and to its
charts (SVG images in data: URLs), so its fetcher refuses everything else: no network at all, and no file outside
the font directory and the bundled static files, whatever text a grant title carries.
"""

import base64
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from apps.dashboard import charts
from apps.reports.models import PageSize

FONT_FILES = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
}


def _local_roots() -> list[Path]:
    return [Path(settings.REPORTS_FONT_DIR).resolve(), *(Path(d).resolve() for d in settings.STATICFILES_DIRS)]


def report_url_fetcher():
    """A WeasyPrint URL fetcher that reads only data: URLs and files under the font and static directories."""
    from weasyprint.urls import URLFetcher

    class LocalFilesFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file" and parts.netloc in ("", "localhost"):
                path = Path(unquote(parts.path)).resolve()
                if any(path.is_relative_to(root) for root in _local_roots()):
                    return super().fetch(url, headers)
            raise ValueError(f"The report does not fetch {url[:200]}: only its own fonts and static files.")

    return LocalFilesFetcher(allowed_protocols=("file", "data"), allow_redirects=False)


def font_urls() -> dict:
    return {name: (settings.REPORTS_FONT_DIR / filename).as_uri() for name, filename in FONT_FILES.items()}


# The report's template and the data key of what it reports on.
REPORT_KINDS = {"grant": "reports/grant_report.html", "investment": "reports/investment_report.html"}


def report_kind(data: dict) -> str:
    return next(kind for kind in REPORT_KINDS if kind in data)


def as_image(svg: str) -> str:
    """A chart as an image of its SVG: WeasyPrint draws it the same, without cascading the report's stylesheets over
    each element of the chart as it does for SVG inline in the HTML (about an eighth of a long report's work)."""
    encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return mark_safe(f'<img alt="Chart" src="data:image/svg+xml;base64,{encoded}">')  # noqa: S308 - base64 only


def report_charts(data: dict, progress=None) -> dict:
    """The SVG charts of the report, drawn by pygal: the budget, all milestones, and each verification report."""
    currency = data[report_kind(data)]["currency"]
    budget = data["budget"]
    result = {
        "budget": as_image(
            charts.budget_chart(
                currency=currency,
                budget=budget["budget"],
                committed=budget["committed"],
                released=budget["released"],
                disbursed=budget["disbursed"],
                for_print=True,
            )
        ),
        # Thirty milestones a chart: a chart is an image, which a page cannot split.
        "milestones": [
            as_image(
                charts.milestones_chart(
                    currency=currency,
                    milestones=[
                        {**m, "number": start + n + 1} for n, m in enumerate(data["milestones"][start : start + 30])
                    ],
                    for_print=True,
                )
            )
            for start in range(0, max(1, len(data["milestones"])), 30)
        ],
        "verification": {},
    }
    count = len(data["milestones"]) or 1
    for index, milestone in enumerate(data["milestones"]):
        result["verification"][str(milestone["id"])] = [
            as_image(
                charts.verification_chart(devices=report["devices"], threshold=report["threshold"] or 0, for_print=True)
            )
            for report in milestone["verification"]
            if report["devices"]
        ]
        if progress is not None:
            progress(10 + int(50 * (index + 1) / count))
    return result


def render_pdf(*, data: dict, data_hash: str, generated_at, page_size: str = PageSize.A4, progress=None) -> bytes:
    drawn = report_charts(data, progress=progress)
    milestones = [
        {**milestone, "verification_charts": drawn["verification"][str(milestone["id"])]}
        for milestone in data["milestones"]
    ]
    kind = report_kind(data)
    html = render_to_string(
        REPORT_KINDS[kind],
        {
            "data": data,
            "parent": data[kind],
            "noun": kind,
            "milestones": milestones,
            "budget_chart": drawn["budget"],
            "milestones_chart": drawn["milestones"],
            "data_hash": data_hash,
            "generated_at": generated_at,
            "page_size": "letter" if page_size == PageSize.LETTER else "A4",
            "fonts": font_urls(),
        },
    )
    if progress is not None:
        progress(70)
    from weasyprint import HTML  # imported here: loading it costs a second that pages which never print skip

    return HTML(string=html, base_url=str(settings.BASE_DIR), url_fetcher=report_url_fetcher()).write_pdf()
