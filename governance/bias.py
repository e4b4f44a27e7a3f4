"""Bias assessments (SPEC M8.5): run, record, remediate, complete, gate.

The kernel never imports the apps whose outcomes it assesses. An app
registers an :class:`OutcomeProvider` per target type (metrics does, from
``metrics.governance_links``): it describes a target (label, version) and
supplies its outcomes, one ``(person_id, score)`` per person. The demographic
attribute comes from the person's Restricted, encrypted values on
:class:`~governance.models.Person`; this module is their only reader besides
the subject themself. Nothing but group labels and counts leaves it: the
dataset itself is never stored, only its SHA-256.

Gates: :func:`completion_refusal` says why a target may not go ahead
(a high-impact metric becoming active, an evaluation period being released)
unless a *completed* assessment of its current version exists.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance import permissions
from governance.analytics.fairness import (
    assess_score_gaps,
    assess_selection,
    counts_from_outcomes,
)
from governance.audit import events
from governance.crypto.fields import ERASED
from governance.models import BiasAssessment, BiasGroupResult, Person, RemediationItem
from governance.services import save_governed

METRIC = "metrics.metric"
EVALUATION_RELEASE = "metrics.evaluation_release"


@dataclass(frozen=True)
class Target:
    label: str
    version: int | None = None
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None


@dataclass(frozen=True)
class OutcomeProvider:
    """How the kernel reads one kind of target without importing its app.

    ``describe(target_id)`` returns the target (or ``None`` if it doesn't
    exist); ``outcomes(target_id)`` the scores, one per person, as
    ``(person_id, score)``; ``candidates(user)`` what ``user`` may assess, as
    ``(target_id, label)`` pairs, for the admin's form.
    """

    target_type: str
    label: str
    describe: Callable[[str], Target | None]
    outcomes: Callable[[str], Sequence[tuple[Any, Decimal]]]
    candidates: Callable[[Any], list[tuple[str, str]]]


_PROVIDERS: dict[str, OutcomeProvider] = {}


def register_provider(provider: OutcomeProvider) -> None:
    _PROVIDERS[provider.target_type] = provider


def providers() -> dict[str, OutcomeProvider]:
    return dict(_PROVIDERS)


def provider(target_type: str) -> OutcomeProvider:
    try:
        return _PROVIDERS[target_type]
    except KeyError:
        raise ValidationError(
            f"Unknown assessment target type {target_type!r}."
        ) from None


def release_id(period_start: datetime.date, period_end: datetime.date) -> str:
    """The target id of an evaluation release (one evaluation period)."""
    return f"{period_start.isoformat()}..{period_end.isoformat()}"


def parse_release_id(value: str) -> tuple[datetime.date, datetime.date] | None:
    start, sep, end = value.partition("..")
    try:
        first = datetime.date.fromisoformat(start)
        last = datetime.date.fromisoformat(end)
    except ValueError:
        return None
    return (first, last) if sep and first <= last else None


# -- the demographic attribute ----------------------------------------------------


def age_band(born: datetime.date, on: datetime.date) -> str:
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if years < 30:
        return "under 30"
    if years < 40:
        return "30-39"
    if years < 50:
        return "40-49"
    return "50 and over"


def _group_of(person: Person, attribute: str, on: datetime.date) -> str | None:
    if person.erased_at:
        return None
    if attribute == BiasAssessment.Attribute.AGE_BAND:
        born: Any = person.date_of_birth
        if not isinstance(born, datetime.date):
            return None
        return age_band(born, on)
    value: Any = getattr(person, attribute)
    if value is ERASED or not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _groups(
    person_ids: Sequence[Any], attribute: str, on: datetime.date
) -> dict[str, str]:
    """Group label per person id (as text); people without one are left out."""
    people = Person.objects.filter(pk__in=list(person_ids)).only(
        "id", "erased_at", "date_of_birth", "gender", "ethnicity", "disability"
    )
    found: dict[str, str] = {}
    for person in people:
        group = _group_of(person, attribute, on)
        if group is not None:
            found[str(person.pk)] = group
    return found


def dataset_hash(rows: Sequence[tuple[str, str, str, int]]) -> str:
    """SHA-256 of the canonical dataset: sorted ``[person_id, group, score,
    selected]`` rows as compact JSON."""
    text = json.dumps(sorted(rows), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# -- running -----------------------------------------------------------------------


def _need(actor: Any, model: Any, action: str, message: str) -> None:
    if actor is not None and not permissions.has_model_perm(actor, model, action):
        raise PermissionDenied(message)


def _reason(reason: str, default: str) -> str:
    return (reason or "").strip() or default


@transaction.atomic
def run_assessment(
    *,
    actor: Any,
    target_type: str,
    target_id: Any,
    attribute: str,
    threshold: Decimal,
    min_group_size: int = 5,
    reason: str = "",
) -> BiasAssessment:
    """Compute and record a bias assessment of one target from live data.

    Selected means ``score >= threshold``. Figures per group: selection rate,
    four-fifths impact ratio (exact), adverse flag, parity difference, Fisher
    and chi-square p against the reference group, mean difference and
    Cohen's d. Groups smaller than ``min_group_size`` are suppressed.
    """
    _need(
        actor, BiasAssessment, "add", "Only compliance officers run bias assessments."
    )
    if attribute not in BiasAssessment.Attribute.values:
        raise ValidationError({"attribute": f"Unknown attribute {attribute!r}."})
    if min_group_size < 1:
        raise ValidationError(
            {"min_group_size": "The minimum group size is at least 1."}
        )
    try:
        threshold = Decimal(threshold)
    except (ArithmeticError, TypeError, ValueError):
        raise ValidationError(
            {"threshold": "The threshold must be a number."}
        ) from None
    if not threshold.is_finite():
        raise ValidationError({"threshold": "The threshold must be a finite number."})
    source = provider(target_type)
    target_id = str(target_id)
    target = source.describe(target_id)
    if target is None:
        raise ValidationError(f"No {source.label} {target_id!r} to assess.")

    outcomes = list(source.outcomes(target_id))
    on = target.period_end or timezone.localdate()
    groups = _groups([pid for pid, _ in outcomes], attribute, on)
    rows: list[tuple[str, str, str, int]] = []
    excluded = 0
    for person_id, score in outcomes:
        group = groups.get(str(person_id))
        if group is None or score is None:
            excluded += 1
            continue
        value = Decimal(score)
        rows.append(
            (
                str(person_id),
                group,
                format(value.normalize(), "f"),
                int(value >= threshold),
            )
        )

    counts = counts_from_outcomes((group, selected) for _, group, _, selected in rows)
    selection = assess_selection(counts, min_group_size=min_group_size)
    scores: dict[str, list[float]] = {}
    for _, group, score_text, _ in rows:
        scores.setdefault(group, []).append(float(score_text))
    gaps = (
        assess_score_gaps(
            scores, reference=selection.reference_group, min_group_size=min_group_size
        )
        if selection.reference_group
        else None
    )
    gap_of = {g.group: g for g in gaps.groups} if gaps else {}
    shown = [g for g in selection.groups if not g.suppressed]
    if len(shown) < 2:
        verdict = BiasAssessment.Verdict.INSUFFICIENT
    elif selection.adverse_groups:
        verdict = BiasAssessment.Verdict.ADVERSE
    else:
        verdict = BiasAssessment.Verdict.NO_ADVERSE

    now = timezone.now()
    assessment = BiasAssessment(
        target_type=target_type,
        target_id=target_id,
        target_label=target.label[:200],
        target_version=target.version,
        attribute=attribute,
        period_start=target.period_start,
        period_end=target.period_end,
        threshold=threshold,
        min_group_size=min_group_size,
        run_by=actor,
        run_at=now,
        dataset_hash=dataset_hash(rows),
        dataset_size=len(rows),
        excluded_count=excluded,
        reference_group=selection.reference_group or "",
        verdict=verdict,
    )
    if verdict == BiasAssessment.Verdict.NO_ADVERSE:
        assessment.status = BiasAssessment.Status.COMPLETED
        assessment.completed_at = now
        assessment.completed_by_id = getattr(actor, "pk", None)
        assessment.completion_note = "No adverse impact found."
    save_governed(
        assessment, actor=actor, reason=_reason(reason, "bias assessment run")
    )
    for g in selection.groups:
        gap = gap_of.get(g.group)
        result = BiasGroupResult(assessment=assessment, group=g.group[:80])
        result.is_reference = g.is_reference
        if g.suppressed:
            result.suppressed = True
        else:
            result.n, result.selected = g.n, g.selected
            result.rate = str(g.rate) if g.rate is not None else ""
            result.impact_ratio = (
                str(g.impact_ratio) if g.impact_ratio is not None else ""
            )
            result.adverse = g.adverse
            result.parity_difference = (
                str(g.parity_difference) if g.parity_difference is not None else ""
            )
            result.fisher_p, result.chi2_p = g.fisher_p, g.chi2_p
            if gap is not None and not gap.suppressed:
                result.mean = gap.mean
                result.mean_difference = gap.mean_difference
                result.cohens_d = gap.cohens_d
        save_governed(result, actor=actor, reason="bias assessment result")
    events.record(
        "bias.assessed",
        actor=actor,
        target=assessment,
        reason=reason,
        data={
            "target_type": target_type,
            "target_id": target_id,
            "attribute": attribute,
            "dataset_hash": assessment.dataset_hash,
            "dataset_size": len(rows),
            "excluded": excluded,
            "verdict": verdict,
            "groups_shown": len(shown),
            "groups_suppressed": len(selection.groups) - len(shown),
        },
    )
    return assessment


@transaction.atomic
def complete_assessment(
    *, actor: Any, assessment: BiasAssessment, note: str
) -> BiasAssessment:
    """Compliance signs off an open assessment: every remediation item must
    be closed (an adverse verdict needs at least one), and the note says why
    the target may go ahead."""
    _need(
        actor,
        BiasAssessment,
        "change",
        "Only compliance officers complete bias assessments.",
    )
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say why the assessment can be completed."})
    locked = BiasAssessment.objects.select_for_update().get(pk=assessment.pk)
    if locked.status == BiasAssessment.Status.COMPLETED:
        raise ValidationError("This assessment is already completed.")
    items = list(locked.remediation_items.all())
    if locked.verdict == BiasAssessment.Verdict.ADVERSE and not items:
        raise ValidationError(
            "Adverse impact was found: record the remediation and close it before "
            "completing the assessment."
        )
    still_open = [i for i in items if i.status != RemediationItem.Status.CLOSED]
    if still_open:
        raise ValidationError(
            f"{len(still_open)} remediation item(s) are not closed yet."
        )
    locked.status = BiasAssessment.Status.COMPLETED
    locked.completed_at = timezone.now()
    locked.completed_by_id = getattr(actor, "pk", None)
    locked.completion_note = note
    save_governed(locked, actor=actor, reason=f"completed: {note}")
    events.record("bias.completed", actor=actor, target=locked, reason=note)
    assessment.status, assessment.completed_at = locked.status, locked.completed_at
    return locked


# -- remediation -------------------------------------------------------------------

FORWARD = {
    RemediationItem.Status.OPEN: {
        RemediationItem.Status.IN_PROGRESS,
        RemediationItem.Status.CLOSED,
    },
    RemediationItem.Status.IN_PROGRESS: {RemediationItem.Status.CLOSED},
    RemediationItem.Status.CLOSED: set(),
}


@transaction.atomic
def remediation_create(
    *,
    actor: Any,
    assessment: BiasAssessment,
    description: str,
    owner: Person,
    due_date: datetime.date,
    reason: str = "",
) -> RemediationItem:
    _need(actor, RemediationItem, "add", "Only compliance officers record remediation.")
    if assessment.status == BiasAssessment.Status.COMPLETED:
        raise ValidationError("This assessment is completed; run a new one instead.")
    item = RemediationItem(
        assessment=assessment,
        description=(description or "").strip(),
        owner=owner,
        due_date=due_date,
        created_at=timezone.now(),
    )
    save_governed(item, actor=actor, reason=_reason(reason, "remediation recorded"))
    return item


@transaction.atomic
def remediation_transition(
    *, actor: Any, item: RemediationItem, status: str, note: str = ""
) -> RemediationItem:
    """Open → in progress → closed (closing needs a note); never backwards."""
    _need(
        actor, RemediationItem, "change", "Only compliance officers update remediation."
    )
    locked = RemediationItem.objects.select_for_update().get(pk=item.pk)
    target = RemediationItem.Status(status)
    current = RemediationItem.Status(locked.status)
    if target not in FORWARD[current]:
        raise ValidationError(
            f"A remediation item that is {current.label.lower()} can't become "
            f"{target.label.lower()}."
        )
    note = (note or "").strip()
    if target == RemediationItem.Status.CLOSED:
        if not note:
            raise ValidationError(
                {"note": "Closing needs a note saying what was done."}
            )
        locked.closing_note = note
        locked.closed_at = timezone.now()
        locked.closed_by_id = getattr(actor, "pk", None)
    locked.status = target
    save_governed(locked, actor=actor, reason=note or f"now {target.label.lower()}")
    item.status = locked.status
    return locked


# -- gates -------------------------------------------------------------------------


def completed_for(
    *, target_type: str, target_id: Any, version: int | None = None
) -> BiasAssessment | None:
    """The latest completed assessment of the target (of ``version``, if given)."""
    qs = BiasAssessment.objects.filter(
        target_type=target_type,
        target_id=str(target_id),
        status=BiasAssessment.Status.COMPLETED,
    )
    if version is not None:
        qs = qs.filter(target_version=version)
    return qs.order_by("-completed_at").first()


def completion_refusal(
    *, target_type: str, target_id: Any, version: int | None, label: str, doing: str
) -> str | None:
    """Why the target may not ``doing``, or ``None`` when a completed bias
    assessment of this version exists."""
    if completed_for(target_type=target_type, target_id=target_id, version=version):
        return None
    which = f" of version {version}" if version is not None else ""
    return (
        f"“{label}” can't {doing} without a completed bias assessment{which} "
        "(Governance › Bias assessments): run one, and close any remediation it needs."
    )


# -- reading -----------------------------------------------------------------------

COLUMNS = [
    "group",
    "suppressed",
    "is_reference",
    "n",
    "selected",
    "rate",
    "impact_ratio",
    "adverse",
    "parity_difference",
    "fisher_p",
    "chi2_p",
    "mean",
    "mean_difference",
    "cohens_d",
]


def assessment_data(assessment: Any) -> dict[str, Any]:
    """The assessment as JSON-able data (suppressed groups carry no figures)."""
    return {
        "id": assessment.pk,
        "target_type": assessment.target_type,
        "target_id": assessment.target_id,
        "target_label": assessment.target_label,
        "target_version": assessment.target_version,
        "attribute": assessment.attribute,
        "period_start": assessment.period_start.isoformat()
        if assessment.period_start
        else None,
        "period_end": assessment.period_end.isoformat()
        if assessment.period_end
        else None,
        "threshold": str(assessment.threshold),
        "min_group_size": assessment.min_group_size,
        "run_by_id": assessment.run_by_id,
        "run_at": assessment.run_at.isoformat(),
        "dataset_hash": assessment.dataset_hash,
        "dataset_size": assessment.dataset_size,
        "excluded_count": assessment.excluded_count,
        "reference_group": assessment.reference_group,
        "verdict": assessment.verdict,
        "status": assessment.status,
        "completed_at": assessment.completed_at.isoformat()
        if assessment.completed_at
        else None,
        "completion_note": assessment.completion_note,
        "groups": [
            {c: getattr(g, c) for c in COLUMNS} for g in assessment.groups.all()
        ],
        "remediation": [
            {
                "id": item.pk,
                "description": item.description,
                "owner": item.owner.employee_id,
                "due_date": item.due_date.isoformat(),
                "status": item.status,
                "closing_note": item.closing_note,
                "closed_at": item.closed_at.isoformat() if item.closed_at else None,
            }
            for item in assessment.remediation_items.select_related("owner")
        ],
    }
