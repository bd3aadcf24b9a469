"""Every table govtrack writes or reads: CSV and XLSX exports of any app, and the compliance and risk imports.

Two ways out, one cell rule:
- `?format=csv` (or `Accept: text/csv`) on an API list streams every filtered row (`CsvExportMixin`, each
  viewset naming its `csv_columns`);
- `table_response` / `write_table` build a CSV or XLSX download that the import reads back (compliance findings,
  records of processing, risks).

Cells hold raw values (ISO dates, choice keys rather than labels, decimals as written, usernames), so a spreadsheet
or an accounting import reads them back unchanged. Every text cell goes through `cell_text`:
- text a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) gets a leading
  apostrophe, which `read_table` takes off again, so a title like "-20% cost" survives the round trip and runs
  nothing; numbers (int, Decimal, float) are written as numbers, so a refund of -2.50 stays a number;
- control characters that XLSX cannot hold (U+0000 to U+001F but tab, line feed and carriage return) are
  dropped, so one record cannot make a whole export fail.
Lines are numbered as a spreadsheet shows them: the header is line 1, the first record line 2.
"""

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

from apps.core.errors import ValidationFailed

FORMATS = ("csv", "xlsx")
CSV_MAX_ROWS = 100_000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The characters an XML 1.0 document (and so an XLSX sheet) cannot contain; openpyxl refuses the cell otherwise.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_XLSX_MAGIC = b"PK\x03\x04"

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


# --- cells ------------------------------------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Text that a spreadsheet would run as a formula, with a leading apostrophe."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _unescape(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value


def cell_text(value: Any) -> str:
    """One exported cell: raw value as text, control characters dropped, formulas neutralised (text only)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        # A date typed into Excel comes back as a midnight datetime.
        return text[:10] if text.endswith("T00:00:00") else text
    return neutralise(_CONTROL_CHARACTERS.sub("", str(value)))


def _read_text(value: Any) -> str:
    """A cell read from an import, as text (XLSX cells may be numbers, dates or booleans)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


# --- downloads that import back (compliance, risks) -------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


def import_failed(errors: Sequence[RowError], what: str) -> ValidationFailed:
    """The 400 of a refused import: every bad row, and nothing written."""
    count = len(errors)
    return ValidationFailed(
        f"The {what} file has {count} error{'s' if count != 1 else ''}; nothing was imported.",
        {"rows": [error.as_dict() for error in errors]},
    )


def write_table(rows: Iterable[Sequence[Any]], *, headers: Sequence[str], file_format: str, title: str) -> bytes:
    if file_format == "xlsx":
        return _write_xlsx(rows, headers=headers, title=title)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([cell_text(header) for header in headers])
    for row in rows:
        writer.writerow([cell_text(value) for value in row])
    return buffer.getvalue().encode("utf-8")


def _write_xlsx(rows: Iterable[Sequence[Any]], *, headers: Sequence[str], title: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append([cell_text(header) for header in headers])
    for row in rows:
        # Every cell is text, so nothing is reinterpreted (a ref like "1-2" as a date, a long id as a number).
        sheet.append([cell_text(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def table_response(rows, *, headers: Sequence[str], file_format: str, filename: str) -> HttpResponse:
    """An HTTP download of the table (CSV or XLSX)."""
    if file_format not in FORMATS:
        raise ValidationFailed.for_field("file_format", f"Choose one of: {', '.join(FORMATS)}.")
    content = write_table(rows, headers=headers, file_format=file_format, title=filename)
    response = HttpResponse(content, content_type=CONTENT_TYPES[file_format])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{file_format}"'
    return response


def read_table(upload, *, required: Sequence[str], known: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """Parses an uploaded CSV or XLSX into (line, {column: text}); a file that cannot be read is a 400."""
    if upload is None:
        raise ValidationFailed.for_field("file", "Attach a CSV or XLSX file as 'file'.")
    if upload.size > MAX_IMPORT_BYTES:
        raise ValidationFailed.for_field("file", f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
    raw = upload.read()
    name = (getattr(upload, "name", "") or "").lower()
    is_xlsx = raw.startswith(_XLSX_MAGIC) or name.endswith(".xlsx")
    table = _read_xlsx(raw) if is_xlsx else _read_csv(raw)
    if not table:
        raise ValidationFailed.for_field("file", "The file is empty: it needs a header line.")
    headers = [(_read_text(cell) or "").strip() for cell in table[0]]
    header_errors = [RowError(1, column, "Missing column.") for column in required if column not in headers]
    header_errors += [
        RowError(1, column, f"Unknown column. Known columns: {', '.join(known)}.")
        for column in headers
        if column and column not in known
    ]
    if header_errors:
        raise import_failed(header_errors, "import")
    records = []
    for index, cells in enumerate(table[1:], start=2):
        texts = [_unescape(_read_text(cell).strip()) for cell in cells]
        if not any(texts):
            continue  # blank lines are common at the end of a spreadsheet
        texts += [""] * (len(headers) - len(texts))
        records.append((index, {column: texts[pos] for pos, column in enumerate(headers) if column}))
    if len(records) > MAX_IMPORT_ROWS:
        raise ValidationFailed.for_field("file", f"At most {MAX_IMPORT_ROWS} rows can be imported at once.")
    return records


def _read_csv(raw: bytes) -> list[list[str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.for_field("file", "The CSV file is not UTF-8 text.") from None
    if "\x00" in text:
        raise ValidationFailed.for_field("file", "The file is neither CSV text nor an XLSX workbook.")
    try:
        return list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ValidationFailed.for_field("file", f"The CSV file cannot be read: {exc}.") from None


def _read_xlsx(raw: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many types for a damaged or foreign file
        raise ValidationFailed.for_field("file", "The XLSX file cannot be read (damaged or not a workbook).") from None
    try:
        sheet = workbook.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(";") if item.strip()]


def join_list(items: Sequence[str]) -> str:
    return "; ".join(items)


# --- ?format=csv on any API list -------------------------------------------------------------------------------


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
                writer.writerow([cell_text(key), cell_text(value)])
        return buffer.getvalue().encode("utf-8")


class _Echo:
    def write(self, value):
        return value


def csv_stream(rows: Iterable, columns: list[tuple[str, str | Callable]], filename: str) -> StreamingHttpResponse:
    getters = [(header, attrgetter(source) if isinstance(source, str) else source) for header, source in columns]
    writer = csv.writer(_Echo())

    def generate():
        yield writer.writerow([header for header, _ in getters])
        for row in rows:
            yield writer.writerow([cell_text(getter(row)) for _, getter in getters])

    response = StreamingHttpResponse(generate(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CsvExportMixin:
    """For list viewsets: adds the CSV renderer and streams every filtered row when CSV is asked for."""

    csv_columns: list[tuple[str, str | Callable]] = []
    csv_filename = "export.csv"

    def get_renderers(self):
        # Only the list is a table: a single object, a write or an action answers JSON (and so says the schema).
        if getattr(self, "action", None) != "list":
            return super().get_renderers()
        return [*super().get_renderers(), CSVRenderer()]

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) == "csv":
            queryset = self.filter_queryset(self.get_queryset())[:CSV_MAX_ROWS]
            return csv_stream(queryset.iterator(chunk_size=2000), self.csv_columns, self.csv_filename)
        return super().list(request, *args, **kwargs)
