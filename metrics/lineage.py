"""Lineage audits (M3.2): source → documented transformations → metric.

Every observation records its source and methodology version (see
:class:`~metrics.models.Observation`); this module checks the other half: that
each metric's path from its sources is documented. :func:`lineage_audit` lists

* undocumented data sources (``DataSource.documented`` is False) still in use,
  with the metrics that depend on them (as their source, in a transformation
  step, or through observations recorded from them);
* undocumented transformation steps, per metric;
* metrics with no lineage at all (no transformation step documented or not).

Retired metrics and retired sources are left out: they take no data. The
quarterly job :func:`record_lineage_audit` stores the counts as an audit event
(``lineage.audited``); the admin page shows the full lists.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from governance.audit import events
from metrics.models import DataSource, Metric, Observation, TransformationStep

__all__ = ["LineageAudit", "MetricLineage", "lineage_audit", "record_lineage_audit"]


@dataclass
class MetricLineage:
    """One metric's lineage findings."""

    metric: Metric
    steps: int = 0
    undocumented_steps: list[TransformationStep] = field(default_factory=list)
    undocumented_sources: list[DataSource] = field(default_factory=list)

    @property
    def no_lineage(self) -> bool:
        return self.steps == 0

    @property
    def ok(self) -> bool:
        return not (
            self.no_lineage or self.undocumented_steps or self.undocumented_sources
        )


@dataclass
class LineageAudit:
    metrics: list[MetricLineage]
    undocumented_sources: list[tuple[DataSource, list[Metric]]]

    @property
    def findings(self) -> list[MetricLineage]:
        return [m for m in self.metrics if not m.ok]

    @property
    def no_lineage(self) -> list[MetricLineage]:
        return [m for m in self.metrics if m.no_lineage]

    @property
    def with_undocumented_steps(self) -> list[MetricLineage]:
        return [m for m in self.metrics if m.undocumented_steps]

    def counts(self) -> dict[str, int]:
        return {
            "metrics_audited": len(self.metrics),
            "metrics_with_findings": len(self.findings),
            "metrics_without_lineage": len(self.no_lineage),
            "metrics_with_undocumented_steps": len(self.with_undocumented_steps),
            "undocumented_steps": sum(len(m.undocumented_steps) for m in self.metrics),
            "undocumented_sources": len(self.undocumented_sources),
        }


def lineage_audit(metrics: Any = None) -> LineageAudit:
    """Audit the lineage of ``metrics`` (default: every metric not retired).

    A fixed number of queries whatever the catalogue's size.
    """
    if metrics is None:
        metrics = Metric.objects.exclude(status=Metric.Status.RETIRED)
    metric_list = list(metrics.select_related("source").order_by("key"))
    ids = [m.pk for m in metric_list]
    steps: dict[int, list[TransformationStep]] = defaultdict(list)
    for step in (
        TransformationStep.objects.filter(metric_id__in=ids)
        .select_related("source")
        .order_by("metric_id", "order", "pk")
    ):
        steps[step.metric_id].append(step)
    observed: dict[int, set[int]] = defaultdict(set)
    for metric_id, source_id in (
        Observation.objects.filter(metric_id__in=ids)
        .values_list("metric_id", "source_id")
        .distinct()
    ):
        observed[metric_id].add(source_id)
    sources = {
        s.pk: s
        for s in DataSource.objects.exclude(lifecycle=DataSource.Lifecycle.RETIRED)
    }
    users: dict[int, list[Metric]] = defaultdict(list)
    results = []
    for metric in metric_list:
        own = steps.get(metric.pk, [])
        used = {metric.source_id, *observed.get(metric.pk, ())}
        used |= {s.source_id for s in own if s.source_id}
        for source_id in used:
            if source_id in sources:
                users[source_id].append(metric)
        results.append(
            MetricLineage(
                metric=metric,
                steps=len(own),
                undocumented_steps=[s for s in own if not s.documented],
                undocumented_sources=sorted(
                    (
                        sources[s]
                        for s in used
                        if s in sources and not sources[s].documented
                    ),
                    key=lambda s: s.code,
                ),
            )
        )
    undocumented = [
        (source, users.get(source.pk, []))
        for source in sorted(sources.values(), key=lambda s: s.code)
        if not source.documented
    ]
    return LineageAudit(metrics=results, undocumented_sources=undocumented)


def record_lineage_audit(*, actor: Any = None) -> dict[str, int]:
    """Run the audit and record its counts in the audit trail (quarterly job)."""
    audit = lineage_audit()
    counts = audit.counts()
    with transaction.atomic():
        events.record(
            "lineage.audited",
            actor=actor,
            object_type="metrics.metric",
            reason="quarterly lineage audit (M3.2)",
            data={
                **counts,
                "metrics_with_findings_keys": sorted(
                    m.metric.key for m in audit.findings
                ),
                "undocumented_source_codes": [
                    s.code for s, _ in audit.undocumented_sources
                ],
            },
        )
    return counts
