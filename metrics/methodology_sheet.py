"""The metric methodology sheet (R.PDF): one metric's methodology as a PDF.

The sheet shows the metric's identity, its current approved methodology
document (definition, formula, sources, transformations, owner, approval),
the list of every approved version, and the audit-readiness checklist. It is
rendered by the governance report kernel as PDF/A-3b with the same data
embedded as ``methodology-sheet.json``; issuing it records the file's SHA-256
in the audit trail (``manage.py verify_report FILE`` checks it).

People are named as the viewer may see them: an auditor sees pseudonyms
(:mod:`governance.pseudonyms`) in the PDF and in its JSON alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.utils import timezone

from governance.classification import Sensitivity
from governance.pseudonyms import account_label, person_label
from governance.reports.data import json_data
from governance.reports.issue import IssuedReport, issue_report
from governance.reports.render import ReportSpec, render_chunk
from metrics import methodology, readiness
from metrics.models import MethodologyVersion, Metric

REPORT_TYPE = "metric_methodology_sheet"
TEMPLATE = "reports/metrics/methodology_sheet.html"


def _version_data(version: MethodologyVersion, viewer: Any) -> dict[str, Any]:
    return {
        "version": version.version,
        "status": version.status,
        "definition": version.description,
        "formula": version.formula,
        "sources": version.sources,
        "transformations": version.transformations,
        "governed_fields": version.definition,
        "owner": person_label(version.owner, viewer),
        "approved_by": account_label(version.approved_by_id, viewer),
        "approved_at": version.approved_at,
        "change_request": version.change_request_id,
        "board_proposal": version.proposal_id,
    }


def sheet_data(metric: Metric, viewer: Any) -> dict[str, Any]:
    """Everything the sheet shows, as JSON-ready values (pseudonymised for
    auditors). The caller has checked that ``viewer`` may view ``metric``."""
    versions = list(
        MethodologyVersion.objects.filter(
            metric_id=metric.pk, status=MethodologyVersion.Status.APPROVED
        )
        .select_related("owner")
        .order_by("-version")
    )
    current = next(
        (v for v in versions if v.version == metric.methodology_version), None
    )
    checklist = readiness.to_json(readiness.checklist([metric]))[0]
    return {
        "metric": {
            "key": metric.key,
            "name": metric.name,
            "status": metric.status,
            "level": metric.level,
            "impact": metric.impact,
            "unit": metric.unit,
            "classification": Sensitivity.label_of(metric.sensitivity),
            "methodology_version": metric.methodology_version,
            "department": metric.department.name,
            "owner": person_label(metric.owner, viewer),
            "steward": person_label(metric.steward, viewer),
        },
        "current": _version_data(current, viewer) if current else None,
        "versions": [
            {
                "version": v.version,
                "approved_at": v.approved_at,
                "approved_by": account_label(v.approved_by_id, viewer),
                "change_request": v.change_request_id,
                "board_proposal": v.proposal_id,
            }
            for v in versions
        ],
        "readiness": checklist,
        "pending_draft": methodology.draft_of(metric) is not None,
    }


def issue_sheet(metric: Metric, *, viewer: Any, out: Path | str) -> IssuedReport:
    """Render and issue the sheet for ``viewer`` to ``out``."""
    data = sheet_data(metric, viewer)
    author = viewer.get_username() if viewer is not None else "portal"
    spec = ReportSpec(
        report_type=REPORT_TYPE,
        title=f"Methodology sheet: {metric.key} v{metric.methodology_version}",
        author=account_label(getattr(viewer, "pk", None), viewer) or author,
        subject=f"Methodology of the metric {metric.key} (M8.2)",
        classification=Sensitivity.INTERNAL,
        keywords=("methodology", metric.key),
        issued_at=timezone.now(),
    )
    chunk = render_chunk(TEMPLATE, {"data": data})
    return issue_report(
        spec,
        [chunk],
        data=[
            json_data(
                "methodology-sheet",
                data,
                description="The methodology sheet's content as data",
            )
        ],
        out=out,
        actor=viewer,
        target=metric,
        reason=f"methodology sheet of {metric.key}",
    )
