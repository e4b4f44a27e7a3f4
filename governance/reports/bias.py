"""The bias assessment report (M8.5): verdict, per-group figures (small groups
suppressed), a chart of selection rates against the four-fifths line, and the
remediation items. PDF/A with the figures embedded as JSON and CSV; issued
through :func:`issue_report` (SHA-256 in the audit trail)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from django.utils.html import format_html, format_html_join

from governance.bias import COLUMNS, assessment_data
from governance.classification import Sensitivity

from .charts import figure_data_uri
from .data import csv_data, json_data
from .issue import IssuedReport, issue_report
from .render import ReportSpec


def _chart(groups: list[dict[str, Any]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shown = [g for g in groups if not g["suppressed"] and g["rate"]]
    figure = Figure(figsize=(6, 2.6))
    axes = figure.subplots()
    labels = [g["group"] for g in shown]
    rates = [float(Fraction(g["rate"])) for g in shown]
    colours = ["#b3261e" if g["adverse"] else "#1f5f8b" for g in shown]
    axes.bar(labels, rates, color=colours)
    reference = next(
        (float(Fraction(g["rate"])) for g in shown if g["is_reference"]), None
    )
    if reference is not None:
        axes.axhline(reference * 0.8, color="#444", linestyle="--", linewidth=1)
        axes.text(
            len(labels) - 0.5,
            reference * 0.8,
            " 4/5 of reference",
            va="bottom",
            ha="right",
            fontsize=7,
        )
    axes.set_ylim(0, 1)
    axes.set_ylabel("Selection rate")
    axes.set_title("Selection rate per group (red: adverse impact)", fontsize=9)
    return figure_data_uri(figure)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def issue_bias_report(assessment: Any, *, out: Path | str, actor: Any) -> IssuedReport:
    data = assessment_data(assessment)
    spec = ReportSpec(
        report_type="bias_assessment",
        title=f"Bias assessment #{assessment.pk}: {assessment.target_label}",
        author="Performance Governance Portal",
        subject="Adverse impact analysis (four-fifths rule, Fisher, chi-square)",
        classification=Sensitivity.CONFIDENTIAL,
    )
    summary = format_html(
        "<h1>Bias assessment #{}</h1>"
        "<table><tr><th>Target</th><td>{}</td></tr>"
        "<tr><th>Attribute</th><td>{}</td></tr>"
        "<tr><th>Selected means</th><td>score ≥ {}</td></tr>"
        "<tr><th>Verdict</th><td>{}</td></tr>"
        "<tr><th>Status</th><td>{}</td></tr>"
        "<tr><th>Run</th><td>{} (user #{})</td></tr>"
        "<tr><th>Dataset</th><td>{} outcomes ({} excluded), SHA-256 {}</td></tr>"
        "<tr><th>Groups under {}</th><td>suppressed: no figures shown</td></tr></table>"
        '<p><img alt="Selection rate per group" src="{}" style="width: 100%"></p>',
        assessment.pk,
        assessment.target_label,
        assessment.get_attribute_display(),
        assessment.threshold,
        assessment.get_verdict_display(),
        assessment.get_status_display(),
        data["run_at"],
        assessment.run_by_id or "system",
        assessment.dataset_size,
        assessment.excluded_count,
        assessment.dataset_hash,
        assessment.min_group_size,
        _chart(data["groups"]),
    )
    head = format_html_join(
        "", "<th>{}</th>", ((c.replace("_", " "),) for c in COLUMNS)
    )
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (
                format_html_join(
                    "",
                    "<td>{}</td>",
                    (
                        (
                            _cell(g[c])
                            if not g["suppressed"] or c == "group"
                            else "suppressed"
                            if c == "suppressed"
                            else "—",
                        )
                        for c in COLUMNS
                    ),
                ),
            )
            for g in data["groups"]
        ),
    )
    table = format_html(
        '<h2>Figures per group</h2><table class="dense"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        head,
        body,
    )
    items = data["remediation"]
    remediation = format_html(
        "<h2>Remediation</h2>{}",
        format_html_join(
            "",
            "<p><strong>#{} · {} · due {}</strong> (owner {}): {} {}</p>",
            (
                (
                    i["id"],
                    i["status"],
                    i["due_date"],
                    i["owner"],
                    i["description"],
                    i["closing_note"],
                )
                for i in items
            ),
        )
        if items
        else "None recorded.",
    )
    return issue_report(
        spec,
        [str(summary), str(table), str(remediation)],
        data=[
            json_data("bias-assessment.json", data),
            csv_data("groups.csv", COLUMNS, data["groups"]),
        ],
        out=out,
        actor=actor,
        target=assessment,
        reason="bias assessment report",
    )
