"""The metrics app's audit-pack sections (R.PDF, R.REPRO), registered from
:meth:`metrics.apps.MetricsConfig.ready` through :mod:`governance.reports.sections`.

- ``methodology``: per metric its key, definition, methodology version, owner,
  steward and source (the catalogue is readable by anyone with view_metric);
- ``history``: the change history of metrics and observations with the
  reason recorded for each change (corrections included), no values;
- ``data_quality``: data-quality issues on observations the viewer may see;
- ``spc``: XmR control charts of organisation and team series, each with its
  values embedded as ``spc-<metric>-<n>.csv`` so that
  ``manage.py spc FILE --json --baseline B`` recomputes the printed limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from governance import permissions
from governance.classification import Sensitivity
from governance.reports import sections
from governance.reports.render import render_chunk, table_chunks
from governance.reports.sections import CsvTable, SectionContext, SectionOutput

#: Series charted in the SPC section (organisation and team series first).
MAX_SPC_SERIES = 12

HISTORY_COLUMNS = [
    "When",
    "Record",
    "Metric",
    "Subject",
    "Change",
    "By",
    "Reason",
    "Version",
]
HISTORY_WIDTHS = [13, 10, 17, 12, 7, 10, 25, 6]
CHANGE_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


def _section(title: str, intro: str, body: str = "") -> str:
    return render_chunk(
        "reports/audit/section.html", {"title": title, "intro": intro, "body": body}
    )


def _table(columns: list[str], rows: list[list[Any]], caption: str = "") -> str:
    return render_chunk(
        "reports/audit/table.html",
        {"columns": columns, "rows": rows, "caption": caption},
    )


def methodology(ctx: SectionContext) -> SectionOutput:
    from metrics.models import Metric

    metrics = (
        Metric.objects.visible_to(ctx.viewer).select_related("source").order_by("key")
    )
    columns = [
        "Key",
        "Name",
        "Definition",
        "Version",
        "Owner",
        "Steward",
        "Source",
        "Status",
    ]
    rows = []
    data = []
    for m in metrics:
        row = [
            m.key,
            m.name,
            m.calculation,
            m.methodology_version,
            ctx.person(m.owner_id),
            ctx.person(m.steward_id),
            f"{m.source.name} ({m.source.code})",
            m.get_status_display(),
        ]
        rows.append(row)
        data.append(
            {
                "key": m.key,
                "name": m.name,
                "definition": m.calculation,
                "description": m.description,
                "unit": m.unit,
                "methodology_version": m.methodology_version,
                "owner": row[4],
                "steward": row[5],
                "source": m.source.code,
                "status": m.status,
            }
        )
    body = _table(columns, rows) if rows else "<p>No metrics you may see.</p>"
    return SectionOutput(
        chunks=[
            _section(
                "Methodology summary",
                "Every metric you may see: its definition (calculation), the "
                "methodology version in force, who owns and stewards it and where "
                "its data comes from.",
                body,
            )
        ],
        data=data,
        tables=[CsvTable("methodology", columns, rows)],
    )


def _history_rows(ctx: SectionContext) -> Iterator[list[Any]]:
    from metrics.models import Metric, Observation

    metric_keys = dict(Metric.objects.values_list("id", "key"))
    visible_metrics = Metric.objects.visible_to(ctx.viewer).values("pk")
    for h in (
        Metric.history.filter(ctx.period_q("history_date"), id__in=visible_metrics)
        .order_by("history_date", "history_id")
        .values_list(
            "history_date",
            "id",
            "key",
            "history_type",
            "history_user_id",
            "history_change_reason",
            "methodology_version",
        )
        .iterator(chunk_size=2000)
    ):
        when, pk, key, kind, user_id, reason, version = h
        yield [
            when.strftime("%Y-%m-%d %H:%M"),
            f"metric #{pk}",
            key,
            "",
            CHANGE_TYPES.get(kind, kind),
            ctx.user(user_id),
            reason or "",
            version,
        ]
    if not permissions.has_model_perm(ctx.viewer, Observation, "view"):
        return
    visible = Observation.objects.visible_to(ctx.viewer).values("pk")
    for h in (
        Observation.history.filter(ctx.period_q("history_date"), id__in=visible)
        .order_by("history_date", "history_id")
        .values_list(
            "history_date",
            "id",
            "metric_id",
            "person_id",
            "team_id",
            "history_type",
            "history_user_id",
            "history_change_reason",
            "correction_reason",
            "methodology_version",
        )
        .iterator(chunk_size=2000)
    ):
        (
            when,
            pk,
            metric_id,
            person_id,
            team_id,
            kind,
            user_id,
            reason,
            correction,
            version,
        ) = h
        subject = (
            ctx.person(person_id)
            if person_id
            else (f"team #{team_id}" if team_id else "organisation")
        )
        why = reason or ""
        if correction and correction not in why:
            why = (
                f"{why} (correction: {correction})"
                if why
                else f"correction: {correction}"
            )
        yield [
            when.strftime("%Y-%m-%d %H:%M"),
            f"observation #{pk}",
            metric_keys.get(metric_id, metric_id),
            subject,
            CHANGE_TYPES.get(kind, kind),
            ctx.user(user_id),
            why,
            version,
        ]


def change_history(ctx: SectionContext) -> SectionOutput:
    rows = list(_history_rows(ctx))
    intro = _section(
        "Change history",
        f"{len(rows)} changes in the period to metric definitions and to "
        "observations you may see, with the reason recorded for each (corrections "
        "supersede a value and say why). Values are not listed.",
    )
    chunks = [intro]
    if rows:
        chunks.extend(
            table_chunks(
                rows,
                columns=HISTORY_COLUMNS,
                caption="Change history",
                extra={"dense": True, "widths": HISTORY_WIDTHS},
            )
        )
    keys = ["when", "record", "metric", "subject", "change", "by", "reason", "version"]
    return SectionOutput(
        chunks=chunks,
        data={
            "count": len(rows),
            "rows": [dict(zip(keys, r, strict=True)) for r in rows],
        },
        tables=[CsvTable("change-history", HISTORY_COLUMNS, rows)],
    )


def data_quality(ctx: SectionContext) -> SectionOutput:
    from metrics.models import DataQualityIssue

    issues = (
        DataQualityIssue.objects.visible_to(ctx.viewer)
        .masked_for(ctx.viewer)
        .filter(ctx.period_q("detected_at") | ctx.period_q("decided_at"))
        .select_related("observation__metric")
        .order_by("detected_at", "pk")
    )
    columns = [
        "Detected",
        "Metric",
        "Subject",
        "Kind",
        "Status",
        "Evidence",
        "Decided by",
        "Note",
    ]
    rows = []
    for i in issues:
        obs = i.observation
        rows.append(
            [
                i.detected_at.strftime("%Y-%m-%d"),
                obs.metric.key,
                ctx.person(obs.person_id)
                if obs.person_id
                else (f"team #{obs.team_id}" if obs.team_id else "organisation"),
                i.get_kind_display(),
                i.get_status_display(),
                i.detail,
                ctx.user(i.decided_by_id) if i.decided_by_id else "-",
                i.decision_note,
            ]
        )
    body = (
        _table(columns, rows)
        if rows
        else "<p>No data-quality issues in the period.</p>"
    )
    keys = [
        "detected",
        "metric",
        "subject",
        "kind",
        "status",
        "evidence",
        "decided_by",
        "note",
    ]
    return SectionOutput(
        chunks=[
            _section(
                "Data-quality issues",
                "Suspected input errors detected or decided in the period on "
                "observations you may see (quarantined until a steward decides).",
                body,
            )
        ],
        data=[dict(zip(keys, r, strict=True)) for r in rows],
        tables=[CsvTable("data-quality", columns, rows)],
    )


def control_charts(ctx: SectionContext) -> SectionOutput:
    from metrics import charts, selectors
    from metrics.models import Metric

    chunks: list[str] = []
    tables: list[CsvTable] = []
    data: list[dict[str, Any]] = []
    level: int = Sensitivity.INTERNAL
    count = 0
    for metric in Metric.objects.visible_to(ctx.viewer).order_by("key"):
        if count >= MAX_SPC_SERIES:
            break
        for subject in selectors.subjects_of(metric, ctx.viewer):
            if subject.kind == "person" or count >= MAX_SPC_SERIES:
                continue  # individuals are not charted in an audit pack
            result = selectors.control_chart(
                selectors.series(metric, viewer=ctx.viewer, subject=subject)
            )
            if result is None:
                continue
            count += 1
            level = max(level, result.series.level)
            name = f"spc-{metric.key}-{count}"
            baseline = result.limits.baseline
            tables.append(
                CsvTable(
                    name,
                    ["index", "period", "value"],
                    [
                        [i, label, value]
                        for i, (label, value) in enumerate(
                            zip(result.labels, result.values, strict=True)
                        )
                    ],
                    description=f"Values of {metric.key} ({subject.label}); "
                    f"reproduce with: manage.py spc {name}.csv --json --baseline {baseline}",
                )
            )
            svg = charts.xmr_svg(
                labels=result.labels,
                values=result.values,
                chart=result.chart,
                signals=result.signals,
                title=f"{metric.name} — {subject.label}",
                unit=metric.unit,
                width=640,
            )
            lim = result.limits
            body = (
                f"<figure>{svg}<figcaption>{metric.key}, {subject.label}: centre "
                f"{lim.center:.6g}, UCL {lim.ucl:.6g}, LCL {lim.lcl:.6g} from the first "
                f"{baseline} points; {len(result.chart.signals)} signal(s). Data: "
                f'<span class="mono">{name}.csv</span>.</figcaption></figure>'
            )
            chunks.append(
                _section(f"Control chart: {metric.name} ({subject.label})", "", body)
            )
            data.append(
                {
                    "metric": metric.key,
                    "subject": subject.label,
                    "csv": f"{name}.csv",
                    "methodology_version": result.series.methodology_version,
                    "reproduce": f"manage.py spc {name}.csv --json --baseline {baseline}",
                    **result.chart.as_dict(),
                    "rules": "nelson",
                }
            )
    if not chunks:
        chunks = [
            _section(
                "Control charts", "No series you may see has enough values to chart."
            )
        ]
    return SectionOutput(chunks=chunks, data=data, tables=tables, classification=level)


def register() -> None:
    from metrics.models import DataQualityIssue, Metric, Observation

    def can(model: Any) -> Any:
        return lambda user: permissions.has_model_perm(user, model, "view")

    sections.register(
        sections.Section(
            "methodology",
            "Methodology summary",
            methodology,
            order=20,
            description="Definition, version, owner, steward and source per metric",
            available=can(Metric),
        )
    )
    sections.register(
        sections.Section(
            "history",
            "Change history",
            change_history,
            order=30,
            description="Changes to metrics and observations with their reasons",
            available=can(Metric),
        )
    )
    sections.register(
        sections.Section(
            "data_quality",
            "Data-quality issues",
            data_quality,
            order=35,
            description="Suspected input errors and their decisions",
            available=can(DataQualityIssue),
        )
    )
    sections.register(
        sections.Section(
            "spc",
            "Control charts",
            control_charts,
            order=60,
            description="XmR charts with their data, reproducible with manage.py spc",
            available=lambda u: can(Metric)(u) and can(Observation)(u),
        )
    )
