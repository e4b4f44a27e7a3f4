"""The analytical admin pages of the metric catalogue.

``admin_urls(admin_site)`` returns the URL patterns; ``MetricAdmin.get_urls``
puts them in front of its own, so they live under ``/admin/metrics/metric/``:

=============================  ==========================================  =========
URL name (``admin:`` …)        page                                        spec
=============================  ==========================================  =========
metrics_metric_control_chart   XmR chart of one metric × subject           M7.1
metrics_metric_exceptions      only the series whose latest value signals  M1.6
metrics_metric_alignment       objectives → team outcomes → individual KPIs M1.3
metrics_metric_portfolio       leading vs lagging per team                 M1.1
metrics_metric_lineage         lineage audit                               M3.2
metrics_metric_freshness       stale and orphaned metrics                  M1.5
metrics_metric_readiness       audit-readiness checklist of every metric   M8.2
metrics_metric_readiness_json  the same checklist as JSON                  M8.2
metrics_metric_methodology_sheet  one metric's methodology sheet (PDF/A)   M8.2
=============================  ==========================================  =========

Each view is wrapped in ``admin_site.admin_view`` (staff, active, logged in)
and checks, in this order: the model permissions it reads (403), the object
scope of what it shows (``visible_to``: a metric or subject outside it is a
404), and clearance (values above it are masked with a message, never drawn).
The views only read, through :mod:`metrics.selectors` and
:mod:`metrics.lineage`; templates extend ``admin/base_site.html`` and carry no
inline script or style (CSP).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from governance import permissions
from governance.classification import Sensitivity
from governance.models import Team
from metrics import charts, lineage, readiness, selectors, stewardship
from metrics.analytics import spc
from metrics.models import (
    DataSource,
    MethodologyVersion,
    Metric,
    Observation,
    TransformationStep,
)

__all__ = ["admin_urls"]

RULE_SETS = {
    "nelson": "Nelson rules",
    "western-electric": "Western Electric rules",
}

_TEMPLATES = "admin/metrics/reports/"


def _require(request: HttpRequest, *needed: tuple[type[models.Model], str]) -> None:
    """Model permissions first: a page reading a model needs its view permission."""
    for model, action in needed:
        if not permissions.has_model_perm(request.user, model, action):
            raise PermissionDenied


def _rules(request: HttpRequest) -> str:
    rules = request.GET.get("rules", "nelson")
    return rules if rules in RULE_SETS else "nelson"


def _render(
    request: HttpRequest,
    admin_site: Any,
    template: str,
    title: str,
    context: dict[str, Any],
) -> HttpResponse:
    return TemplateResponse(
        request,
        _TEMPLATES + template,
        {
            **admin_site.each_context(request),
            "title": title,
            "opts": Metric._meta,
            "reports": _report_links(request),
            "clearance": Sensitivity.label_of(
                max(permissions.clearance_of(request.user), 0)
            ),
            **context,
        },
    )


def _report_links(request: HttpRequest) -> list[tuple[str, str, bool]]:
    """The catalogue-wide pages, for the navigation strip (current one marked)."""
    from django.urls import reverse

    links = []
    for name, label in (
        ("exceptions", "Exceptions"),
        ("alignment", "Alignment tree"),
        ("portfolio", "Team portfolio"),
        ("lineage", "Lineage audit"),
        ("freshness", "Stale and orphaned"),
        ("readiness", "Audit readiness"),
    ):
        url = reverse(f"admin:metrics_metric_{name}")
        links.append((label, url, request.path == url))
    return links


def admin_urls(admin_site: Any) -> list[Any]:
    """URL patterns of the analytical pages, each behind ``admin_site.admin_view``."""

    def page(
        view: Callable[..., HttpResponse], title: str
    ) -> Callable[..., HttpResponse]:
        def bound(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return view(request, admin_site, *args, **kwargs)

        bound.admin_title = title  # type: ignore[attr-defined]
        bound.__name__ = view.__name__
        return admin_site.admin_view(bound)

    return [
        path(
            "<int:metric_id>/control-chart/",
            page(control_chart_view, "Control chart"),
            name="metrics_metric_control_chart",
        ),
        path(
            "analysis/exceptions/",
            page(exceptions_view, "Exception report"),
            name="metrics_metric_exceptions",
        ),
        path(
            "analysis/alignment/",
            page(alignment_view, "Alignment tree"),
            name="metrics_metric_alignment",
        ),
        path(
            "analysis/portfolio/",
            page(portfolio_view, "Team portfolio"),
            name="metrics_metric_portfolio",
        ),
        path(
            "analysis/lineage/",
            page(lineage_view, "Lineage audit"),
            name="metrics_metric_lineage",
        ),
        path(
            "analysis/stale-and-orphaned/",
            page(freshness_view, "Stale and orphaned metrics"),
            name="metrics_metric_freshness",
        ),
        path(
            "analysis/audit-readiness/",
            page(readiness_view, "Audit readiness"),
            name="metrics_metric_readiness",
        ),
        path(
            "analysis/audit-readiness.json",
            page(readiness_json_view, "Audit readiness (JSON)"),
            name="metrics_metric_readiness_json",
        ),
        path(
            "<int:metric_id>/methodology-sheet/",
            page(methodology_sheet_view, "Methodology sheet (PDF)"),
            name="metrics_metric_methodology_sheet",
        ),
    ]


# -- M7.1 control chart ---------------------------------------------------------------


def control_chart_view(
    request: HttpRequest, admin_site: Any, metric_id: int
) -> HttpResponse:
    _require(request, (Metric, "view"), (Observation, "view"))
    metric = (
        Metric.objects.visible_to(request.user, "view")
        .select_related("department", "team")
        .filter(pk=metric_id)
        .first()
    )
    if metric is None:
        raise Http404
    subjects = selectors.subjects_of(metric, request.user)
    raw = request.GET.get("subject")
    subject = selectors.parse_subject(raw, subjects)
    if raw and subject is None:
        raise Http404  # not a subject of this metric the viewer may see
    if subject is None and subjects:
        preferred = [s for s in subjects if s.kind == "team" and s.pk == metric.team_id]
        subject = (preferred or subjects)[0]
    rules = _rules(request)
    data = chart = svg = None
    if subject is not None:
        data = selectors.series(metric, viewer=request.user, subject=subject)
        chart = selectors.control_chart(data, rules=rules)
        if chart is not None:
            svg = charts.xmr_svg(
                labels=chart.labels,
                values=chart.values,
                chart=chart.chart,
                signals=chart.signals,
                annotated=chart.annotated,
                title=f"{metric.name} — {subject.label}: XmR chart",
                unit=metric.unit,
            )
    annotations = chart.annotation_rows() if chart is not None else []
    return _render(
        request,
        admin_site,
        "control_chart.html",
        f"Control chart: {metric.name}",
        {
            "metric": metric,
            "subjects": subjects,
            "subject": subject,
            "series": data,
            "chart": chart,
            "svg": svg,
            "rules": rules,
            "rule_sets": RULE_SETS.items(),
            "rule_descriptions": [
                (name, spc.RULE_DESCRIPTIONS[name]) for name in spc.resolve_rules(rules)
            ],
            "annotations": annotations,
            "baseline_points": selectors.BASELINE_POINTS,
        },
    )


# -- M1.6 exception report --------------------------------------------------------------


def exceptions_view(request: HttpRequest, admin_site: Any) -> HttpResponse:
    _require(request, (Metric, "view"), (Observation, "view"))
    rules = _rules(request)
    report = selectors.exception_report(request.user, rules=rules)
    return _render(
        request,
        admin_site,
        "exceptions.html",
        "Exception report",
        {
            "report": report,
            "rules": rules,
            "rule_sets": RULE_SETS.items(),
            "min_points": selectors.EXCEPTION_MIN_POINTS,
            "generated_at": timezone.now(),
        },
    )


# -- M1.3 alignment tree ----------------------------------------------------------------


def alignment_view(request: HttpRequest, admin_site: Any) -> HttpResponse:
    _require(request, (Metric, "view"))
    tree = selectors.alignment_tree(request.user)
    return _render(
        request,
        admin_site,
        "alignment.html",
        "Alignment tree",
        {"tree": tree},
    )


# -- M1.1 team portfolio ----------------------------------------------------------------


def portfolio_view(request: HttpRequest, admin_site: Any) -> HttpResponse:
    _require(request, (Metric, "view"), (Team, "view"))
    rows = selectors.team_portfolio(request.user)
    return _render(
        request,
        admin_site,
        "portfolio.html",
        "Team portfolio: leading and lagging indicators",
        {"rows": rows, "without_leading": sum(1 for r in rows if r.no_leading)},
    )


# -- M3.2 lineage audit ----------------------------------------------------------------------


def lineage_view(request: HttpRequest, admin_site: Any) -> HttpResponse:
    _require(
        request,
        (Metric, "view"),
        (DataSource, "view"),
        (TransformationStep, "view"),
    )
    audit = lineage.lineage_audit(
        Metric.objects.visible_to(request.user, "view").exclude(
            status=Metric.Status.RETIRED
        )
    )
    return _render(
        request,
        admin_site,
        "lineage.html",
        "Lineage audit",
        {"audit": audit, "counts": audit.counts()},
    )


# -- M1.5 stale and orphaned -----------------------------------------------------------------


def freshness_view(request: HttpRequest, admin_site: Any) -> HttpResponse:
    _require(request, (Metric, "view"))
    flagged = selectors.stale_and_orphaned(request.user)
    state = stewardship.freshness(flagged, today=timezone.localdate())
    rows = [(m, state[m.pk]) for m in flagged]
    return _render(
        request,
        admin_site,
        "freshness.html",
        "Stale and orphaned metrics",
        {"rows": rows},
    )


# -- M8.2 audit readiness and methodology sheet ------------------------------------------


def _readiness_results(request: HttpRequest) -> list[readiness.MetricReadiness]:
    _require(
        request,
        (Metric, "view"),
        (MethodologyVersion, "view"),
        (TransformationStep, "view"),
        (DataSource, "view"),
    )
    metrics = (
        Metric.objects.visible_to(request.user, "view")
        .exclude(status=Metric.Status.RETIRED)
        .select_related("source", "department")
        .order_by("key")
    )
    return readiness.checklist(metrics)


def readiness_view(request: HttpRequest, admin_site: Any) -> HttpResponse:
    results = _readiness_results(request)
    return _render(
        request,
        admin_site,
        "readiness.html",
        "Audit readiness",
        {
            "results": results,
            "checks": readiness.checks(),
            "ready_count": sum(1 for r in results if r.ready),
        },
    )


def readiness_json_view(request: HttpRequest, admin_site: Any) -> HttpResponse:
    results = _readiness_results(request)
    response = JsonResponse(
        {
            "generated_at": timezone.now().isoformat(),
            "metrics": readiness.to_json(results),
        },
        json_dumps_params={"ensure_ascii": False, "indent": 1},
    )
    response["Content-Disposition"] = 'attachment; filename="audit-readiness.json"'
    return response


def methodology_sheet_view(
    request: HttpRequest, admin_site: Any, metric_id: int
) -> HttpResponse:
    """Issue the metric's methodology sheet (recorded in the audit trail) and
    send it; the file is not kept on the server."""
    from metrics import methodology_sheet  # loads the report kernel on demand

    _require(request, (Metric, "view"), (MethodologyVersion, "view"))
    metric = (
        Metric.objects.visible_to(request.user, "view")
        .select_related("department", "owner", "steward", "source")
        .filter(pk=metric_id)
        .first()
    )
    if metric is None:
        raise Http404
    with tempfile.TemporaryDirectory(prefix="sheet-") as tmp:
        out = Path(tmp) / "sheet.pdf"
        methodology_sheet.issue_sheet(metric, viewer=request.user, out=out)
        content = out.read_bytes()
    return FileResponse(
        io.BytesIO(content),
        as_attachment=True,
        filename=f"methodology-{metric.key}-v{metric.methodology_version}.pdf",
        content_type="application/pdf",
    )
