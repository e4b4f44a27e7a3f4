"""The only write path for appeals (M8.6).

Every service is keyword-only, runs in one transaction, validates, moves the
appeal through :mod:`appeals.workflow` (anything not in the transition table
is refused), keeps one :class:`~appeals.models.StageRecord` per stage with its
SLA deadline, writes history and an audit event in the same transaction.
Audit payloads carry identifiers and outcomes, never grounds or rationale.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from appeals import evidence as evidence_files
from appeals import permissions as appeal_permissions
from appeals import workflow
from appeals.models import Appeal, ConflictDeclaration, Evidence, StageRecord
from appeals.workflow import Action, State
from governance import jobs, permissions
from governance.audit import events
from governance.models import Person, User
from governance.services import save_governed
from metrics import services as metric_services
from metrics.models import Evaluation, Observation

MAX_FILES_PER_APPEAL = 10
_GRANTS = ("view_appeal", "change_appeal")


class TransitionRefused(ValidationError):
    """The action is not in the transition table for the appeal's state."""


def _target(action: Action, state: str) -> State:
    try:
        return workflow.target(action, state)
    except workflow.IllegalTransition as exc:
        raise TransitionRefused(str(exc)) from exc


def _text(value: str, field: str, message: str, *, limit: int = 10_000) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message})
    if len(value) > limit:
        raise ValidationError({field: f"Keep it under {limit:,} characters."})
    return value


def _deadline(state: State, start: datetime.datetime) -> datetime.datetime | None:
    days = workflow.SLA_DAYS.get(state)
    return None if days is None else start + datetime.timedelta(days=days)


def _enter_stage(appeal: Appeal, state: State, now: datetime.datetime) -> None:
    appeal.status = state
    appeal.stage_started_at = now
    deadline = _deadline(state, now)
    appeal.stage_deadline = deadline or now
    appeal.reminded_at = None
    appeal.overdue_at = None
    StageRecord.objects.create(
        appeal=appeal, stage=state, entered_at=now, deadline=deadline
    )


def _leave_stage(appeal: Appeal, now: datetime.datetime) -> None:
    StageRecord.objects.filter(appeal=appeal, left_at__isnull=True).update(left_at=now)


def _event(
    action: str, appeal: Appeal, actor: Any, reason: str = "", **data: Any
) -> None:
    events.record(
        f"appeal.{action}",
        actor=actor,
        target=appeal,
        reason=reason,
        data={"reference": appeal.reference, "status": appeal.status, **data},
    )


def _locked(appeal: Appeal) -> Appeal:
    return Appeal.objects.select_for_update().get(pk=appeal.pk)


def _move(
    appeal: Appeal,
    action: Action,
    *,
    actor: Any,
    reason: str,
    now: datetime.datetime | None = None,
    **data: Any,
) -> Appeal:
    """Apply one transition of the table to a locked appeal and record it."""
    to = _target(action, appeal.status)
    now = now or timezone.now()
    _leave_stage(appeal, now)
    before = appeal.status
    _enter_stage(appeal, to, now)
    save_governed(
        appeal, actor=actor, reason=f"{action}: {reason}" if reason else str(action)
    )
    _event(str(action), appeal, actor, reason, **{"from": before, **data})
    return appeal


# -- hold on the disputed evaluation ---------------------------------------------


def _hold(appeal: Appeal, actor: Any) -> None:
    if not appeal.evaluation_id:
        return
    evaluation = Evaluation.objects.get(pk=appeal.evaluation_id)
    if evaluation.status != Evaluation.Status.ON_HOLD:
        appeal.held_status = evaluation.status
    metric_services.evaluation_set_hold(
        actor=actor,
        evaluation=evaluation,
        hold=True,
        restore_to="",
        reason=f"appeal {appeal.reference} open",
    )


def _release(appeal: Appeal, actor: Any) -> None:
    if not appeal.evaluation_id:
        return
    metric_services.evaluation_set_hold(
        actor=actor,
        evaluation=Evaluation.objects.get(pk=appeal.evaluation_id),
        hold=False,
        restore_to=appeal.held_status,
        reason=f"appeal {appeal.reference} {appeal.status}",
    )


# -- filing and evidence -----------------------------------------------------------


def _reference(now: datetime.datetime) -> str:
    return f"AP-{now:%Y}-{uuid.uuid4().hex[:8].upper()}"


@transaction.atomic
def file_appeal(
    *,
    actor: Any,
    grounds: str,
    requested_remedy: str,
    evaluation: Evaluation | None = None,
    observation: Observation | None = None,
    files: Sequence[tuple[str, bytes]] = (),
) -> Appeal:
    """An employee appeals one of their own evaluations or observations."""
    person = permissions.person_of(actor)
    if person is None:
        raise PermissionDenied("No employee record is linked to your account.")
    if (evaluation is None) == (observation is None):
        raise ValidationError("Choose one evaluation or one observation to appeal.")
    grounds = _text(grounds, "grounds", "Say why you think the value is wrong.")
    requested_remedy = _text(
        requested_remedy, "requested_remedy", "Say what you ask to be changed."
    )
    if evaluation is not None:
        evaluation = Evaluation.objects.get(pk=evaluation.pk)
        if evaluation.person_id != person.pk:
            raise PermissionDenied("You can only appeal your own evaluations.")
        evaluator_id = evaluation.evaluator_id
        open_q = Appeal.objects.open().filter(evaluation=evaluation)
    else:
        assert observation is not None
        observation = Observation.objects.get(pk=observation.pk)
        if observation.person_id != person.pk:
            raise PermissionDenied("You can only appeal your own values.")
        if observation.status == Observation.Status.SUPERSEDED:
            raise ValidationError(
                "This value was already corrected; appeal the newest one."
            )
        evaluator_id = None
        open_q = Appeal.objects.open().filter(observation=observation)
    if open_q.exists():
        raise ValidationError("An appeal against this is already open.")
    if len(files) > MAX_FILES_PER_APPEAL:
        raise ValidationError(f"Attach at most {MAX_FILES_PER_APPEAL} files.")
    checked = [(name, data, evidence_files.sniff(data)) for name, data in files]
    now = timezone.now()
    appeal = Appeal(
        reference=_reference(now),
        appellant_id=person.pk,
        evaluation=evaluation,
        observation=observation,
        evaluator_id=evaluator_id,
        grounds=grounds,
        requested_remedy=requested_remedy,
        filed_at=now,
        stage_started_at=now,
        stage_deadline=now,
    )
    appeal.status = State.SUBMITTED
    appeal.stage_deadline = _deadline(State.SUBMITTED, now) or now
    save_governed(appeal, actor=actor, reason="appeal filed")
    StageRecord.objects.create(
        appeal=appeal,
        stage=State.SUBMITTED,
        entered_at=now,
        deadline=appeal.stage_deadline,
    )
    for name, data, content_type in checked:
        _store_evidence(
            appeal, actor=actor, name=name, data=data, content_type=content_type
        )
    _hold(appeal, actor)
    if appeal.held_status:
        save_governed(appeal, actor=actor, reason="evaluation put on hold")
    _event(
        "filed",
        appeal,
        actor,
        files=len(checked),
        target_type="evaluation" if evaluation else "observation",
    )
    return appeal


def _store_evidence(
    appeal: Appeal, *, actor: Any, name: str, data: bytes, content_type: str
) -> Evidence:
    item = Evidence(
        id=uuid.uuid4(),
        appeal=appeal,
        appellant_id=appeal.appellant_id,
        filename=evidence_files.safe_filename(name, content_type),
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by=actor if getattr(actor, "pk", None) else None,
        uploaded_at=timezone.now(),
    )
    item.sealed = evidence_files.seal(
        data, appellant_id=appeal.appellant_id, evidence_id=item.id
    )
    save_governed(item, actor=actor, reason=f"evidence for {appeal.reference}")
    events.record(
        "appeal.evidence_added",
        actor=actor,
        target=item,
        data={
            "appeal": appeal.reference,
            "content_type": content_type,
            "size": len(data),
            "sha256": item.sha256,
        },
    )
    return item


@transaction.atomic
def add_evidence(*, actor: Any, appeal: Appeal, name: str, data: bytes) -> Evidence:
    """The appellant adds a file while the appeal is open."""
    appeal = _locked(appeal)
    if not appeal_permissions.is_appellant(actor, appeal):
        raise PermissionDenied("Only the appellant adds evidence.")
    if not appeal.is_open:
        raise ValidationError(
            "This appeal is no longer open; reopen it with the new evidence."
        )
    if appeal.evidence.count() >= MAX_FILES_PER_APPEAL:
        raise ValidationError(f"Attach at most {MAX_FILES_PER_APPEAL} files.")
    content_type = evidence_files.sniff(data)
    return _store_evidence(
        appeal, actor=actor, name=name, data=data, content_type=content_type
    )


def read_evidence(*, actor: Any, item: Evidence) -> bytes:
    """The plaintext of one file, for a party to its appeal; the read is audited."""
    appeal = item.appeal
    if not appeal_permissions.is_party(actor, appeal):
        raise PermissionDenied("Not a party to this appeal.")
    data = evidence_files.open_sealed(
        bytes(item.sealed), appellant_id=item.appellant_id, evidence_id=item.id
    )
    with transaction.atomic():
        events.record(
            "appeal.evidence_downloaded",
            actor=actor,
            target=item,
            data={"appeal": appeal.reference, "sha256": item.sha256},
        )
    return data


# -- the workflow ------------------------------------------------------------------


def _require_manager(actor: Any) -> None:
    if actor is not None and not appeal_permissions.can_manage(actor):
        raise PermissionDenied("Only HR or compliance manage appeals.")


@transaction.atomic
def triage(*, actor: Any, appeal: Appeal, note: str = "") -> Appeal:
    _require_manager(actor)
    return _move(_locked(appeal), Action.TRIAGE, actor=actor, reason=note.strip())


@transaction.atomic
def assign_reviewer(*, actor: Any, appeal: Appeal, reviewer: User) -> Appeal:
    """Assign an independent reviewer and grant them this appeal only."""
    _require_manager(actor)
    appeal = _locked(appeal)
    if appeal.status not in (
        State.SUBMITTED,
        State.TRIAGED,
        State.UNDER_REVIEW,
        State.ESCALATED,
    ):
        raise ValidationError(
            "A reviewer can only be assigned while the appeal is open."
        )
    reasons = appeal_permissions.reviewer_conflicts(reviewer, appeal)
    if reasons:
        raise ValidationError({"reviewer": reasons})
    previous = appeal.reviewer
    if previous is not None and previous.pk != reviewer.pk:
        for perm in _GRANTS:
            remove_perm(perm, previous, appeal)
    appeal.reviewer = reviewer
    for perm in _GRANTS:
        assign_perm(perm, reviewer, appeal)
    save_governed(appeal, actor=actor, reason="reviewer assigned")
    _event(
        "reviewer_assigned",
        appeal,
        actor,
        reviewer=reviewer.pk,
        previous=getattr(previous, "pk", None),
    )
    return appeal


@transaction.atomic
def start_review(*, actor: Any, appeal: Appeal) -> Appeal:
    appeal = _locked(appeal)
    if appeal.reviewer_id is None:
        raise ValidationError("Assign a reviewer first.")
    if actor is not None and not (
        appeal_permissions.is_reviewer(actor, appeal)
        or appeal_permissions.can_manage(actor)
    ):
        raise PermissionDenied(
            "Only the assigned reviewer or HR/compliance start the review."
        )
    return _move(appeal, Action.START_REVIEW, actor=actor, reason="")


@transaction.atomic
def escalate(*, actor: Any, appeal: Appeal, reason: str) -> Appeal:
    """To the review board (by HR/compliance, the reviewer, or the SLA job)."""
    appeal = _locked(appeal)
    if actor is not None and not (
        appeal_permissions.is_reviewer(actor, appeal)
        or appeal_permissions.can_manage(actor)
    ):
        raise PermissionDenied("You may not escalate this appeal.")
    reason = _text(
        reason, "reason", "Say why the appeal goes to the review board.", limit=500
    )
    return _move(appeal, Action.ESCALATE, actor=actor, reason=reason)


@transaction.atomic
def decide(
    *,
    actor: Any,
    appeal: Appeal,
    outcome: str,
    rationale: str,
    corrected_value: Any = None,
) -> Appeal:
    """The assigned reviewer decides, with a rationale. An upheld appeal (and a
    partly upheld one with a corrected value) corrects the disputed value
    through change control; the original stays readable in history."""
    appeal = _locked(appeal)
    if not appeal_permissions.is_reviewer(actor, appeal):
        raise PermissionDenied("Only the assigned reviewer decides this appeal.")
    if appeal_permissions.reviewer_conflicts(actor, appeal):
        raise PermissionDenied("You have a conflict with this appeal.")
    if outcome not in Appeal.Outcome.values:
        raise ValidationError({"outcome": "Choose upheld, partly upheld or rejected."})
    rationale = _text(rationale, "rationale", "A decision needs a rationale.")
    _target(Action.DECIDE, appeal.status)  # refuse early, before any correction
    value = None if corrected_value in (None, "") else str(corrected_value).strip()
    if outcome == Appeal.Outcome.UPHELD and value is None:
        raise ValidationError(
            {"corrected_value": "An upheld appeal needs the corrected value."}
        )
    if outcome == Appeal.Outcome.REJECTED and value is not None:
        raise ValidationError(
            {"corrected_value": "A rejected appeal corrects nothing."}
        )
    reason = f"appeal {appeal.reference} {outcome}"
    if value is not None:
        if appeal.observation_id:
            new = metric_services.correct_observation(
                actor=actor,
                observation=Observation.objects.get(pk=appeal.observation_id),
                value=value,
                reason=reason,
                authorised_by=f"appeal {appeal.reference}",
            )
            appeal.correction_observation = new
        elif appeal.evaluation_id is not None:
            metric_services.correct_evaluation(
                actor=actor,
                evaluation=Evaluation.objects.get(pk=int(appeal.evaluation_id)),
                score=value,
                reason=reason,
            )
        appeal.corrected_value = value
    appeal.outcome = outcome
    appeal.rationale = rationale
    appeal.decided_at = timezone.now()
    appeal.letter_sealed = None
    appeal.letter_sha256 = ""
    _move(
        appeal,
        Action.DECIDE,
        actor=actor,
        reason=outcome,
        outcome=outcome,
        corrected=value is not None,
    )
    _release(appeal, actor)
    jobs.enqueue_on_commit("appeals.tasks.notify", str(appeal.pk), "decided")
    return appeal


@transaction.atomic
def close(*, actor: Any, appeal: Appeal) -> Appeal:
    appeal = _locked(appeal)
    if actor is not None and not (
        appeal_permissions.can_manage(actor)
        or appeal_permissions.is_reviewer(actor, appeal)
    ):
        raise PermissionDenied("You may not close this appeal.")
    return _move(appeal, Action.CLOSE, actor=actor, reason="")


@transaction.atomic
def withdraw(*, actor: Any, appeal: Appeal, reason: str = "") -> Appeal:
    appeal = _locked(appeal)
    if not appeal_permissions.is_appellant(actor, appeal):
        raise PermissionDenied("Only the appellant withdraws an appeal.")
    _move(
        appeal,
        Action.WITHDRAW,
        actor=actor,
        reason=(reason or "withdrawn by the appellant").strip(),
    )
    _release(appeal, actor)
    return appeal


@transaction.atomic
def reopen(
    *, actor: Any, appeal: Appeal, name: str, data: bytes, note: str = ""
) -> Appeal:
    """The appellant reopens a decided or closed appeal with new evidence."""
    appeal = _locked(appeal)
    if not appeal_permissions.is_appellant(actor, appeal):
        raise PermissionDenied("Only the appellant reopens an appeal.")
    _target(Action.REOPEN, appeal.status)
    if appeal.evidence.count() >= MAX_FILES_PER_APPEAL:
        raise ValidationError(f"Attach at most {MAX_FILES_PER_APPEAL} files.")
    content_type = evidence_files.sniff(data)
    open_q = Appeal.objects.open().exclude(pk=appeal.pk)
    if (
        appeal.evaluation_id
        and open_q.filter(evaluation_id=appeal.evaluation_id).exists()
    ):
        raise ValidationError("Another appeal against this evaluation is open.")
    if (
        appeal.observation_id
        and open_q.filter(observation_id=appeal.observation_id).exists()
    ):
        raise ValidationError("Another appeal against this value is open.")
    if appeal.reviewer_id is None:
        raise ValidationError("This appeal has no reviewer to reopen it with.")
    _store_evidence(
        appeal, actor=actor, name=name, data=data, content_type=content_type
    )
    appeal.outcome = ""
    appeal.decided_at = None
    _move(appeal, Action.REOPEN, actor=actor, reason=(note or "new evidence").strip())
    _hold(appeal, actor)
    save_governed(appeal, actor=actor, reason="reopened: evaluation on hold")
    return appeal


@transaction.atomic
def declare_conflict(
    *, actor: Any, user: User, person: Person, reason: str
) -> ConflictDeclaration:
    """A user declares (or HR/compliance record) a conflict with a person."""
    if actor is None or not (
        actor.pk == user.pk or appeal_permissions.can_manage(actor)
    ):
        raise PermissionDenied("Declare your own conflicts, or manage appeals.")
    reason = _text(reason, "reason", "Say what the conflict is.", limit=200)
    declaration = ConflictDeclaration(
        user=user, person=person, reason=reason, declared_at=timezone.now()
    )
    save_governed(declaration, actor=actor, reason="conflict declared")
    events.record(
        "appeal.conflict_declared",
        actor=actor,
        target=declaration,
        data={"user": user.pk},
    )
    for appeal in Appeal.objects.open().filter(appellant=person, reviewer=user):
        events.record(
            "appeal.reviewer_conflicted",
            actor=actor,
            target=appeal,
            data={"reference": appeal.reference, "reviewer": user.pk},
        )
    return declaration


@transaction.atomic
def recuse(*, actor: Any, appeal: Appeal, reason: str) -> Appeal:
    """The assigned reviewer declares a conflict with the appellant and steps
    down: the declaration is recorded, the grant removed, the appeal awaits a
    new reviewer (HR/compliance are told through the audit event)."""
    appeal = _locked(appeal)
    if not appeal_permissions.is_reviewer(actor, appeal):
        raise PermissionDenied("Only the assigned reviewer can recuse.")
    if not appeal.is_open:
        raise ValidationError("This appeal is no longer open.")
    reason = _text(reason, "reason", "Say what the conflict is.", limit=200)
    declaration, _ = ConflictDeclaration.objects.get_or_create(
        user=actor,
        person_id=appeal.appellant_id,
        defaults={"reason": reason, "declared_at": timezone.now()},
    )
    for perm in _GRANTS:
        remove_perm(perm, actor, appeal)
    appeal.reviewer = None
    save_governed(appeal, actor=actor, reason="reviewer recused")
    _event(
        "reviewer_recused", appeal, actor, reviewer=actor.pk, declaration=declaration.pk
    )
    return appeal


# -- SLA ------------------------------------------------------------------------------


@transaction.atomic
def remind(*, appeal: Appeal, now: datetime.datetime) -> Appeal:
    """Record that the stage's owner was reminded of the coming deadline."""
    appeal = _locked(appeal)
    appeal.reminded_at = now
    save_governed(appeal, actor=None, reason=f"SLA reminder: {appeal.status} due")
    jobs.enqueue_on_commit("appeals.tasks.notify", str(appeal.pk), "reminder")
    _event(
        "sla_reminder",
        appeal,
        None,
        deadline=appeal.stage_deadline.isoformat(),
        reviewer=appeal.reviewer_id,
    )
    return appeal


@transaction.atomic
def sla_breached(*, appeal: Appeal, now: datetime.datetime) -> Appeal:
    """A missed deadline: stages before a decision go to the review board;
    an escalated or decided appeal past its deadline is flagged to compliance."""
    appeal = _locked(appeal)
    if appeal.status in (State.TRIAGED, State.UNDER_REVIEW):
        _move(
            appeal,
            Action.ESCALATE,
            actor=None,
            reason=f"SLA missed for {appeal.status}",
            now=now,
        )
        jobs.enqueue_on_commit("appeals.tasks.notify", str(appeal.pk), "escalated")
        return appeal
    appeal.overdue_at = now
    save_governed(appeal, actor=None, reason=f"SLA missed: {appeal.status}")
    jobs.enqueue_on_commit("appeals.tasks.notify", str(appeal.pk), "overdue")
    _event("sla_missed", appeal, None, deadline=appeal.stage_deadline.isoformat())
    return appeal
