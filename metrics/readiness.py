"""Audit-readiness checklist per metric (M8.2).

Each item is a registered check: ``register_check(key, label, func)`` where
``func(metric, batch)`` returns a :class:`Finding` (passed, detail) or ``None``
when the item does not apply to that metric. ``batch`` (a
:class:`ReadinessBatch`) loads what the checks need once for all metrics of a
page. The items shipped here:

=================  ================================================================
documented         an approved methodology document for the version the metric is
                   at, with definition, formula and sources written
approved           high impact: the review board's approval of exactly the current
                   version (M8.4); otherwise live through the governed lifecycle
                   (active or under sunset review)
lineage_complete   every source and transformation step documented, at least one
                   step recorded (:mod:`metrics.lineage`)
bias_assessed      high impact only: a completed bias assessment (M8.5,
                   governance.bias) of the metric's current methodology version
consent_basis      individual-level metrics: a consent purpose recorded on the
                   metric and offered (active) (M8.3)
=================  ================================================================

A metric is *ready* when every item that applies passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from governance import bias
from governance.models import BiasAssessment, ConsentPurpose, Proposal
from metrics import lineage
from metrics.governance_links import SUBJECT_TYPE, governed_digest
from metrics.models import MethodologyVersion, Metric

__all__ = [
    "Finding",
    "MetricReadiness",
    "ReadinessBatch",
    "checklist",
    "checks",
    "register_check",
    "to_json",
]


@dataclass(frozen=True)
class Finding:
    passed: bool
    detail: str


@dataclass(frozen=True)
class Check:
    key: str
    label: str
    func: Callable[[Metric, ReadinessBatch], Finding | None]


_CHECKS: dict[str, Check] = {}


def register_check(
    key: str,
    label: str,
    func: Callable[[Metric, ReadinessBatch], Finding | None],
    *,
    replace: bool = False,
) -> None:
    """Add an item to the checklist (or replace one with ``replace=True``)."""
    if key in _CHECKS and not replace:
        raise ValueError(f"readiness check {key!r} is already registered")
    _CHECKS[key] = Check(key, label, func)


def checks() -> list[Check]:
    return list(_CHECKS.values())


class ReadinessBatch:
    """What the checks read, loaded once for a batch of metrics."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics
        self.ids = [m.pk for m in metrics]

    @cached_property
    def approved_versions(self) -> dict[tuple[int, int], MethodologyVersion]:
        rows = MethodologyVersion.objects.filter(
            metric_id__in=self.ids, status=MethodologyVersion.Status.APPROVED
        )
        return {(v.metric_id, v.version): v for v in rows}

    @cached_property
    def lineage(self) -> dict[int, lineage.MetricLineage]:
        audit = lineage.lineage_audit(Metric.objects.filter(pk__in=self.ids))
        return {item.metric.pk: item for item in audit.metrics}

    @cached_property
    def purposes(self) -> dict[str, ConsentPurpose]:
        codes = {m.consent_purpose_id for m in self.metrics if m.consent_purpose_id}
        return {p.code: p for p in ConsentPurpose.objects.filter(code__in=codes)}

    @cached_property
    def approvals(self) -> dict[tuple[str, str], Proposal]:
        """Approved, unrevoked proposals by (metric id, bound digest): the same
        rule as :func:`governance.board.approval_for`, for the whole batch."""
        rows = Proposal.objects.filter(
            subject_type=SUBJECT_TYPE,
            subject_id__in=[str(pk) for pk in self.ids],
            status=Proposal.Status.APPROVED,
            revoked_at__isnull=True,
        ).order_by("decided_at")
        return {(p.subject_id, p.bound_digest): p for p in rows}

    @cached_property
    def bias_assessments(self) -> dict[tuple[str, int | None], BiasAssessment]:
        """The latest completed bias assessment per (metric id, version): the
        same rule as :func:`governance.bias.completed_for`, for the whole batch."""
        rows = BiasAssessment.objects.filter(
            target_type=bias.METRIC,
            target_id__in=[str(pk) for pk in self.ids],
            status=BiasAssessment.Status.COMPLETED,
        ).order_by("completed_at")
        return {(a.target_id, a.target_version): a for a in rows}

    def board_approval(self, metric: Metric) -> Proposal | None:
        return self.approvals.get((str(metric.pk), governed_digest(metric)))


# -- the shipped checks --------------------------------------------------------


def _documented(metric: Metric, batch: ReadinessBatch) -> Finding:
    version = batch.approved_versions.get((metric.pk, metric.methodology_version))
    if version is None:
        return Finding(
            False,
            f"No approved methodology document for version {metric.methodology_version}.",
        )
    missing = [
        label
        for label, value in (
            ("definition", version.description),
            ("formula", version.formula),
            ("sources", version.sources),
        )
        if not (value or "").strip()
    ]
    if missing:
        return Finding(
            False,
            f"Version {version.version} is approved but lacks: {', '.join(missing)}.",
        )
    approved_at = version.approved_at.date().isoformat() if version.approved_at else ""
    return Finding(True, f"Version {version.version} approved {approved_at}.")


def _approved(metric: Metric, batch: ReadinessBatch) -> Finding:
    if metric.impact == Metric.Impact.HIGH:
        proposal = batch.board_approval(metric)
        if proposal is None:
            return Finding(
                False,
                "High impact: no review-board approval of the current version.",
            )
        return Finding(
            True,
            f"Review board approved the current version (proposal #{proposal.pk}).",
        )
    if metric.status in (Metric.Status.ACTIVE, Metric.Status.SUNSET_REVIEW):
        return Finding(True, f"Live through the governed lifecycle ({metric.status}).")
    return Finding(
        False, f"Not live: the metric is {metric.get_status_display().lower()}."
    )


def _lineage_complete(metric: Metric, batch: ReadinessBatch) -> Finding:
    item = batch.lineage.get(metric.pk)
    if item is None:
        return Finding(False, "Lineage not audited.")
    if item.ok:
        return Finding(True, f"{item.steps} documented step(s), sources documented.")
    problems = []
    if item.no_lineage:
        problems.append("no transformation step recorded")
    if item.undocumented_steps:
        problems.append(f"{len(item.undocumented_steps)} undocumented step(s)")
    if item.undocumented_sources:
        codes = ", ".join(s.code for s in item.undocumented_sources)
        problems.append(f"undocumented source(s): {codes}")
    return Finding(False, "; ".join(problems).capitalize() + ".")


def _bias_assessed(metric: Metric, batch: ReadinessBatch) -> Finding | None:
    if metric.impact != Metric.Impact.HIGH:
        return None
    assessment = batch.bias_assessments.get(
        (str(metric.pk), metric.methodology_version)
    )
    if assessment is None:
        return Finding(
            False,
            f"Not assessed: no completed bias assessment of version "
            f"{metric.methodology_version} (Governance › Bias assessments).",
        )
    return Finding(
        True,
        f"Assessment #{assessment.pk} completed {assessment.completed_at:%Y-%m-%d}: "
        f"{assessment.get_verdict_display()}.",
    )


def _consent_basis(metric: Metric, batch: ReadinessBatch) -> Finding | None:
    if metric.level != Metric.Level.INDIVIDUAL:
        return None
    code = metric.consent_purpose_id
    if not code:
        return Finding(
            False,
            "No consent purpose recorded on the metric (the default purpose "
            "applies implicitly).",
        )
    purpose = batch.purposes.get(code)
    if purpose is None or not purpose.active:
        return Finding(False, f"Consent purpose “{code}” is not offered (inactive).")
    return Finding(
        True, f"Consent purpose “{purpose.name}” (text version {purpose.text_version})."
    )


register_check("documented", "Methodology documented and approved", _documented)
register_check(
    "approved", "Approved (board for high impact, else lifecycle)", _approved
)
register_check("lineage_complete", "Lineage complete", _lineage_complete)
register_check("bias_assessed", "Bias assessed (high impact)", _bias_assessed)
register_check(
    "consent_basis", "Consent basis recorded (individual level)", _consent_basis
)


# -- results --------------------------------------------------------------------


@dataclass
class Item:
    key: str
    label: str
    applies: bool
    passed: bool
    detail: str


@dataclass
class MetricReadiness:
    metric: Metric
    items: list[Item] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(item.passed for item in self.items if item.applies)

    def item(self, key: str) -> Item:
        return next(i for i in self.items if i.key == key)


def checklist(metrics: Iterable[Metric]) -> list[MetricReadiness]:
    """The checklist for ``metrics`` (scope them with ``visible_to`` first)."""
    metric_list = list(metrics)
    batch = ReadinessBatch(metric_list)
    results = []
    for metric in metric_list:
        result = MetricReadiness(metric)
        for check in checks():
            finding = check.func(metric, batch)
            if finding is None:
                result.items.append(
                    Item(check.key, check.label, False, True, "Not applicable.")
                )
            else:
                result.items.append(
                    Item(check.key, check.label, True, finding.passed, finding.detail)
                )
        results.append(result)
    return results


def to_json(results: list[MetricReadiness]) -> list[dict[str, Any]]:
    return [
        {
            "metric": r.metric.key,
            "name": r.metric.name,
            "status": r.metric.status,
            "impact": r.metric.impact,
            "methodology_version": r.metric.methodology_version,
            "ready": r.ready,
            "items": {
                i.key: {
                    "label": i.label,
                    "applies": i.applies,
                    "passed": i.passed if i.applies else None,
                    "detail": i.detail,
                }
                for i in r.items
            },
        }
        for r in results
    ]
