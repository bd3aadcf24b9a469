"""One way for every dashboard list: search, sort, pages and a CSV export of the same filtered rows.

A view builds its filtered queryset (the filters are a Django form read from the URL), then hands it to
`list_page` with the list's columns. The search box (`q`), the sort (`sort`, `-` for descending), the page and
`format=csv` all travel in the query string, so a filtered, sorted list is a link one can keep or send; the
export streams through `apps.core.tabular.csv_stream`, with the cell rule every govtrack export follows.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet

from apps.core.tabular import CSV_MAX_ROWS, csv_stream

PAGE_SIZE = 25


@dataclass(frozen=True)
class Column:
    key: str  # the sort key in the URL
    label: str
    order_by: str | None = None  # the ORM field it sorts by; None: not sortable
    export: str | Callable | None = None  # the attribute (or function of the row) written to the CSV
    css: str = ""  # "num", "hide-small"


def search_text(request) -> str:
    return (request.GET.get("q") or "").strip()[:100]


def searched(request, queryset: QuerySet, fields: tuple[str, ...]) -> QuerySet:
    """The rows whose fields contain the search box's text (any of them, case-insensitive)."""
    text = search_text(request)
    if not text or not fields:
        return queryset
    return queryset.filter(reduce(or_, (Q(**{f"{field}__icontains": text}) for field in fields)))


def list_page(
    request,
    queryset: QuerySet,
    *,
    columns: list[Column],
    search: tuple[str, ...],
    default_sort: str,
    filename: str,
    page_size: int = PAGE_SIZE,
):
    """Returns the CSV download when asked for (`format=csv`), else the page's context: rows, pager, headers."""
    text = search_text(request)
    queryset = searched(request, queryset, search)
    by_key = {column.key: column for column in columns if column.order_by}
    sort = request.GET.get("sort") or default_sort
    column = by_key.get(sort.lstrip("-"))
    if column is None:
        sort, column = default_sort, by_key[default_sort.lstrip("-")]
    descending = sort.startswith("-")
    queryset = queryset.order_by(f"{'-' if descending else ''}{column.order_by}", "pk")
    if request.GET.get("format") == "csv":
        exported = [(c.label, c.export) for c in columns if c.export is not None]
        return csv_stream(queryset[:CSV_MAX_ROWS].iterator(chunk_size=2000), exported, f"{filename}.csv")
    page_obj = Paginator(queryset, page_size).get_page(request.GET.get("page"))
    query = request.GET.copy()
    for name in ("page", "format"):
        query.pop(name, None)
    headers = []
    for c in columns:
        current = c.key == column.key
        next_sort = f"-{c.key}" if current and not descending else c.key
        link = query.copy()
        link["sort"] = next_sort
        headers.append(
            {
                "label": c.label,
                "css": c.css,
                "url": f"?{link.urlencode()}" if c.order_by else "",
                "sorted": ("descending" if descending else "ascending") if current else "",
            }
        )
    export = query.copy()
    export["format"] = "csv"
    return {
        "page_obj": page_obj,
        "rows": list(page_obj.object_list),
        "query": query.urlencode(),
        "headers": headers,
        "q": text,
        "export_url": f"?{export.urlencode()}",
    }
