"""The review board (M8.4) with impact assessments (M5.4): services and jobs.

A proposal is about a *subject* (a high-impact metric) that the kernel only
knows generically: ``subject_type`` (``"metrics.metric"``) and ``subject_id``.
The app owning the subject registers a :class:`SubjectProvider` from its
``AppConfig.ready()`` telling the board the subject's current version and the
digest of its governed fields, its owner(s), the people it measures and which
subjects a user may propose. The app also asks the board, through plain
functions, whether a subject may go live (:func:`approval_refusal`) and tells
it when a subject changed materially (:func:`subject_changed`), which revokes
approvals bound to the old version.

Flow: ``proposal_create`` (with an empty impact assessment) →
``assessment_update`` until complete → ``ballot_open`` (binds the subject's
exact version, notifies every eligible member) → ``vote_cast`` by members
until the deadline (one vote each, changeable, never after) →
``ballot_close`` (the scheduled job :func:`close_due_ballots` does it once the
deadline has passed; idempotent) records the tallies and outcome in the audit
trail.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from governance import jobs, permissions
from governance.audit import events
from governance.models import Ballot, ImpactAssessment, Proposal, User, Vote
from governance.roles import Role
from governance.services import save_governed

logger = logging.getLogger(__name__)

#: Reminders go out once per ballot when its deadline is this close.
REMINDER_WINDOW = datetime.timedelta(hours=24)


# -- extension points -------------------------------------------------------------


@dataclass(frozen=True)
class SubjectVersion:
    """What the board needs to know about a subject right now."""

    version: int
    digest: str  # hash of the governed fields: the approval binds to it
    label: str
    owner_person_ids: frozenset[str]
    high_impact: bool


@dataclass(frozen=True)
class SubjectProvider:
    subject_type: str  # "app_label.model"
    #: (subject_id) -> the subject's current version, or None if it doesn't exist
    describe: Callable[[str], SubjectVersion | None]
    #: (subject_id) -> ids of the people the subject measures (they are recused)
    measured_people: Callable[[str], Iterable[Any]]
    #: (user) -> [(subject_id, label)] the user may write a proposal about
    candidates: Callable[[Any], list[tuple[str, str]]]


_providers: dict[str, SubjectProvider] = {}
#: hook(proposal, outcome) after a ballot closed, in the closing transaction.
_decision_hooks: list[Callable[[Proposal, str], None]] = []


def register_subject(provider: SubjectProvider) -> None:
    _providers[provider.subject_type] = provider


def register_decision_hook(hook: Callable[[Proposal, str], None]) -> None:
    if hook not in _decision_hooks:
        _decision_hooks.append(hook)


def provider_for(subject_type: str) -> SubjectProvider:
    try:
        return _providers[subject_type]
    except KeyError:
        raise ValidationError(
            f"The review board knows no subjects of type “{subject_type}”."
        ) from None


def subject_types() -> list[str]:
    return sorted(_providers)


class BallotClosed(ValidationError):
    """A vote arrived after the ballot's deadline or after it closed."""


# -- proposals and assessments -----------------------------------------------------


def _need(actor: Any, model: Any, action: str, message: str) -> None:
    if actor is not None and not permissions.has_model_perm(actor, model, action):
        raise PermissionDenied(message)


@transaction.atomic
def proposal_create(
    *,
    actor: Any,
    title: str,
    summary: str,
    subject_type: str,
    subject_id: Any,
    kind: str = Proposal.Kind.NEW,
    assessment: Mapping[str, str] | None = None,
    reason: str = "proposed",
) -> Proposal:
    """A draft proposal about a subject the actor may propose, with its
    (possibly still empty) impact assessment."""
    _need(actor, Proposal, "add", "You may not write proposals for the review board.")
    provider = provider_for(subject_type)
    subject_id = str(subject_id)
    current = provider.describe(subject_id)
    if current is None:
        raise ValidationError({"subject_id": "No such subject."})
    if actor is not None and subject_id not in {
        str(key) for key, _ in provider.candidates(actor)
    }:
        raise PermissionDenied("You may not propose changes to this subject.")
    proposal = Proposal(
        title=title,
        summary=summary,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_label=current.label[:200],
        author=actor,
        created_at=timezone.now(),
    )
    save_governed(proposal, actor=actor, reason=reason)
    unknown = set(assessment or {}) - set(ImpactAssessment.REQUIRED)
    if unknown:
        raise ValidationError(
            f"Unknown assessment fields: {', '.join(sorted(unknown))}"
        )
    save_governed(
        ImpactAssessment(proposal=proposal, **dict(assessment or {})),
        actor=actor,
        reason=reason,
    )
    events.record(
        "board.proposal_created",
        actor=actor,
        target=proposal,
        reason=reason,
        data={"subject_type": subject_type, "subject_id": subject_id, "kind": kind},
    )
    return proposal


def _editable(actor: Any, proposal: Proposal, what: str) -> Proposal:
    locked = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if locked.status != Proposal.Status.DRAFT:
        raise ValidationError(
            f"The {what} can't change once the proposal went to a vote "
            f"(it is {locked.get_status_display().lower()})."
        )
    if actor is not None and not permissions.can(actor, "change", locked):
        raise PermissionDenied(f"You may not change this {what}.")
    return locked


@transaction.atomic
def proposal_update(
    *, actor: Any, proposal: Proposal, changes: Mapping[str, Any], reason: str
) -> Proposal:
    allowed = {"title", "summary", "kind"}
    if set(changes) - allowed:
        raise ValidationError(
            f"Only {', '.join(sorted(allowed))} of a proposal can be edited."
        )
    locked = _editable(actor, proposal, "proposal")
    for name, value in changes.items():
        setattr(locked, name, value)
    save_governed(locked, actor=actor, reason=_reason(reason))
    return locked


@transaction.atomic
def assessment_update(
    *, actor: Any, proposal: Proposal, changes: Mapping[str, str], reason: str
) -> ImpactAssessment:
    unknown = set(changes) - set(ImpactAssessment.REQUIRED)
    if unknown:
        raise ValidationError(
            f"Unknown assessment fields: {', '.join(sorted(unknown))}"
        )
    _need(actor, ImpactAssessment, "change", "You may not edit impact assessments.")
    locked = _editable(actor, proposal, "impact assessment")
    assessment = ImpactAssessment.objects.select_for_update().get(proposal=locked)
    for name, value in changes.items():
        setattr(assessment, name, value)
    save_governed(assessment, actor=actor, reason=_reason(reason))
    return assessment


@transaction.atomic
def proposal_withdraw(*, actor: Any, proposal: Proposal, reason: str) -> Proposal:
    locked = _editable(actor, proposal, "proposal")
    locked.status = Proposal.Status.WITHDRAWN
    locked.decided_at = timezone.now()
    save_governed(locked, actor=actor, reason=_reason(reason))
    events.record("board.proposal_withdrawn", actor=actor, target=locked, reason=reason)
    return locked


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why."})
    return reason


# -- eligibility and recusal ------------------------------------------------------


def board_members() -> list[User]:
    """Active accounts holding the review board role."""
    group = Group.objects.filter(name=Role.BOARD.value).first()
    if group is None:
        return []
    return list(User.objects.filter(groups=group, is_active=True).order_by("username"))


@dataclass(frozen=True)
class _Conflicts:
    owners: frozenset[str]
    measured: frozenset[str]


def _conflicts(proposal: Proposal) -> _Conflicts:
    provider = provider_for(proposal.subject_type)
    current = provider.describe(proposal.subject_id)
    return _Conflicts(
        owners=current.owner_person_ids if current else frozenset(),
        measured=frozenset(
            str(p) for p in provider.measured_people(proposal.subject_id)
        ),
    )


def recusal_reason(
    user: Any, proposal: Proposal, *, conflicts: _Conflicts | None = None
) -> str | None:
    """Why ``user`` may not vote on ``proposal``, or ``None``.

    The author, the subject's owner and the people the subject measures are
    recused (the last two as the subject's provider reports them now).
    """
    if getattr(user, "pk", None) == proposal.author_id:
        return "You wrote this proposal, so you may not vote on it."
    person = permissions.person_of(user)
    if person is None:
        return None
    conflicts = conflicts or _conflicts(proposal)
    if str(person.pk) in conflicts.owners:
        return "You own the metric this proposal is about, so you may not vote on it."
    if str(person.pk) in conflicts.measured:
        return "The metric measures you, so you may not vote on it."
    return None


def eligible_voters(proposal: Proposal) -> list[User]:
    conflicts = _conflicts(proposal)
    return [
        user
        for user in board_members()
        if recusal_reason(user, proposal, conflicts=conflicts) is None
    ]


# -- ballots ------------------------------------------------------------------------


@dataclass
class BallotCheck:
    problems: list[str]
    current: SubjectVersion | None = None
    eligible: list[User] = field(default_factory=list)
    quorum: int | None = None


def ballot_check(
    *, proposal: Proposal, deadline: datetime.datetime | None, quorum: int | None
) -> BallotCheck:
    """Whether ``proposal`` may go to a vote with this deadline and quorum
    (every problem, in words), without writing anything. Forms show these;
    :func:`ballot_open` refuses on any of them."""
    problems: list[str] = []
    if proposal.status != Proposal.Status.DRAFT:
        problems.append(
            f"This proposal is {proposal.get_status_display().lower()}, not a draft."
        )
    assessment = ImpactAssessment.objects.filter(proposal=proposal).first()
    missing = assessment.missing() if assessment else list(ImpactAssessment.REQUIRED)
    if missing:
        labels = [
            str(ImpactAssessment._meta.get_field(name).verbose_name) for name in missing
        ]
        problems.append(
            "The impact assessment is incomplete, so the proposal can't go to a "
            f"vote. Still empty: {', '.join(labels)}."
        )
    if deadline is not None and deadline <= timezone.now():
        problems.append("The deadline must be in the future.")
    current = provider_for(proposal.subject_type).describe(proposal.subject_id)
    if current is None:
        problems.append("The subject of this proposal no longer exists.")
        return BallotCheck(problems)
    eligible = eligible_voters(proposal)
    if not eligible:
        problems.append("No review board member is eligible to vote on this proposal.")
        return BallotCheck(problems, current)
    if quorum is None:
        quorum = len(eligible) // 2 + 1
    if not 1 <= quorum <= len(eligible):
        problems.append(
            f"The quorum must be between 1 and the {len(eligible)} eligible "
            "members, or the vote could never be valid."
        )
    return BallotCheck(problems, current, eligible, quorum)


@transaction.atomic
def ballot_open(
    *,
    actor: Any,
    proposal: Proposal,
    deadline: datetime.datetime,
    quorum: int | None = None,
    majority: str = Ballot.Majority.SIMPLE,
    reason: str = "sent to the review board",
) -> Ballot:
    """Send a proposal with a complete impact assessment to a vote.

    Binds the proposal to the subject's current version and digest, counts
    the eligible members (the quorum defaults to a majority of them) and
    notifies them once the transaction commits.
    """
    _need(actor, Ballot, "add", "You may not open ballots.")
    locked = Proposal.objects.select_for_update().get(pk=proposal.pk)
    check = ballot_check(proposal=locked, deadline=deadline, quorum=quorum)
    if check.problems:
        raise ValidationError(check.problems)
    assert check.current is not None and check.quorum is not None
    current, eligible, quorum = check.current, check.eligible, check.quorum
    now = timezone.now()
    locked.status = Proposal.Status.VOTING
    locked.bound_version = current.version
    locked.bound_digest = current.digest
    locked.subject_label = current.label[:200]
    save_governed(locked, actor=actor, reason=reason)
    ballot = Ballot(
        proposal=locked,
        opened_at=now,
        opened_by_id=getattr(actor, "pk", None),
        deadline=deadline,
        quorum=quorum,
        majority=majority,
        eligible_count=len(eligible),
    )
    save_governed(ballot, actor=actor, reason=reason)
    events.record(
        "board.ballot_opened",
        actor=actor,
        target=ballot,
        reason=reason,
        data={
            "proposal": locked.pk,
            "subject_type": locked.subject_type,
            "subject_id": locked.subject_id,
            "version": current.version,
            "digest": current.digest,
            "deadline": deadline.isoformat(),
            "quorum": quorum,
            "majority": majority,
            "eligible": len(eligible),
        },
    )
    jobs.enqueue_on_commit("governance.board.notify_ballot", ballot.pk, "opened")
    return ballot


@transaction.atomic
def vote_cast(*, actor: Any, ballot: Ballot, choice: str, rationale: str) -> Vote:
    """Cast or change the actor's vote. Refused after the deadline or once the
    ballot closed, for anyone who isn't an eligible board member, and without
    a rationale. The ballot row is locked, so votes and closing serialise."""
    locked = (
        Ballot.objects.select_for_update().select_related("proposal").get(pk=ballot.pk)
    )
    now = timezone.now()
    if locked.status != Ballot.Status.OPEN or now >= locked.deadline:
        raise BallotClosed(
            f"Voting on this ballot closed at {timezone.localtime(locked.deadline):%Y-%m-%d %H:%M}."
        )
    if not (
        permissions.has_role(actor, Role.BOARD)
        and permissions.has_model_perm(actor, Vote, "add")
    ):
        raise PermissionDenied("Only review board members vote.")
    why = recusal_reason(actor, locked.proposal)
    if why:
        raise PermissionDenied(why)
    if choice not in Vote.Choice.values:
        raise ValidationError({"choice": "Choose approve, reject or abstain."})
    rationale = (rationale or "").strip()
    if not rationale:
        raise ValidationError({"rationale": "Give the reasons for your vote."})
    vote = Vote.objects.filter(ballot=locked, voter=actor).first()
    if vote is None:
        vote = Vote(ballot=locked, voter=actor, cast_at=now)
        reason = "vote cast"
    else:
        reason = "vote changed"
    vote.choice = choice
    vote.rationale = rationale
    vote.updated_at = now
    vote.ballot_deadline = locked.deadline
    # The history row carries the moment the vote was accepted (under the
    # lock, before the deadline), not the few milliseconds later it is written.
    vote._history_date = now  # type: ignore[attr-defined]
    save_governed(vote, actor=actor, reason=reason)
    return vote


def decide(
    *, approve: int, reject: int, abstain: int, quorum: int, majority: str
) -> str:
    """The outcome of a count (pure). Abstentions count towards the quorum,
    not towards the majority, which is taken over approve and reject votes."""
    if approve + reject + abstain < quorum:
        return Ballot.Outcome.NO_QUORUM
    decisive = approve + reject
    passed = {
        Ballot.Majority.SIMPLE: 2 * approve > decisive,
        Ballot.Majority.TWO_THIRDS: 3 * approve >= 2 * decisive,
        Ballot.Majority.THREE_QUARTERS: 4 * approve >= 3 * decisive,
        Ballot.Majority.UNANIMOUS: reject == 0,
    }[Ballot.Majority(majority)]
    return (
        Ballot.Outcome.APPROVED if passed and approve > 0 else Ballot.Outcome.REJECTED
    )


_PROPOSAL_STATUS = {
    Ballot.Outcome.APPROVED: Proposal.Status.APPROVED,
    Ballot.Outcome.REJECTED: Proposal.Status.REJECTED,
    Ballot.Outcome.NO_QUORUM: Proposal.Status.NO_QUORUM,
    Ballot.Outcome.VOID: Proposal.Status.VOID,
}


@transaction.atomic
def ballot_close(*, ballot: Ballot, actor: Any = None, void_reason: str = "") -> Ballot:
    """Count the votes and record the decision. Idempotent: closing a closed
    ballot returns it unchanged. Refused before the deadline unless the vote
    is being voided (its subject changed). The tallies and outcome are
    written to the ballot, its history and an audit event."""
    locked = (
        Ballot.objects.select_for_update().select_related("proposal").get(pk=ballot.pk)
    )
    if locked.status == Ballot.Status.CLOSED:
        return locked
    now = timezone.now()
    if now < locked.deadline and not void_reason:
        raise ValidationError(
            f"Voting is open until {timezone.localtime(locked.deadline):%Y-%m-%d %H:%M}."
        )
    proposal = Proposal.objects.select_for_update().get(pk=locked.proposal_id)
    counts = dict.fromkeys(Vote.Choice.values, 0)
    for choice in Vote.objects.filter(
        ballot=locked, updated_at__lt=locked.deadline
    ).values_list("choice", flat=True):
        counts[choice] += 1
    if not void_reason:
        current = provider_for(proposal.subject_type).describe(proposal.subject_id)
        if current is None or current.digest != proposal.bound_digest:
            void_reason = "the subject changed during the vote"
    outcome = (
        Ballot.Outcome.VOID
        if void_reason
        else decide(
            approve=counts["approve"],
            reject=counts["reject"],
            abstain=counts["abstain"],
            quorum=locked.quorum,
            majority=locked.majority,
        )
    )
    locked.status = Ballot.Status.CLOSED
    locked.closed_at = now
    locked.outcome = outcome
    locked.approve_count = counts["approve"]
    locked.reject_count = counts["reject"]
    locked.abstain_count = counts["abstain"]
    reason = f"closed: {outcome}" + (f" ({void_reason})" if void_reason else "")
    save_governed(locked, actor=actor, reason=reason)
    proposal.status = _PROPOSAL_STATUS[Ballot.Outcome(outcome)]
    proposal.decided_at = now
    save_governed(proposal, actor=actor, reason=reason)
    events.record(
        "board.ballot_closed",
        actor=actor,
        target=locked,
        reason=reason,
        data={
            "proposal": proposal.pk,
            "subject_type": proposal.subject_type,
            "subject_id": proposal.subject_id,
            "version": proposal.bound_version,
            "digest": proposal.bound_digest,
            "outcome": outcome,
            "approve": counts["approve"],
            "reject": counts["reject"],
            "abstain": counts["abstain"],
            "votes_cast": sum(counts.values()),
            "eligible": locked.eligible_count,
            "quorum": locked.quorum,
            "majority": locked.majority,
            "deadline": locked.deadline.isoformat(),
        },
    )
    for hook in _decision_hooks:
        hook(proposal, outcome)
    jobs.enqueue_on_commit("governance.board.notify_ballot", locked.pk, "closed")
    return locked


def close_due_ballots() -> int:
    """Scheduled: close every open ballot whose deadline has passed (each in
    its own transaction; running twice closes nothing twice)."""
    closed = 0
    for pk in list(Ballot.objects.due(timezone.now()).values_list("pk", flat=True)):
        ballot = ballot_close(ballot=Ballot(pk=pk))
        closed += ballot.closed_at is not None
    return closed


# -- approval binding ---------------------------------------------------------------


def approval_for(*, subject_type: str, subject_id: Any, digest: str) -> Proposal | None:
    """The approved, unrevoked proposal bound to exactly this version."""
    return (
        Proposal.objects.filter(
            subject_type=subject_type,
            subject_id=str(subject_id),
            status=Proposal.Status.APPROVED,
            revoked_at__isnull=True,
            bound_digest=digest,
        )
        .order_by("-decided_at")
        .first()
    )


def approval_refusal(
    *, subject_type: str, subject_id: Any, digest: str, label: str, doing: str
) -> str | None:
    """Why a high-impact subject may not ``doing`` (e.g. "become active"), or
    ``None`` when the board approved exactly this version."""
    if approval_for(subject_type=subject_type, subject_id=subject_id, digest=digest):
        return None
    revoked = (
        Proposal.objects.filter(
            subject_type=subject_type,
            subject_id=str(subject_id),
            status=Proposal.Status.REVOKED,
        )
        .order_by("-revoked_at")
        .first()
    )
    why = (
        f" The approval of proposal #{revoked.pk} was revoked because the metric "
        "changed after it."
        if revoked
        else ""
    )
    return (
        f"“{label}” is high-impact (promotion, pay or termination): it can't {doing} "
        f"without the review board's approval of its current version.{why} Submit a "
        "proposal with an impact assessment (Governance › Proposals)."
    )


@transaction.atomic
def subject_changed(
    *,
    subject_type: str,
    subject_id: Any,
    digest: str,
    changed_fields: Iterable[str] = (),
    actor: Any = None,
) -> list[Proposal]:
    """A subject changed materially: revoke approvals bound to another digest
    and void votes in progress on another digest. Returns the proposals hit."""
    subject_id = str(subject_id)
    fields = sorted(changed_fields)
    hit: list[Proposal] = []
    now = timezone.now()
    approved = Proposal.objects.select_for_update().filter(
        subject_type=subject_type,
        subject_id=subject_id,
        status=Proposal.Status.APPROVED,
        revoked_at__isnull=True,
    )
    for proposal in approved.exclude(bound_digest=digest):
        proposal.status = Proposal.Status.REVOKED
        proposal.revoked_at = now
        proposal.revoked_reason = (
            f"Changed after approval: {', '.join(fields) or 'governed fields'}."
        )
        save_governed(proposal, actor=actor, reason="approval revoked: subject changed")
        events.record(
            "board.approval_revoked",
            actor=actor,
            target=proposal,
            reason=proposal.revoked_reason,
            data={
                "subject_type": subject_type,
                "subject_id": subject_id,
                "bound_digest": proposal.bound_digest,
                "new_digest": digest,
                "fields": fields,
            },
        )
        hit.append(proposal)
    voting = Proposal.objects.filter(
        subject_type=subject_type,
        subject_id=subject_id,
        status=Proposal.Status.VOTING,
    ).exclude(bound_digest=digest)
    for proposal in voting:
        ballot_close(
            ballot=proposal.ballot,
            actor=actor,
            void_reason=f"the subject changed during the vote ({', '.join(fields)})",
        )
        hit.append(proposal)
    return hit


# -- notifications -------------------------------------------------------------------


def _vote_url(ballot: Ballot) -> str:
    path = reverse("admin:governance_ballot_vote", args=[ballot.pk])
    return f"{getattr(settings, 'PORTAL_BASE_URL', '').rstrip('/')}{path}"


def notify_ballot(ballot_id: int, kind: str) -> int:
    """Task: mail the board about a ballot ("opened", "reminder", "closed").

    Mails carry the proposal's title, the deadline and a link, never personal
    data. Returns the number of messages sent.
    """
    ballot = Ballot.objects.select_related("proposal").filter(pk=ballot_id).first()
    if ballot is None:
        return 0
    proposal = ballot.proposal
    deadline = timezone.localtime(ballot.deadline)
    if kind == "closed":
        recipients = [*board_members(), proposal.author]
        subject = (
            f"Review board: “{proposal.title}” {ballot.get_outcome_display().lower()}"
        )
        body = (
            f"The ballot on proposal #{proposal.pk} “{proposal.title}” closed.\n"
            f"Outcome: {ballot.get_outcome_display()} — approve {ballot.approve_count}, "
            f"reject {ballot.reject_count}, abstain {ballot.abstain_count} "
            f"(quorum {ballot.quorum}).\n"
        )
    else:
        voted = set(
            Vote.objects.filter(ballot=ballot).values_list("voter_id", flat=True)
        )
        recipients = [
            u
            for u in eligible_voters(proposal)
            if kind == "opened" or u.pk not in voted
        ]
        verb = "is open" if kind == "opened" else "closes soon"
        subject = (
            f"Review board: vote on “{proposal.title}” by {deadline:%Y-%m-%d %H:%M}"
        )
        body = (
            f"The ballot on proposal #{proposal.pk} “{proposal.title}” {verb}.\n"
            f"Deadline: {deadline:%Y-%m-%d %H:%M %Z}. Read the proposal and its impact "
            f"assessment and vote with your rationale:\n{_vote_url(ballot)}\n"
        )
    sent = 0
    for user in {u.pk: u for u in recipients}.values():
        if user.email and user.is_active:
            sent += send_mail(subject, body, None, [user.email], fail_silently=False)
    return sent


def send_deadline_reminders() -> int:
    """Scheduled: once per ballot, when its deadline is within
    :data:`REMINDER_WINDOW`, remind the eligible members who haven't voted."""
    now = timezone.now()
    reminded = 0
    for pk in list(
        Ballot.objects.filter(
            status=Ballot.Status.OPEN,
            reminded_at__isnull=True,
            deadline__gt=now,
            deadline__lte=now + REMINDER_WINDOW,
        ).values_list("pk", flat=True)
    ):
        with transaction.atomic():
            ballot = Ballot.objects.select_for_update().get(pk=pk)
            if ballot.reminded_at is not None or ballot.status != Ballot.Status.OPEN:
                continue
            ballot.reminded_at = now
            save_governed(ballot, actor=None, reason="deadline reminder sent")
            jobs.enqueue_on_commit("governance.board.notify_ballot", pk, "reminder")
            reminded += 1
    return reminded
