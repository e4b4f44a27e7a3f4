"""The decision letter: a PDF/A-3b through the governance report kernel, with
the decision as embedded JSON and its SHA-256 in the audit trail.

The file is rendered in a private temporary directory, read back, sealed with
the appellant's data key and stored on the appeal (``letter_sealed``); the
temporary file is removed, so no plaintext letter stays on disk, and erasing
the appellant makes the stored letter unreadable like their other data.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from appeals import evidence as sealing
from appeals.models import Appeal
from governance.classification import Sensitivity
from governance.reports.data import json_data
from governance.reports.issue import issue_report
from governance.reports.render import ReportSpec, render_chunk

REPORT_TYPE = "appeal_decision_letter"
_LETTER_ID = uuid.UUID(int=0)  # the AAD slot of "the letter" for sealing


def letter_data(appeal: Appeal) -> dict[str, Any]:
    """What the letter says, as data (embedded in the PDF as JSON)."""
    return {
        "reference": appeal.reference,
        "appellant": appeal.appellant.employee_id,
        "target": appeal.target_label,
        "filed_at": appeal.filed_at,
        "decided_at": appeal.decided_at,
        "outcome": appeal.outcome,
        "outcome_label": appeal.get_outcome_display(),
        "rationale": str(appeal.rationale),
        "corrected_value": None
        if appeal.corrected_value is None
        else str(appeal.corrected_value),
        "status": appeal.status,
    }


def issue_letter(*, appeal: Appeal, actor: Any) -> bytes:
    """Render, record and seal the letter of a decided appeal; the PDF bytes."""
    if not appeal.outcome or appeal.decided_at is None:
        raise ValidationError("The appeal has no decision yet.")
    data = letter_data(appeal)
    spec = ReportSpec(
        report_type=REPORT_TYPE,
        title=f"Appeal decision {appeal.reference}",
        author="Performance Governance Portal",
        subject="Decision on an appeal",
        classification=max(int(appeal.classification), Sensitivity.CONFIDENTIAL),
        keywords=("appeal", "decision"),
    )
    body = render_chunk("appeals/reports/letter.html", {"d": data, "appeal": appeal})
    with tempfile.TemporaryDirectory(prefix="appeal-letter-") as tmp:
        out = Path(tmp) / "letter.pdf"
        issued = issue_report(
            spec,
            [body],
            data=[json_data("decision", data)],
            out=out,
            actor=actor,
            target=appeal,
            reason=f"decision letter {appeal.reference}",
        )
        pdf = out.read_bytes()
    with transaction.atomic():
        Appeal.objects.filter(pk=appeal.pk).update(
            letter_sealed=sealing.seal(
                pdf, appellant_id=appeal.appellant_id, evidence_id=_LETTER_ID
            ),
            letter_sha256=issued.rendered.sha256,
        )
    appeal.letter_sha256 = issued.rendered.sha256
    return pdf


def letter_bytes(*, appeal: Appeal, actor: Any) -> bytes:
    """The stored letter (issued on first request)."""
    fresh = (
        Appeal.objects.filter(pk=appeal.pk)
        .values_list("letter_sealed", flat=True)
        .first()
    )
    if not fresh:
        return issue_letter(appeal=appeal, actor=actor)
    return sealing.open_sealed(
        bytes(fresh), appellant_id=appeal.appellant_id, evidence_id=_LETTER_ID
    )
