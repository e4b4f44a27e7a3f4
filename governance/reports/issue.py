"""Issue a report: render it, then record its SHA-256 in the audit trail.

Rendering can take a while and holds no database transaction; the event is
written afterwards in its own transaction. If recording fails the file is
deleted, so no report exists that ``verify_report`` would not recognise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import models, transaction

from . import audit
from .data import DataFile
from .render import ProgressCallback, RenderedReport, ReportSpec, render_report


@dataclass(frozen=True)
class IssuedReport:
    rendered: RenderedReport
    event: Any


def issue_report(
    spec: ReportSpec,
    chunks: Iterable[str],
    *,
    data: Sequence[DataFile],
    out: Path | str,
    actor: Any,
    target: models.Model | None = None,
    reason: str = "",
    progress: ProgressCallback | None = None,
    total_chunks: int | None = None,
    **render_options: Any,
) -> IssuedReport:
    rendered = render_report(
        spec,
        chunks,
        data=data,
        out=out,
        progress=progress,
        total_chunks=total_chunks,
        **render_options,
    )
    try:
        with transaction.atomic():
            event = audit.report_issued(
                actor=actor,
                report_type=spec.report_type,
                sha256=rendered.sha256,
                pages=rendered.pages,
                classification=spec.marking,
                size=rendered.size,
                target=target,
                reason=reason,
            )
    except BaseException:
        rendered.path.unlink(missing_ok=True)
        raise
    return IssuedReport(rendered=rendered, event=event)
