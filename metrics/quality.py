"""Input-error detection at capture, quarantine and the steward's decision (M3.4).

:func:`scan_observations` is a post-capture hook (registered in
``MetricsConfig.ready()``): after a batch is stored, it checks every new value
against the recent *valid* history of its series (metric × subject) with
:mod:`metrics.analytics.anomalies` — unit slips (×100/×1000), impossible values,
duplicates of a period already recorded, robust-z spikes. The history of every
affected series comes in one query per batch (plus one for the data keys of
sealed values), never one per row.

A suspect value is *quarantined* (``Observation.status``): charts, SPC and
reports read :meth:`ObservationQuerySet.current`, so it is out of them until a
steward decides. It gets one :class:`DataQualityIssue` whose ``detail`` holds
evidence as ratios and z-scores — never a value, so an issue can be listed to
anyone who may see it without leaking Confidential data.

:func:`decide_issue` is the steward's decision: *confirm* (the value is right
after all: it becomes valid again) or *correct* (a superseding observation via
:func:`metrics.services.correct_observation`), always with a reason, by the
metric's steward, its department's steward or an organisation-wide role holding
the permission — and only by someone cleared to read the value decided on.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance import bulk, permissions
from governance.audit import events
from governance.audit.history import bulk_history
from governance.services import save_governed
from metrics.analytics import anomalies
from metrics.models import DataQualityIssue, Metric, Observation

__all__ = [
    "HISTORY_POINTS",
    "Suspect",
    "decide_issue",
    "hard_range",
    "may_decide",
    "scan_observations",
]

#: How many of a series' most recent valid values new ones are judged against.
HISTORY_POINTS = 24

#: Length of one period of each update frequency, for the history window.
_PERIOD_DAYS = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92}

_PERCENT_UNITS = {"%", "percent", "pct", "percentage"}

#: When one value trips several checks, the issue is filed under the first.
_SEVERITY = ("impossible", "duplicate", "unit_slip", "spike")


@dataclass(frozen=True)
class Suspect:
    """One new observation found suspect, with the evidence (no values)."""

    observation: Observation
    kind: str
    detail: str


# -- detection --------------------------------------------------------------------


def hard_range(metric: Metric) -> anomalies.HardRange:
    """What the metric's values can possibly be.

    The metric's own validation rules (``min``, ``max``, ``integer_only``,
    ``allow_negative``) declare it. A metric in percent with no declared bounds
    is taken to be a share (0 to 100); a percentage that may leave that range (a
    growth rate) declares its own ``min``/``max``.
    """
    rules = metric.validation_rules or {}
    minimum = float(rules["min"]) if "min" in rules else None
    maximum = float(rules["max"]) if "max" in rules else None
    if (
        (metric.unit or "").strip().lower() in _PERCENT_UNITS
        and minimum is None
        and maximum is None
    ):
        minimum, maximum = 0.0, 100.0
    return anomalies.HardRange(
        minimum=minimum,
        maximum=maximum,
        allow_negative=bool(rules.get("allow_negative", True)),
        integer_only=bool(rules.get("integer_only", False)),
    )


def _series_key(obs: Observation) -> tuple[int, Any, Any]:
    return (obs.metric_id, obs.person_id, obs.team_id)


def _history(
    new: Sequence[Observation], metrics: dict[int, Metric]
) -> dict[tuple[int, Any, Any], list[tuple[datetime.date, Any]]]:
    """The last valid values of every affected series: one query for the batch.

    Rows of the batch itself are left out (they are judged, not the yardstick);
    so are quarantined and superseded values.
    """
    new_ids = {obs.pk for obs in new}
    series = {_series_key(obs) for obs in new}
    span = max(_PERIOD_DAYS.get(m.update_frequency, 92) for m in metrics.values())
    since = min(obs.period_start for obs in new) - datetime.timedelta(
        days=span * (HISTORY_POINTS + 1)
    )
    subjects = Q(pk__in=[])
    people = {p for _, p, _ in series if p is not None}
    teams = {t for _, p, t in series if p is None and t is not None}
    if people:
        subjects |= Q(person_id__in=people)
    if teams:
        subjects |= Q(team_id__in=teams, person__isnull=True)
    if any(p is None and t is None for _, p, t in series):
        subjects |= Q(person__isnull=True, team__isnull=True)
    rows = (
        Observation.objects.current()
        .filter(subjects, metric_id__in=metrics, period_start__gte=since)
        .only(
            "id",
            "metric_id",
            "person_id",
            "team_id",
            "period_start",
            "value_plain",
            "value_sealed",
        )
        .order_by("period_start", "id")
    )
    found: dict[tuple[int, Any, Any], list[tuple[datetime.date, Any]]] = defaultdict(
        list
    )
    for obs in rows:
        key = _series_key(obs)
        if key in series and obs.pk not in new_ids:
            found[key].append((obs.period_start, obs.value))
    for key, points in found.items():
        if len(points) > HISTORY_POINTS:
            found[key] = points[-HISTORY_POINTS:]
    return found


def _describe(finding: anomalies.Finding, n_points: int) -> str:
    """Evidence for the issue: which check, ratios and scores, never a value."""
    if finding.kind == "unit_slip":
        ratio = finding.score or 0.0
        size = ratio if ratio >= 1 else 1 / ratio
        factor = min(anomalies.UNIT_SLIP_FACTORS, key=lambda f: abs(f - size))
        slip = f"×{factor:g}" if ratio >= 1 else f"÷{factor:g}"
        return (
            f"Unit slip: ratio to the median of this series ({n_points} values "
            f"checked) ≈ {ratio:.2g}, consistent with a {slip} slip."
        )
    if finding.kind == "spike":
        return (
            f"Spike: robust z-score {finding.score:+.2f} within this series "
            f"({n_points} values checked; threshold ±{anomalies.SPIKE_THRESHOLD:g})."
        )
    if finding.kind == "duplicate":
        same = "repeats" in finding.detail
        return (
            "Duplicate: a valid value for this subject and period is already "
            "recorded" + (" (the same value)." if same else " (a different value).")
        )
    return f"Impossible value: {finding.detail}."


def find_suspects(observations: Sequence[Observation]) -> list[Suspect]:
    """Suspect values among ``observations`` (just stored, status valid)."""
    new = [o for o in observations if o.status == Observation.Status.VALID]
    if not new:
        return []
    metrics = {o.metric_id: o.metric for o in new}
    history = _history(new, metrics)
    by_metric: dict[int, list[Observation]] = defaultdict(list)
    for obs in new:
        by_metric[obs.metric_id].append(obs)
    suspects: list[Suspect] = []
    for metric_id, batch in by_metric.items():
        entries: list[tuple[Hashable, Any]] = []
        sizes: Counter[tuple[int, Any, Any]] = Counter()
        seen_series = set()
        for obs in batch:
            key = _series_key(obs)
            if key in seen_series:
                continue
            seen_series.add(key)
            for period, value in history.get(key, ()):
                entries.append(((*key, period), value))
                sizes[key] += 1
        offset = len(entries)
        for obs in batch:
            entries.append(((*_series_key(obs), obs.period_start), obs.value))
            sizes[_series_key(obs)] += 1
        findings = anomalies.detect_anomalies(
            entries, hard_range=hard_range(metrics[metric_id])
        )
        per_obs: dict[int, list[anomalies.Finding]] = defaultdict(list)
        for finding in findings:
            if finding.index >= offset:
                per_obs[finding.index - offset].append(finding)
        for position, found in sorted(per_obs.items()):
            obs = batch[position]
            found.sort(key=lambda f: _SEVERITY.index(f.kind))
            n = sizes[_series_key(obs)]
            detail = " ".join(_describe(f, n) for f in found)
            suspects.append(Suspect(obs, found[0].kind, detail))
    return suspects


def scan_observations(observations: list[Observation], actor: Any) -> list[Suspect]:
    """Post-capture hook: quarantine suspect values and file their issues.

    Runs inside the capture's transaction, so a batch and its quarantine commit
    (or roll back) together.
    """
    suspects = find_suspects(observations)
    if not suspects:
        return []
    now = timezone.now()
    quarantined = [s.observation for s in suspects]
    for obs in quarantined:
        obs.status = Observation.Status.QUARANTINED
    Observation.objects.filter(pk__in=[o.pk for o in quarantined]).update(
        status=Observation.Status.QUARANTINED
    )
    bulk_history(
        Observation,
        quarantined,
        history_type="~",
        reason="quarantined: suspected input error",
        user=actor,
    )
    issues = [
        DataQualityIssue(
            observation=s.observation,
            kind=s.kind,
            detail=s.detail,
            status=DataQualityIssue.Status.OPEN,
            detected_at=now,
        )
        for s in suspects
    ]
    for issue, pk in zip(
        issues, bulk.allocate_ids(DataQualityIssue, len(issues)), strict=True
    ):
        issue.pk = pk
    bulk.fast_insert(DataQualityIssue, issues)
    bulk_history(
        DataQualityIssue,
        issues,
        history_type="+",
        reason="detected at capture",
        user=actor,
    )
    kinds = Counter(s.kind for s in suspects)
    events.record(
        "quality.quarantined",
        actor=actor,
        object_type="metrics.observation",
        reason="suspected input errors at capture",
        data={
            "quarantined": len(suspects),
            "kinds": dict(sorted(kinds.items())),
            "metrics": sorted({s.observation.metric.key for s in suspects}),
            "issues": [i.pk for i in issues],
        },
    )
    return suspects


# -- the steward's decision ---------------------------------------------------------


def may_decide(user: Any, metric: Metric) -> bool:
    """The metric's steward, its department's steward, or an organisation-wide
    role — each holding the permission to change data-quality issues."""
    if user is None:
        return True  # the system itself (jobs, tests)
    if not permissions.has_model_perm(user, DataQualityIssue, "change"):
        return False
    if permissions.has_org_scope(user):
        return True
    person = permissions.person_of(user)
    return person is not None and person.pk in {
        metric.steward_id,
        metric.department.steward_id,
    }


DECISIONS = ("confirm", "correct")


@transaction.atomic
def decide_issue(
    *,
    actor: Any,
    issue: DataQualityIssue,
    decision: str,
    reason: str,
    value: Any = None,
) -> DataQualityIssue:
    """Confirm the quarantined value, or correct it, with a reason.

    ``confirm`` makes the value valid again; ``correct`` stores ``value`` as a new
    observation that supersedes the suspect one (never an overwrite). Other open
    issues of the same observation are closed with it.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": "Say why: a data-quality decision needs a reason."}
        )
    if decision not in DECISIONS:
        raise ValidationError({"decision": "Decide “confirm” or “correct”."})
    current = (
        DataQualityIssue.objects.select_for_update()
        .select_related("observation__metric__department")
        .get(pk=issue.pk)
    )
    if current.status != DataQualityIssue.Status.OPEN:
        raise ValidationError(
            f"This issue was already decided ({current.get_status_display().lower()})."
        )
    observation = current.observation
    metric = observation.metric
    if not may_decide(actor, metric):
        raise PermissionDenied(
            "Only the metric's data steward, its department's steward or an "
            "organisation-wide role may decide data-quality issues."
        )
    if actor is not None and not permissions.can_read_level(
        actor, observation.classification, subject_id=observation.person_id
    ):
        raise PermissionDenied(
            "Your clearance is below this value's classification: you can't decide on it."
        )
    now = timezone.now()
    correction = None
    if decision == "correct":
        if value in (None, ""):
            raise ValidationError({"value": "A correction needs the right value."})
        correction = _correct(
            actor=actor, observation=observation, value=value, reason=reason
        )
        status = DataQualityIssue.Status.CORRECTED
    else:
        status = DataQualityIssue.Status.CONFIRMED
    siblings = list(
        DataQualityIssue.objects.select_for_update().filter(
            observation=observation, status=DataQualityIssue.Status.OPEN
        )
    )
    for open_issue in siblings:
        open_issue.status = status
        open_issue.decided_by_id = getattr(actor, "pk", None)
        open_issue.decided_at = now
        open_issue.decision_note = reason
        save_governed(open_issue, actor=actor, reason=f"{decision}: {reason}")
    if decision == "confirm":
        fresh = Observation.objects.select_for_update().get(pk=observation.pk)
        if fresh.status == Observation.Status.QUARANTINED:
            fresh.status = Observation.Status.VALID
            save_governed(fresh, actor=actor, reason=f"value confirmed: {reason}")
    events.record(
        "quality.decided",
        actor=actor,
        target=current,
        reason=reason,
        data={
            "decision": decision,
            "kind": current.kind,
            "observation": observation.pk,
            "correction": getattr(correction, "pk", None),
            "issues": sorted(i.pk for i in siblings),
        },
    )
    current.refresh_from_db()
    return current


def _correct(
    *, actor: Any, observation: Observation, value: Any, reason: str
) -> Observation:
    from metrics import services

    return services.correct_observation(
        actor=actor, observation=observation, value=value, reason=reason
    )


def open_issues(user: Any) -> Iterable[DataQualityIssue]:
    """Open issues the user may see, newest first (the steward's queue)."""
    return (
        DataQualityIssue.objects.visible_to(user, "view")
        .filter(status=DataQualityIssue.Status.OPEN)
        .select_related(
            "observation__metric", "observation__person", "observation__team"
        )
    )


def as_number(value: Any) -> float | None:
    """A stored value as a float (None for erased, masked or missing values)."""
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    return None
