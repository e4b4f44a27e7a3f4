"""How metrics plugs into consent (M8.3) and the review board (M8.4).

The kernel offers plain functions and never imports metrics; this module
adapts them to the metrics service layer's extension points and registers
them (called once from ``MetricsConfig.ready()``):

* capture guards, run by ``services.validate_rows`` on every capture path
  (admin, import, API, connectors): no individual-level value without the
  person's active consent where their jurisdiction requires it, and none for
  a high-impact metric without the board's approval of its current version;
* an activation guard: a high-impact metric can't become active without it;
* a metric-changed hook: a governed edit revokes approvals of older versions;
* the board's subject provider for ``metrics.metric``: version and digest of
  the governed fields, owner, measured people, and what a user may propose.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from decimal import Decimal
from typing import Any

from governance import bias, board, consent, permissions, retention, subject_rights
from governance.models import Membership, Person, Team
from governance.subject_rights import plain
from metrics.models import (
    Evaluation,
    Metric,
    Observation,
    PeerFeedback,
    StakeholderFeedback,
)

SUBJECT_TYPE = "metrics.metric"
_CACHE = "_governance_guard_cache"


def purpose_of(metric: Metric) -> str:
    """The consent purpose a metric's individual-level data is processed for."""
    return metric.consent_purpose_id or consent.DEFAULT_PURPOSE


def governed_digest(metric: Metric) -> str:
    """SHA-256 over the governed fields and the methodology version: the exact
    version a board approval binds to."""
    values: dict[str, Any] = {"methodology_version": metric.methodology_version}
    for name in Metric.GOVERNED_FIELDS:
        value = getattr(metric, "source_id" if name == "source" else name)
        values[name] = value
    text = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _label(metric: Metric) -> str:
    return f"{metric.name} ({metric.key})"


def _batch_cache(metric: Metric) -> dict[Any, Any]:
    # validate_rows loads fresh Metric instances for every batch and shares
    # them between its rows: a cache on the instance lives for one batch.
    return metric.__dict__.setdefault(_CACHE, {})


# -- guards and hooks ----------------------------------------------------------


def consent_capture_guard(
    metric: Metric,
    person: Person | None,
    team: Team | None,
    period_start: datetime.date,
) -> str | None:
    if person is None or metric.level != Metric.Level.INDIVIDUAL:
        return None
    return consent.capture_refusal(
        purpose=purpose_of(metric),
        person_id=person.pk,
        employee_id=person.employee_id,
        consent_required=bool(person.jurisdiction.consent_required),
        cache=_batch_cache(metric),
    )


def board_capture_guard(
    metric: Metric,
    person: Person | None,
    team: Team | None,
    period_start: datetime.date,
) -> str | None:
    if person is None or metric.impact != Metric.Impact.HIGH:
        return None
    cache = _batch_cache(metric)
    if "board" not in cache:
        cache["board"] = board.approval_refusal(
            subject_type=SUBJECT_TYPE,
            subject_id=metric.pk,
            digest=governed_digest(metric),
            label=_label(metric),
            doing="receive individual-level data",
        )
    return cache["board"]


def board_activation_guard(metric: Metric, actor: Any) -> str | None:
    if metric.impact != Metric.Impact.HIGH:
        return None
    return board.approval_refusal(
        subject_type=SUBJECT_TYPE,
        subject_id=metric.pk,
        digest=governed_digest(metric),
        label=_label(metric),
        doing="become active",
    )


def bias_activation_guard(metric: Metric, actor: Any) -> str | None:
    if metric.impact != Metric.Impact.HIGH:
        return None
    return bias.completion_refusal(
        target_type=bias.METRIC,
        target_id=metric.pk,
        version=metric.methodology_version,
        label=_label(metric),
        doing="become active",
    )


def bias_release_guard(
    period_start: datetime.date, period_end: datetime.date, actor: Any
) -> str | None:
    return bias.completion_refusal(
        target_type=bias.EVALUATION_RELEASE,
        target_id=bias.release_id(period_start, period_end),
        version=None,
        label=f"The evaluations of {period_start:%Y-%m-%d} – {period_end:%Y-%m-%d}",
        doing="be released",
    )


def revoke_on_change(metric: Metric, changed_fields: list[str], actor: Any) -> None:
    board.subject_changed(
        subject_type=SUBJECT_TYPE,
        subject_id=metric.pk,
        digest=governed_digest(metric),
        changed_fields=changed_fields,
        actor=actor,
    )


# -- the board's subject provider ---------------------------------------------------


def _describe(subject_id: str) -> board.SubjectVersion | None:
    metric = (
        Metric.objects.filter(pk=subject_id).first() if subject_id.isdigit() else None
    )
    if metric is None:
        return None
    return board.SubjectVersion(
        version=metric.methodology_version,
        digest=governed_digest(metric),
        label=_label(metric),
        owner_person_ids=frozenset({str(metric.owner_id)}),
        high_impact=metric.impact == Metric.Impact.HIGH,
    )


def _team_and_below(team_id: int) -> set[int]:
    pairs = list(Team.objects.values_list("id", "parent_id"))
    found, stack = set(), [team_id]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(child for child, parent in pairs if parent == current)
    return found


def measured_people(subject_id: str) -> set[str]:
    """People the metric measures: everyone with a value of it, and the
    current members of the team it measures (and the teams below)."""
    metric = (
        Metric.objects.filter(pk=subject_id).first() if subject_id.isdigit() else None
    )
    if metric is None:
        return set()
    people = set(
        Observation.objects.filter(metric=metric, person__isnull=False)
        .values_list("person_id", flat=True)
        .distinct()
    )
    if metric.team_id and metric.level in (Metric.Level.INDIVIDUAL, Metric.Level.TEAM):
        today = datetime.date.today()
        people |= set(
            Membership.objects.filter(team_id__in=_team_and_below(metric.team_id))
            .exclude(end_date__lt=today)
            .values_list("person_id", flat=True)
        )
    return {str(p) for p in people}


def _candidates(user: Any) -> list[tuple[str, str]]:
    """High-impact metrics the user may write a proposal about: any, for
    organisation-wide roles (HR, compliance); otherwise those they may change
    (a metric owner's own metrics)."""
    action = "view" if permissions.has_org_scope(user) else "change"
    return [
        (str(m.pk), _label(m))
        for m in Metric.objects.visible_to(user, action)
        .filter(impact=Metric.Impact.HIGH)
        .exclude(status=Metric.Status.RETIRED)
        .order_by("key")
    ]


# -- bias assessment outcome providers (M8.5) ---------------------------------------


def _metric_of(target_id: str) -> Metric | None:
    return Metric.objects.filter(pk=target_id).first() if target_id.isdigit() else None


def _describe_metric(target_id: str) -> bias.Target | None:
    metric = _metric_of(target_id)
    if metric is None:
        return None
    return bias.Target(label=_label(metric), version=metric.methodology_version)


def metric_outcomes(target_id: str) -> list[tuple[Any, Decimal]]:
    """Each person's latest valid value of the metric (pilot or history data
    before go-live)."""
    from metrics.services import plaintext_value

    metric = _metric_of(target_id)
    if metric is None:
        return []
    latest: dict[Any, Decimal] = {}
    rows = Observation.objects.filter(
        metric=metric, person__isnull=False, status=Observation.Status.VALID
    ).order_by("person_id", "-period_start", "-pk")
    for observation in rows:
        if observation.person_id in latest:
            continue
        value = plaintext_value(observation)
        if value is not None:
            latest[observation.person_id] = Decimal(value)
    return list(latest.items())


def _metric_candidates(user: Any) -> list[tuple[str, str]]:
    return [
        (str(m.pk), _label(m))
        for m in Metric.objects.filter(impact=Metric.Impact.HIGH)
        .exclude(status=Metric.Status.RETIRED)
        .order_by("key")
    ]


def _describe_release(target_id: str) -> bias.Target | None:
    period = bias.parse_release_id(target_id)
    if period is None:
        return None
    start, end = period
    if not Evaluation.objects.filter(period_start=start, period_end=end).exists():
        return None
    return bias.Target(
        label=f"Evaluations {start:%Y-%m-%d} – {end:%Y-%m-%d}",
        period_start=start,
        period_end=end,
    )


def release_outcomes(target_id: str) -> list[tuple[Any, Decimal]]:
    """Each evaluated person's score in the period (drafts and released)."""
    period = bias.parse_release_id(target_id)
    if period is None:
        return []
    found = []
    for evaluation in Evaluation.objects.filter(
        period_start=period[0], period_end=period[1]
    ).exclude(status=Evaluation.Status.ON_HOLD):
        score: Any = evaluation.score
        if isinstance(score, Decimal):
            found.append((evaluation.person_id, score))
    return found


def _release_candidates(user: Any) -> list[tuple[str, str]]:
    periods = (
        Evaluation.objects.order_by("-period_start", "period_end")
        .values_list("period_start", "period_end")
        .distinct()
    )
    return [
        (bias.release_id(a, b), f"Evaluations {a:%Y-%m-%d} – {b:%Y-%m-%d}")
        for a, b in periods
    ]


# -- subject access (G.DSAR): what metrics holds about a person ------------------


def _own_observations(person: Person) -> list[dict[str, Any]]:
    from metrics.services import plaintext_value

    return [
        {
            "metric": o.metric.key,
            "metric_name": o.metric.name,
            "period_start": plain(o.period_start),
            "period_end": plain(o.period_end),
            "value": plain(plaintext_value(o)),
            "status": o.status,
            "entered_at": plain(o.entered_at),
            "correction_reason": o.correction_reason,
        }
        for o in Observation.objects.filter(person=person)
        .select_related("metric")
        .order_by("metric__key", "period_start", "pk")
    ]


def _own_evaluations(person: Person) -> list[dict[str, Any]]:
    return [
        {
            "period_start": plain(e.period_start),
            "period_end": plain(e.period_end),
            "weights": e.weights,
            "components": plain(e.components),
            "score": plain(e.score),
            "rationale": plain(e.rationale),
            "status": e.status,
        }
        for e in Evaluation.objects.filter(person=person).order_by("period_start")
    ]


def _own_feedback(person: Person) -> dict[str, Any]:
    # Who gave peer feedback is left out: that is about the reviewer.
    return {
        "peer": [
            {
                "cycle": f.cycle,
                "rating": f.rating,
                "text": plain(f.text),
                "submitted_at": plain(f.submitted_at),
            }
            for f in PeerFeedback.objects.filter(subject=person).order_by("cycle")
        ],
        "stakeholder": [
            {
                "stakeholder": f.stakeholder,
                "period_start": plain(f.period_start),
                "rating": f.rating,
                "text": plain(f.text),
            }
            for f in StakeholderFeedback.objects.filter(person=person).order_by(
                "period_start"
            )
        ],
    }


def register() -> None:
    from metrics import services

    services.register_capture_guard(consent_capture_guard)
    services.register_capture_guard(board_capture_guard)
    services.register_activation_guard(board_activation_guard)
    services.register_activation_guard(bias_activation_guard)
    services.register_release_guard(bias_release_guard)
    services.register_metric_changed_hook(revoke_on_change)
    board.register_subject(
        board.SubjectProvider(
            subject_type=SUBJECT_TYPE,
            describe=_describe,
            measured_people=measured_people,
            candidates=_candidates,
        )
    )

    bias.register_provider(
        bias.OutcomeProvider(
            target_type=bias.METRIC,
            label="metric (before go-live)",
            describe=_describe_metric,
            outcomes=metric_outcomes,
            candidates=_metric_candidates,
        )
    )
    bias.register_provider(
        bias.OutcomeProvider(
            target_type=bias.EVALUATION_RELEASE,
            label="evaluation release (one period)",
            describe=_describe_release,
            outcomes=release_outcomes,
            candidates=_release_candidates,
        )
    )
    for key, title, collect, order in (
        ("observations", "Metric values about me", _own_observations, 50),
        ("evaluations", "My evaluations", _own_evaluations, 60),
        ("feedback", "Feedback about me", _own_feedback, 70),
    ):
        subject_rights.register_contributor(
            subject_rights.DataContributor(key, title, collect, order)
        )
    for label, date_field, person_field, description, categories in (
        (
            "metrics.observation",
            "period_end",
            "person",
            "Metric values; a value other records still point to is kept.",
            "performance values",
        ),
        (
            "metrics.evaluation",
            "period_end",
            "person",
            "Evaluations (score, components, rationale).",
            "evaluation scores and rationale",
        ),
        (
            "metrics.peerfeedback",
            "submitted_at",
            "subject",
            "Peer feedback received.",
            "peer ratings and comments",
        ),
        (
            "metrics.stakeholderfeedback",
            "period_start",
            "person",
            "Stakeholder feedback.",
            "stakeholder ratings and comments",
        ),
    ):
        retention.register_record_type(
            retention.RecordType(
                label=label,
                date_field=date_field,
                person_field=person_field,
                description=description,
                data_categories=categories,
            )
        )
    subject_rights.register_activity(
        subject_rights.Activity(
            name="Performance measurement",
            purpose="Measure individual and team performance against documented "
            "metrics, and evaluate people per period.",
            models=(
                "metrics.observation",
                "metrics.evaluation",
                "metrics.peerfeedback",
                "metrics.stakeholderfeedback",
            ),
            lawful_basis="Legitimate interests (Art. 6(1)(f)); consent where "
            "the jurisdiction requires it",
        )
    )
