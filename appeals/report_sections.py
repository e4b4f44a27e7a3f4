"""The appeals section of the audit pack (R.PDF): outcomes and SLA performance.

Aggregates only (counts, SLA met/missed per stage, median days to decision)
over the appeals the requester may see; no appellant, grounds or evidence.
"""

from __future__ import annotations

from typing import Any

from appeals import selectors
from appeals.models import Appeal
from governance import permissions
from governance.classification import Sensitivity
from governance.reports import sections


def appeal_outcomes(ctx: sections.SectionContext) -> sections.SectionOutput:
    date_from, date_to = sections.period_dates(ctx)
    data = selectors.appeal_outcomes(
        viewer=ctx.viewer, date_from=date_from, date_to=date_to
    )
    outcome_rows = [[k, n] for k, n in data["by_outcome"].items()]
    sla_rows = [
        [
            stage,
            counts["met"],
            counts["missed"],
            counts["open"],
            _share(counts["met"], counts["met"] + counts["missed"]),
        ]
        for stage, counts in data["sla_by_stage"].items()
    ]
    sla_columns = ["Stage", "Met", "Missed", "Open", "Met share"]
    median = data["median_days_to_decision"]
    body = sections._table_html(["Outcome", "Appeals"], outcome_rows, "Outcomes")
    body += (
        sections._table_html(sla_columns, sla_rows, "SLA per stage")
        if sla_rows
        else "<p>No stage deadlines recorded in the period.</p>"
    )
    html = sections._section_html(
        "Appeal outcomes and SLA performance",
        f"{data['total']} appeal(s) filed in the period that you may see; "
        f"{data['decided']} decided"
        + (f", median {median} days to decision." if median is not None else ".")
        + " Counts only: no appellant, grounds or evidence.",
        body,
    )
    return sections.SectionOutput(
        chunks=[html],
        data=data,
        tables=[
            sections.CsvTable("appeal-outcomes", ["Outcome", "Appeals"], outcome_rows),
            sections.CsvTable("appeal-sla", sla_columns, sla_rows),
        ],
        classification=Sensitivity.INTERNAL,
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def register() -> None:
    sections.register(
        sections.Section(
            "appeals",
            "Appeal outcomes",
            appeal_outcomes,
            order=70,
            description="Appeal outcomes and SLA performance",
            available=lambda u: permissions.has_model_perm(u, Appeal, "view"),
        )
    )


__all__: list[Any] = ["appeal_outcomes", "register"]
