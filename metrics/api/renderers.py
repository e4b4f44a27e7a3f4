"""``?format=csv`` and ``?format=xlsx`` for list endpoints (formulas neutralised)."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import BaseRenderer

from metrics.api import exports


def _table(data: Any, context: Any) -> tuple[list[str], list[list[Any]]]:
    if isinstance(data, dict) and "results" in data:
        data = data["results"]
    if isinstance(data, dict):  # an error body
        return ["detail"], [[data.get("detail", "")]]
    rows = list(data or [])
    view = (context or {}).get("view")
    header = list(getattr(view, "export_columns", ()) or (rows[0] if rows else ()))
    return header, [[row.get(h) for h in header] for row in rows]


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Any = None,
    ) -> bytes:
        header, rows = _table(data, renderer_context)
        return exports.csv_bytes(header, rows)


class XLSXRenderer(BaseRenderer):
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    format = "xlsx"
    charset = None
    render_style = "binary"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Any = None,
    ) -> bytes:
        header, rows = _table(data, renderer_context)
        return exports.xlsx_bytes(header, rows)
