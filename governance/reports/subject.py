"""The subject access report (G.DSAR): one person's data as a PDF/A with the
JSON embedded. Built from :func:`governance.subject_rights.subject_access_data`
(the viewer's own data only), issued through :func:`issue_report` so its
SHA-256 is in the audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.utils.html import format_html, format_html_join

from governance.classification import Sensitivity

from .data import json_data
from .issue import IssuedReport, issue_report
from .render import ReportSpec


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _block(title: str, data: Any) -> str:
    if isinstance(data, dict) and all(not isinstance(v, list) for v in data.values()):
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            ((k, _text(v)) for k, v in data.items()),
        )
        return format_html("<h2>{}</h2><table>{}</table>", title, rows)
    if isinstance(data, dict):
        return format_html(
            "<h2>{}</h2>{}",
            title,
            format_html_join(
                "", "{}", ((_block(f"{title}: {k}", v),) for k, v in data.items())
            ),
        )
    if isinstance(data, list) and data and isinstance(data[0], dict):
        columns = list(data[0])
        head = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html_join(
                        "", "<td>{}</td>", ((_text(row.get(c)),) for c in columns)
                    ),
                )
                for row in data
            ),
        )
        return format_html(
            '<h2>{}</h2><table class="dense"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
            title,
            head,
            body,
        )
    return format_html(
        "<h2>{}</h2><p>{}</p>", title, _text(data) if data else "Nothing held."
    )


def issue_subject_access_report(
    data: dict[str, Any], *, out: Path | str, actor: Any
) -> IssuedReport:
    subject = data["subject"]
    spec = ReportSpec(
        report_type="subject_access",
        title=f"Subject access report: {subject['employee_id']}",
        author="Performance Governance Portal",
        subject="Everything the portal holds about one person (GDPR Art. 15)",
        classification=Sensitivity.RESTRICTED,
    )
    intro = format_html(
        "<h1>Subject access report</h1><p>Employee {} · generated {}</p><p>{}</p>",
        subject["employee_id"],
        data["generated_at"],
        data["controller_note"],
    )
    chunks = [intro] + [
        str(_block(section["title"], section["data"]))
        for section in data["sections"].values()
    ]
    return issue_report(
        spec,
        [str(c) for c in chunks],
        data=[json_data("subject-access.json", data)],
        out=out,
        actor=actor,
        reason="subject access request (self-service)",
    )
