"""CSV and XLSX bytes for API exports, formulas neutralised.

The rule itself (a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading apostrophe; numbers stay numbers) is
:func:`metrics.exports.neutralise`, shared with the admin's exports.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any


def neutralise(value: Any) -> Any:
    """A cell value safe to open in a spreadsheet."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    from metrics.exports import neutralise as neutralise_text  # the admin's rule

    return neutralise_text(str(value))


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
    # A byte-order mark so spreadsheet programs read UTF-8 (masked values use •).
    return ("\ufeff" + buffer.getvalue()).encode()


def xlsx_bytes(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "Export"
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])

    def cells(values: Sequence[Any]) -> list[Any]:
        out = []
        for value in values:
            safe = neutralise(value)
            if isinstance(safe, Decimal):
                safe = float(safe)
            cell = WriteOnlyCell(sheet, value=safe)
            if isinstance(safe, str):
                cell.data_type = "s"  # never a formula, whatever the text
            out.append(cell)
        return out

    sheet.append(cells(header))
    for row in rows:
        sheet.append(cells(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
