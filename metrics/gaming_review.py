"""Gaming detection and its non-punitive review queue (SPEC M5.3).

:func:`detect_gaming` (daily job ``metrics.gaming_detection``) runs the three
checks of :mod:`metrics.analytics.gaming` over current observations and files
:class:`~metrics.models.GamingFinding` rows:

* **counter-metric pairs** — every unresolved declared
  :class:`~metrics.models.MetricConflict` is a counter-metric pair; each side is
  checked as the primary against the other. The means of the last
  ``GAMING_COUNTER_WINDOW_DAYS`` (default 91) days before the latest value are
  compared with the window before; pairs are compared per team measured by
  both, else organisation-wide;
* **end-of-period spikes** — daily values (an observation whose period is one
  day), summed per day, last 3 days of each month against the other days;
* **bunching just past thresholds** — values against the metric's SMART
  target: the passing side is "at or above" for higher-is-better metrics and
  "at or below" for lower-is-better ones; the window is
  ``GAMING_BUNCHING_WINDOW`` (default 0.1) of the threshold on either side.

Values are pooled per *team measured* (an individual-level value counts for its
metric's team; a pool of individual values from fewer than
``GAMING_MIN_PEOPLE`` people, default 3, is not examined): a finding names a
metric and a team or the organisation, never a person, and its text holds
aggregate numbers only. Findings are not written to
anyone's record: they live only in this queue (no relation to a person, not in
evaluations, observations, self-service or person exports).

Idempotent: a finding's fingerprint is its kind, metric(s), team and the
quarter of the latest value it looked at. Re-running refreshes an open
finding's evidence and never duplicates or reopens one; a pattern that persists
into a new quarter files a new finding.

:func:`finding_review` closes a finding with a process outcome (no action,
process fix, coaching conversation) and a note.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance import permissions
from governance.audit import events
from governance.services import save_governed
from metrics.analytics import gaming
from metrics.models import (
    GamingFinding,
    Metric,
    MetricConflict,
    MetricTarget,
    Observation,
)

__all__ = ["detect_gaming", "finding_review"]

#: (metric id, team id or None) → [(period_start, period_end, value)]
_Series = dict[tuple[int, int | None], list[tuple[datetime.date, datetime.date, float]]]


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def _quarter(day: datetime.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _load(metrics: dict[int, Metric]) -> _Series:
    """Current values per (metric, team measured). A pool of individual values
    from fewer than ``GAMING_MIN_PEOPLE`` people (default 3) is left out: its
    summary would describe one or two people's numbers."""
    series: _Series = defaultdict(list)
    people: dict[tuple[int, int | None], set[Any]] = defaultdict(set)
    observations = (
        Observation.objects.current()
        .filter(metric_id__in=list(metrics))
        .only(
            "id",
            "metric_id",
            "person_id",
            "team_id",
            "period_start",
            "period_end",
            "value_plain",
            "value_sealed",
        )
        .order_by("period_start", "id")
    )
    for obs in observations:
        value = obs.value
        if value is None or not isinstance(value, (int, float, Decimal)):
            continue  # erased subjects read as None / a marker
        metric = metrics[obs.metric_id]
        team = obs.team_id if obs.person_id is None else metric.team_id
        key = (obs.metric_id, team)
        if obs.person_id is not None:
            people[key].add(obs.person_id)
        series[key].append((obs.period_start, obs.period_end, float(value)))
    minimum = int(_setting("GAMING_MIN_PEOPLE", 3))
    for key, who in people.items():
        if len(who) < minimum:
            del series[key]
    return series


def _window_means(
    points: list[tuple[datetime.date, datetime.date, float]],
    end: datetime.date,
    days: int,
) -> tuple[float, float] | None:
    after_from = end - datetime.timedelta(days=days)
    before_from = end - datetime.timedelta(days=2 * days)
    after = [v for start, _, v in points if after_from < start <= end]
    before = [v for start, _, v in points if before_from < start <= after_from]
    if not after or not before:
        return None
    return statistics.fmean(before), statistics.fmean(after)


def _counter_findings(
    metrics: dict[int, Metric], series: _Series
) -> Iterable[
    tuple[gaming.GamingFinding, Metric, Metric | None, int | None, datetime.date]
]:
    days = int(_setting("GAMING_COUNTER_WINDOW_DAYS", 91))
    conflicts = MetricConflict.objects.filter(
        resolved=False, metric_a_id__in=list(metrics), metric_b_id__in=list(metrics)
    )
    for conflict in conflicts:
        a, b = metrics[conflict.metric_a_id], metrics[conflict.metric_b_id]
        if Metric.Direction.RANGE in (a.direction, b.direction):
            continue
        teams_a = {t for (m, t) in series if m == a.pk}
        teams_b = {t for (m, t) in series if m == b.pk}
        common = sorted(teams_a & teams_b, key=lambda t: (t is None, t or 0))
        groups: list[tuple[int | None, list[Any], list[Any]]] = [
            (t, series[(a.pk, t)], series[(b.pk, t)]) for t in common
        ]
        if not groups and teams_a and teams_b:
            pooled_a = [p for (m, _), ps in series.items() if m == a.pk for p in ps]
            pooled_b = [p for (m, _), ps in series.items() if m == b.pk for p in ps]
            groups = [(None, pooled_a, pooled_b)]
        for team, points_a, points_b in groups:
            end = max(max(p[0] for p in points_a), max(p[0] for p in points_b))
            means_a = _window_means(points_a, end, days)
            means_b = _window_means(points_b, end, days)
            if means_a is None or means_b is None:
                continue
            changes = {
                m.pk: gaming.MetricChange(
                    m.key, means[0], means[1], m.direction != Metric.Direction.LOWER
                )
                for m, means in ((a, means_a), (b, means_b))
            }
            for primary, counter in ((a, b), (b, a)):
                finding = gaming.check_counter_metric_pair(
                    f"metric:{primary.key}/team:{team}",
                    changes[primary.pk],
                    changes[counter.pk],
                )
                if finding is not None:
                    yield finding, primary, counter, team, end


def _spike_findings(
    metrics: dict[int, Metric], series: _Series
) -> Iterable[
    tuple[gaming.GamingFinding, Metric, Metric | None, int | None, datetime.date]
]:
    for (metric_id, team), points in series.items():
        daily: dict[datetime.date, float] = defaultdict(float)
        for start, end, value in points:
            if start == end:
                daily[start] += value
        if not daily:
            continue
        metric = metrics[metric_id]
        finding = gaming.end_of_period_spike(
            f"metric:{metric.key}/team:{team}", daily, period="month"
        )
        if finding is not None:
            yield finding, metric, None, team, max(daily)


def _bunching_findings(
    metrics: dict[int, Metric], series: _Series
) -> Iterable[
    tuple[gaming.GamingFinding, Metric, Metric | None, int | None, datetime.date]
]:
    window = Decimal(str(_setting("GAMING_BUNCHING_WINDOW", "0.1")))
    targets: dict[int, list[MetricTarget]] = defaultdict(list)
    for target in MetricTarget.objects.filter(metric_id__in=list(metrics)):
        targets[target.metric_id].append(target)
    for (metric_id, team), points in series.items():
        metric = metrics[metric_id]
        if metric.direction == Metric.Direction.RANGE or not targets.get(metric_id):
            continue
        chosen = [t for t in targets[metric_id] if t.team_id == team] or [
            t for t in targets[metric_id] if t.team_id is None
        ]
        if not chosen or chosen[0].target == 0:
            continue
        threshold = chosen[0].target
        finding = gaming.threshold_bunching(
            f"metric:{metric.key}/team:{team}",
            [Decimal(repr(v)) for _, _, v in points],
            threshold=threshold,
            epsilon=abs(threshold) * window,
            passing=(
                "at_or_below"
                if metric.direction == Metric.Direction.LOWER
                else "at_or_above"
            ),
        )
        if finding is not None:
            yield finding, metric, None, team, max(p[0] for p in points)


def _jsonable(evidence: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dict(evidence), default=str))


@transaction.atomic
def detect_gaming(*, actor: Any = None) -> dict[str, int]:
    """Run the three checks over current observations; file or refresh findings."""
    metrics = {
        m.pk: m
        for m in Metric.objects.filter(
            status__in=(Metric.Status.ACTIVE, Metric.Status.SUNSET_REVIEW)
        )
    }
    series = _load(metrics)
    counts = {"created": 0, "refreshed": 0, "unchanged": 0}
    now = timezone.now()
    seen: set[str] = set()
    for finder in (_counter_findings, _spike_findings, _bunching_findings):
        for finding, metric, counter, team, latest in finder(metrics, series):
            fingerprint = _fingerprint(
                finding.kind,
                metric.pk,
                counter.pk if counter else "",
                team or "",
                _quarter(latest),
            )
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            evidence = _jsonable(finding.evidence)
            existing = (
                GamingFinding.objects.select_for_update()
                .filter(fingerprint=fingerprint)
                .first()
            )
            if existing is None:
                row = GamingFinding(
                    kind=str(finding.kind),
                    metric=metric,
                    counter_metric=counter,
                    team_id=team,
                    fingerprint=fingerprint,
                    evidence=evidence,
                    summary=finding.summary,
                    detected_at=now,
                    last_seen_at=now,
                )
                save_governed(row, actor=actor, reason="gaming detection")
                counts["created"] += 1
            elif (
                existing.status == GamingFinding.Status.OPEN
                and existing.evidence != evidence
            ):
                existing.evidence = evidence
                existing.summary = finding.summary
                existing.last_seen_at = now
                save_governed(
                    existing, actor=actor, reason="gaming detection: new data"
                )
                counts["refreshed"] += 1
            else:
                counts["unchanged"] += 1
    events.record(
        "gaming.detection_run",
        actor=actor,
        object_type="metrics.gamingfinding",
        data=counts,
    )
    return counts


@transaction.atomic
def finding_review(
    *, actor: Any, finding: GamingFinding, outcome: str, note: str
) -> GamingFinding:
    """Close an open finding with a process outcome and a note."""
    finding = GamingFinding.objects.select_for_update().get(pk=finding.pk)
    if not permissions.can(actor, "change", finding):
        raise PermissionDenied("You may not review gaming findings.")
    if finding.status != GamingFinding.Status.OPEN:
        raise ValidationError("This finding has already been reviewed.")
    if outcome not in GamingFinding.Outcome.values:
        raise ValidationError({"outcome": f"Unknown outcome {outcome!r}."})
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Record what the review found."})
    finding.status = GamingFinding.Status.REVIEWED
    finding.outcome = outcome
    finding.review_note = note
    finding.reviewed_by_id = actor.pk
    finding.reviewed_at = timezone.now()
    save_governed(finding, actor=actor, reason=f"reviewed: {outcome}")
    events.record(
        "gaming_finding.reviewed",
        actor=actor,
        target=finding,
        data={"outcome": outcome, "kind": finding.kind},
    )
    return finding
