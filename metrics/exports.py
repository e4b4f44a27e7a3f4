"""Spreadsheet-safe exports (CSV/XLSX): formula neutralisation and masking.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read as a formula by Excel, LibreOffice and Google Sheets ("CSV
injection"): a team called ``=HYPERLINK(...)`` would run when the export is
opened. Such text cells get a leading apostrophe, which spreadsheets read as
"this is text". Plain numbers (``-12.5``) are not formulas and stay numbers,
so negative values still sum.

Values come out masked for the reader exactly as on the admin's list pages
(:func:`governance.display.apply_masks_many`): nothing above their clearance,
and no Restricted plaintext in bulk at all. Nothing here logs a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import tablib

from governance import display, permissions
from governance.crypto.fields import Masked

#: Characters that make a spreadsheet cell a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def neutralise(value: Any) -> Any:
    """The cell value, with text that a spreadsheet would run made inert."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


#: Control characters XLSX can't hold (openpyxl refuses them, and its error
#: would quote the cell): dropped from every exported cell.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value: Any) -> Any:
    """Neutralised, and without characters a workbook can't hold."""
    if isinstance(value, str):
        value = _ILLEGAL.sub("", value)
    return neutralise(value)


def neutralise_row(row: Sequence[Any]) -> list[Any]:
    return [safe_cell(cell) for cell in row]


def neutralise_dataset(dataset: tablib.Dataset) -> tablib.Dataset:
    """A copy of ``dataset`` with every cell (headers included) neutralised."""
    safe = tablib.Dataset(
        headers=neutralise_row(dataset.headers) if dataset.headers else None,
        title=dataset.title,
    )
    for row in dataset:
        safe.append(neutralise_row(row))
    return safe


def masked_rows(objs: Iterable[Any], user: Any) -> list[Any]:
    """``objs`` with every encrypted value ``user`` may not read masked."""
    rows = list(objs)
    display.apply_masks_many(rows, user)
    return rows


def reader_value(observation: Any, user: Any) -> Any:
    """An observation's value as ``user`` may see it.

    Sealed values come masked from :func:`governance.display.apply_masks`;
    plain (Public/Internal) values are masked here when the reader's
    clearance is below the observation's classification (never for the
    data subject reading their own).
    """
    if observation.value_plain is not None and not permissions.can_read_level(
        user, int(observation.classification or 0), subject_id=observation.person_id
    ):
        return Masked(int(observation.classification))
    return observation.value


def cell_text(value: Any) -> Any:
    """A number as a plain number (``120``, not ``120.0000``); a masked or
    erased marker as its label."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return Decimal(format(value.normalize(), "f"))
    return str(value)
