"""Charts for reports: a matplotlib figure as a ``data:`` URI for ``<img>``.

No Django imports. SVG keeps charts vector and sharp in the PDF; matplotlib
draws SVG text as paths (``svg.fonttype = "path"``), so a chart needs no font
in the PDF. Use the Agg backend (no display) in workers and scripts.
"""

from __future__ import annotations

import base64
import io
from typing import Any


def figure_data_uri(figure: Any, *, fmt: str = "svg", dpi: int = 150) -> str:
    """Render ``figure`` and return ``data:image/svg+xml;base64,...`` (or PNG)."""
    if fmt not in ("svg", "png"):
        raise ValueError("fmt must be 'svg' or 'png'")
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "report"}):
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        figure.savefig(
            buffer, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata
        )
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
