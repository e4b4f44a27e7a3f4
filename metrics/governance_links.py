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
from typing import Any

from governance import board, consent, permissions
from governance.models import Membership, Person, Team
from metrics.models import Metric, Observation

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


def register() -> None:
    from metrics import services

    services.register_capture_guard(consent_capture_guard)
    services.register_capture_guard(board_capture_guard)
    services.register_activation_guard(board_activation_guard)
    services.register_metric_changed_hook(revoke_on_change)
    board.register_subject(
        board.SubjectProvider(
            subject_type=SUBJECT_TYPE,
            describe=_describe,
            measured_people=measured_people,
            candidates=_candidates,
        )
    )
