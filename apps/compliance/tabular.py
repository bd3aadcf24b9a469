"""CSV and XLSX in and out, for exports that import back unchanged.

Cells hold raw values (choice keys, ISO dates, usernames), never display labels. Text that a spreadsheet
would run as a formula (starting with = + - @ or a control character) is written with a leading apostrophe,
which reading takes off again, so a title like "-20% cost" survives the round trip and runs nothing.
Lines are numbered as a spreadsheet shows them: the header is line 1, the first record line 2.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from apps.core.errors import ValidationFailed

FORMATS = ("csv", "xlsx")
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XLSX_MAGIC = b"PK\x03\x04"

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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


def _escape(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _unescape(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        # A date typed into Excel comes back as a midnight datetime.
        return text[:10] if text.endswith("T00:00:00") else text
    return str(value)


def write_table(rows: Iterable[Sequence[Any]], *, headers: Sequence[str], file_format: str, title: str) -> bytes:
    if file_format == "xlsx":
        return _write_xlsx(rows, headers=headers, title=title)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_escape(_cell_text(value)) for value in row])
    return buffer.getvalue().encode("utf-8")


def _write_xlsx(rows: Iterable[Sequence[Any]], *, headers: Sequence[str], title: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(list(headers))
    for row in rows:
        # Every cell is text, so nothing is reinterpreted (a ref like "1-2" as a date, a long id as a number).
        sheet.append([_escape(_cell_text(value)) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


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
    headers = [(_cell_text(cell) or "").strip() for cell in table[0]]
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
        texts = [_unescape(_cell_text(cell).strip()) for cell in cells]
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


def table_response(rows, *, headers: Sequence[str], file_format: str, filename: str):
    """An HTTP download of the table (CSV or XLSX)."""
    from django.http import HttpResponse

    if file_format not in FORMATS:
        raise ValidationFailed.for_field("file_format", f"Choose one of: {', '.join(FORMATS)}.")
    content = write_table(rows, headers=headers, file_format=file_format, title=filename)
    response = HttpResponse(content, content_type=CONTENT_TYPES[file_format])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{file_format}"'
    return response
