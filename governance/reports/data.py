"""The data behind a report, embedded in the PDF as PDF/A-3 associated files.

No Django imports: these are plain values and encoders. JSON is always
embedded (it is the machine-readable record of what the report shows); CSV is
added for tabular sections so an auditor can open them in a spreadsheet.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: AFRelationship values PDF/A-3 allows for an associated file (ISO 32000-2 7.11.3).
RELATIONSHIPS = frozenset(
    {
        "Source",
        "Data",
        "Alternative",
        "Supplement",
        "EncryptedPayload",
        "FormData",
        "Schema",
        "Unspecified",
    }
)

#: Leading characters that make a spreadsheet evaluate a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DataFile:
    """One file embedded in the report.

    ``relationship`` is the PDF/A-3 AFRelationship: ``Data`` for the data a
    table or chart is drawn from, ``Source`` for the source a report was made
    from (e.g. an original submission).
    """

    name: str
    content: bytes
    mime_type: str
    description: str
    relationship: str = "Data"

    def __post_init__(self) -> None:
        if self.relationship not in RELATIONSHIPS:
            raise ValueError(
                f"AFRelationship {self.relationship!r} is not one of {sorted(RELATIONSHIPS)}"
            )
        if not self.name or "/" in self.name or "\\" in self.name:
            raise ValueError(f"attachment name {self.name!r} must be a plain file name")

    @property
    def is_json(self) -> bool:
        return self.mime_type == "application/json"


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        # Exact decimal text: floats would silently round what the report shows.
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json_bytes(data: Any) -> bytes:
    """Canonical JSON: sorted keys, UTF-8, decimals as exact strings."""
    return json.dumps(
        data,
        default=_default,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def json_data(
    name: str,
    data: Any,
    *,
    description: str = "Data behind this report",
    relationship: str = "Data",
) -> DataFile:
    if not name.endswith(".json"):
        name += ".json"
    return DataFile(
        name, to_json_bytes(data), "application/json", description, relationship
    )


def neutralise_cell(value: Any) -> str:
    """Text for one CSV cell. Strings that a spreadsheet would run as a formula
    get a leading apostrophe; numbers keep their sign (a negative number is
    data, not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_data(
    name: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any] | Mapping[str, Any]],
    *,
    description: str = "Table behind this report",
    relationship: str = "Data",
) -> DataFile:
    if not name.endswith(".csv"):
        name += ".csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise_cell(h) for h in header])
    for row in rows:
        values = [row.get(h) for h in header] if isinstance(row, Mapping) else list(row)
        writer.writerow([neutralise_cell(v) for v in values])
    return DataFile(
        name, buffer.getvalue().encode("utf-8"), "text/csv", description, relationship
    )
