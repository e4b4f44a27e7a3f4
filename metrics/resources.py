"""Observation files: CSV/XLSX export (django-import-export) and import parsing.

Export goes through :class:`ObservationExportResource`: only the rows the admin
let through (``visible_to``), values masked for the reader, every text cell
neutralised against spreadsheet formulas (:mod:`metrics.exports`).

Import is all-or-nothing through the metrics write path: :func:`read_rows`
turns a file into canonical rows (file line numbers kept, the header being
line 1), and the admin hands them to ``metrics.services.validate_rows`` /
``record_observations``, which report every bad row and store nothing when one
is wrong. django-import-export's own import (row by row, saving each instance)
would bypass that path, so it is not used for import.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from typing import Any

from django.db.models import F
from django.utils import timezone
from import_export import fields, resources

from governance import pseudonyms
from metrics.exports import cell_text, masked_rows, neutralise_row, reader_value
from metrics.models import Observation

#: Largest file accepted (Django itself sets no limit on uploaded files).
MAX_IMPORT_BYTES = 5 * 1024 * 1024
#: Largest number of data rows in one file.
MAX_IMPORT_ROWS = 50_000
IMPORT_FORMATS = ("csv", "xlsx")
_XLSX_MAGIC = b"PK\x03\x04"


class ObservationExportResource(resources.ModelResource):
    """One line per observation, as the reader may see it."""

    metric = fields.Field(attribute="metric__key", column_name="metric")
    employee_id = fields.Field(
        attribute="person__employee_id", column_name="employee_id"
    )
    team = fields.Field(attribute="team__name", column_name="team")
    value = fields.Field(column_name="value")
    unit = fields.Field(attribute="metric__unit", column_name="unit")
    classification = fields.Field(column_name="classification")
    source = fields.Field(attribute="source__code", column_name="source")
    supersedes = fields.Field(attribute="supersedes_id", column_name="supersedes")

    class Meta:
        model = Observation
        fields = (
            "id",
            "metric",
            "employee_id",
            "team",
            "period_start",
            "period_end",
            "value",
            "unit",
            "status",
            "classification",
            "source",
            "methodology_version",
            "entered_at",
            "supersedes",
            "correction_reason",
        )
        export_order = fields
        chunk_size = 500

    def __init__(self, user: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = user
        self._columns: dict[Any, list[str]] = {}

    def export_resource(
        self, instance: Observation, selected_fields: Any = None, **kwargs: Any
    ) -> list[Any]:
        """The row, built straight from the instance (no per-cell widget) and
        made spreadsheet-safe cell by cell."""
        columns = self._columns.get(selected_fields)
        if columns is None:
            columns = self._columns[selected_fields] = [
                field.column_name for field in self.get_export_fields(selected_fields)
            ]
        row = self.row(instance)
        return neutralise_row([row[name] for name in columns])

    def get_export_headers(self, selected_fields: Any = None) -> list[str]:
        return neutralise_row(super().get_export_headers(selected_fields))

    def row(self, obs: Observation) -> dict[str, Any]:
        entered = timezone.localtime(obs.entered_at) if obs.entered_at else None
        labels = obs.__dict__
        return {
            "id": obs.pk,
            "metric": labels["export_metric_key"],
            "employee_id": pseudonyms.identity_for(
                self.user, obs.person_id, labels["export_employee_id"]
            ),
            "team": labels["export_team"],
            "period_start": obs.period_start,
            "period_end": obs.period_end,
            "value": cell_text(reader_value(obs, self.user)),
            "unit": labels["export_metric_unit"],
            "status": obs.status,
            "classification": obs.get_classification_display(),
            "source": labels["export_source"],
            "methodology_version": obs.methodology_version,
            "entered_at": entered.strftime("%Y-%m-%d %H:%M:%S") if entered else None,
            "supersedes": obs.supersedes_id,
            "correction_reason": obs.correction_reason,
        }

    def iter_queryset(self, queryset: Any) -> Iterator[Observation]:
        """Pages by primary key: each page gets its data keys in one query
        and is masked for the reader before a value is read."""
        if self.user is None:
            raise PermissionError("An export needs the reader, to mask values.")
        # Related labels come as columns of the row, not as model instances.
        queryset = queryset.select_related(None).annotate(
            export_metric_key=F("metric__key"),
            export_metric_unit=F("metric__unit"),
            export_employee_id=F("person__employee_id"),
            export_team=F("team__name"),
            export_source=F("source__code"),
        )
        size = self.get_chunk_size()
        last = None
        while True:
            page_qs = queryset.order_by("pk")
            if last is not None:
                page_qs = page_qs.filter(pk__gt=last)
            page = masked_rows(page_qs[:size], self.user)
            if not page:
                return
            yield from page
            last = page[-1].pk


# -- import parsing -------------------------------------------------------------


class ImportFileError(ValueError):
    """The file can't be read at all (wrong type, too big, no header)."""


def _clean_header(value: Any) -> str:
    return str(value or "").strip().lower()


def _clean_cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _rows_from_table(table: list[list[Any]]) -> list[dict[str, Any]]:
    if not table:
        raise ImportFileError("The file is empty.")
    headers = [_clean_header(h) for h in table[0]]
    while headers and not headers[-1]:
        headers.pop()
    if not any(headers):
        raise ImportFileError("The first line must name the columns.")
    if "" in headers:
        raise ImportFileError("Every column needs a name in the first line.")
    duplicated = sorted({h for h in headers if headers.count(h) > 1})
    if duplicated:
        raise ImportFileError(f"Columns named twice: {', '.join(duplicated)}.")
    body = table[1:]
    # Trailing blank lines (spreadsheets keep them) are not rows; blank lines
    # in the middle stay, so every row keeps its line number.
    while body and all(_clean_cell(c) is None for c in body[-1]):
        body.pop()
    if len(body) > MAX_IMPORT_ROWS:
        raise ImportFileError(
            f"The file has {len(body)} rows; import at most {MAX_IMPORT_ROWS} at a time."
        )
    rows = []
    for line in body:
        cells = list(line)[: len(headers)]
        cells += [None] * (len(headers) - len(cells))
        extra = [c for c in list(line)[len(headers) :] if _clean_cell(c) is not None]
        row = {h: _clean_cell(c) for h, c in zip(headers, cells, strict=True)}
        if extra:
            row["(unnamed column)"] = extra[0]
        rows.append(row)
    return rows


def _read_csv(content: bytes) -> list[list[Any]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError("CSV files must be UTF-8 encoded.") from exc
    header = text.split("\n", 1)[0]
    # The header names the columns: its most frequent separator is the file's.
    delimiter = max(",;\t", key=header.count)
    try:
        return list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise ImportFileError(f"The CSV file can't be read: {exc}.") from exc


def _read_xlsx(content: bytes) -> list[list[Any]]:
    import openpyxl

    if not content.startswith(_XLSX_MAGIC):
        raise ImportFileError("This is not an XLSX workbook.")
    try:
        book = openpyxl.load_workbook(
            io.BytesIO(content), read_only=True, data_only=True
        )
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError("The workbook can't be read.") from exc
    try:
        sheet = book.worksheets[0]
        table = []
        for row in sheet.iter_rows(values_only=True):
            table.append(list(row))
            if len(table) > MAX_IMPORT_ROWS + 1:
                break
        return table
    finally:
        book.close()


def detect_format(name: str, content: bytes) -> str:
    lowered = (name or "").lower()
    if lowered.endswith(".xlsx") or content.startswith(_XLSX_MAGIC):
        return "xlsx"
    if lowered.endswith((".csv", ".txt")) or not lowered.rpartition(".")[1]:
        return "csv"
    raise ImportFileError("Upload a CSV (.csv) or Excel (.xlsx) file.")


def read_rows(name: str, content: bytes) -> list[dict[str, Any]]:
    """The data rows of an uploaded file as ``{column: value}``; row ``i``
    (0-based) is line ``i + 2`` of the file."""
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportFileError(
            f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB."
        )
    fmt = detect_format(name, content)
    table = _read_xlsx(content) if fmt == "xlsx" else _read_csv(content)
    return _rows_from_table(table)
