"""CSV export of any API list: `?format=csv` or `Accept: text/csv` returns every row that matches the filters.

Columns hold raw values (ISO dates, codes rather than labels, decimals as written), so a spreadsheet or an
accounting import reads them back unchanged. Each viewset names its columns in `csv_columns`.
"""

import csv
import io
from collections.abc import Callable, Iterable
from operator import attrgetter

from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

CSV_MAX_ROWS = 100_000


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # Lists stream from CsvExportMixin; this renders anything else (an error, a single object) as key,value.
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if isinstance(data, dict):
            writer.writerow(["field", "value"])
            for key, value in data.items():
                writer.writerow([key, value])
        return buffer.getvalue().encode("utf-8")


class _Echo:
    def write(self, value):
        return value


def _cell(value):
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def csv_stream(rows: Iterable, columns: list[tuple[str, str | Callable]], filename: str) -> StreamingHttpResponse:
    getters = [(header, attrgetter(source) if isinstance(source, str) else source) for header, source in columns]
    writer = csv.writer(_Echo())

    def generate():
        yield writer.writerow([header for header, _ in getters])
        for row in rows:
            yield writer.writerow([_cell(getter(row)) for _, getter in getters])

    response = StreamingHttpResponse(generate(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CsvExportMixin:
    """For list viewsets: adds the CSV renderer and streams every filtered row when CSV is asked for."""

    csv_columns: list[tuple[str, str | Callable]] = []
    csv_filename = "export.csv"

    def get_renderers(self):
        return [*super().get_renderers(), CSVRenderer()]

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) == "csv":
            queryset = self.filter_queryset(self.get_queryset())[:CSV_MAX_ROWS]
            return csv_stream(queryset.iterator(chunk_size=2000), self.csv_columns, self.csv_filename)
        return super().list(request, *args, **kwargs)
