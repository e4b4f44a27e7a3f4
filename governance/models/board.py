"""The review board (M8.4) and impact assessments (M5.4).

A proposal names the thing it is about generically (``subject_type`` as
``app_label.model`` and ``subject_id``), so the kernel never imports the app
that owns it; that app registers a subject provider
(:func:`governance.board.register_subject`) that tells the board the subject's
current version, the digest of its governed fields, its owner and the people
it measures.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.audit.history import GovernedHistoricalRecords
from governance.querysets import GovernedQuerySet


def _is_board_member(user: Any) -> bool:
    from governance import permissions
    from governance.roles import Role

    return permissions.has_role(user, Role.BOARD)


class ProposalQuerySet(GovernedQuerySet):
    """Authors reach their own proposals; board members read every proposal
    that went to a vote (drafts stay with their authors)."""

    def scope_q(self, user: Any, action: str) -> Q:
        q = Q(author_id=user.pk)
        if action == "view" and _is_board_member(user):
            q |= ~Q(status=Proposal.Status.DRAFT)
        return q


class Proposal(models.Model):
    """A proposal to introduce or change a high-impact metric (one tied to
    promotion, pay or termination).

    Invariants: it goes to a vote only with a complete impact assessment;
    when its ballot opens it binds to the subject's exact version
    (``bound_version`` and ``bound_digest``); an approval counts only while
    the subject still has that digest, and a material edit revokes it. At most
    one proposal per subject is being voted on at a time.
    """

    class Kind(models.TextChoices):
        NEW = "new", "New metric"
        CHANGE = "change", "Changed metric"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        VOTING = "voting", "Being voted on"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        NO_QUORUM = "no_quorum", "Not decided (no quorum)"
        REVOKED = "revoked", "Approval revoked (subject changed)"
        VOID = "void", "Void (subject changed during the vote)"
        WITHDRAWN = "withdrawn", "Withdrawn"

    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.NEW)
    summary = models.TextField(help_text="What is proposed and why.")
    subject_type = models.CharField(
        max_length=100, help_text="app_label.model of what the board decides on."
    )
    subject_id = models.CharField(max_length=64)
    subject_label = models.CharField(max_length=200, blank=True, editable=False)
    bound_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    bound_digest = models.CharField(max_length=64, blank=True, editable=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="board_proposals",
        editable=False,
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    created_at = models.DateTimeField(editable=False)
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_reason = models.TextField(blank=True, editable=False)
    history = GovernedHistoricalRecords()

    objects = ProposalQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id"],
                condition=Q(status="voting"),
                name="proposal_one_vote_per_subject",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "withdrawn"]) | ~Q(bound_digest=""),
                name="proposal_bound_when_submitted",
            ),
        ]
        indexes = [
            models.Index(
                fields=["subject_type", "subject_id", "status"],
                name="proposal_subject_status",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class ImpactAssessmentQuerySet(GovernedQuerySet):
    def scope_q(self, user: Any, action: str) -> Q:
        q = Q(proposal__author_id=user.pk)
        if action == "view" and _is_board_member(user):
            q |= ~Q(proposal__status=Proposal.Status.DRAFT)
        return q


class ImpactAssessment(models.Model):
    """The structured pre-implementation assessment of a proposal (M5.4).

    Invariant: a proposal goes to a vote only when every field in
    :attr:`REQUIRED` says something; the assessment is frozen once voting starts.
    """

    REQUIRED = (
        "who_is_measured",
        "behaviours_encouraged",
        "gaming_vectors",
        "counter_metrics",
        "unintended_consequences",
        "fairness_groups",
        "consent_basis",
        "permitted_uses",
    )

    proposal = models.OneToOneField(
        Proposal, on_delete=models.PROTECT, related_name="assessment"
    )
    who_is_measured = models.TextField(
        blank=True, help_text="Which people or teams the metric measures, and how many."
    )
    behaviours_encouraged = models.TextField(
        blank=True, help_text="What the metric rewards people for doing."
    )
    gaming_vectors = models.TextField(
        blank=True,
        help_text="How the number could be improved without the work improving.",
    )
    counter_metrics = models.TextField(
        blank=True, help_text="The metrics that would show gaming (e.g. reopen rate)."
    )
    unintended_consequences = models.TextField(
        blank=True,
        help_text="Harm the metric might cause: burnout, silos, cherry-picking …",
    )
    fairness_groups = models.TextField(
        blank=True,
        help_text="Groups to compare in the bias assessment (gender, age band, disability …).",
    )
    consent_basis = models.TextField(
        blank=True, help_text="Lawful basis and consent purpose for the data used."
    )
    permitted_uses = models.TextField(
        blank=True, help_text="What decisions the metric may (and may not) inform."
    )
    history = GovernedHistoricalRecords()

    objects = ImpactAssessmentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["proposal"], name="assessment_one_per_proposal"
            ),
        ]

    def __str__(self) -> str:
        return f"Impact assessment of proposal #{self.proposal_id}"

    def missing(self) -> list[str]:
        """Names of required fields still empty."""
        return [
            name for name in self.REQUIRED if not (getattr(self, name) or "").strip()
        ]

    @property
    def is_complete(self) -> bool:
        return not self.missing()


class BallotQuerySet(GovernedQuerySet):
    def scope_q(self, user: Any, action: str) -> Q:
        q = Q(proposal__author_id=user.pk) if action == "view" else Q(pk__in=[])
        if action == "view" and _is_board_member(user):
            q |= Q(pk__isnull=False)
        return q

    def due(self, moment: Any) -> BallotQuerySet:
        return self.filter(status=Ballot.Status.OPEN, deadline__lte=moment)


class Ballot(models.Model):
    """The board's vote on one proposal.

    Invariants: members vote until the deadline, never after; the ballot
    closes (once) when the deadline has passed, recording the tallies, the
    outcome and an audit event. ``quorum`` counts every vote cast, abstentions
    included; ``majority`` is the share of approvals among approve and reject
    votes needed to pass.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class Majority(models.TextChoices):
        SIMPLE = "simple", "Simple majority (more than half)"
        TWO_THIRDS = "two_thirds", "Two thirds"
        THREE_QUARTERS = "three_quarters", "Three quarters"
        UNANIMOUS = "unanimous", "Unanimous"

    class Outcome(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        NO_QUORUM = "no_quorum", "No quorum"
        VOID = "void", "Void (subject changed during the vote)"

    proposal = models.OneToOneField(
        Proposal, on_delete=models.PROTECT, related_name="ballot"
    )
    opened_at = models.DateTimeField(editable=False)
    opened_by_id = models.BigIntegerField(null=True, blank=True, editable=False)
    deadline = models.DateTimeField()
    quorum = models.PositiveIntegerField(
        help_text="Votes (approve, reject or abstain) needed for a valid decision."
    )
    majority = models.CharField(
        max_length=16, choices=Majority.choices, default=Majority.SIMPLE
    )
    eligible_count = models.PositiveIntegerField(default=0, editable=False)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.OPEN, editable=False
    )
    outcome = models.CharField(
        max_length=10, choices=Outcome.choices, blank=True, editable=False
    )
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    approve_count = models.PositiveIntegerField(default=0, editable=False)
    reject_count = models.PositiveIntegerField(default=0, editable=False)
    abstain_count = models.PositiveIntegerField(default=0, editable=False)
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = GovernedHistoricalRecords()

    objects = BallotQuerySet.as_manager()

    class Meta:
        ordering = ["-deadline", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(deadline__gt=models.F("opened_at")),
                name="ballot_deadline_after_opening",
            ),
            models.CheckConstraint(
                condition=Q(quorum__gte=1), name="ballot_quorum_positive"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="open", outcome="", closed_at__isnull=True)
                    | (Q(status="closed", closed_at__isnull=False) & ~Q(outcome=""))
                ),
                name="ballot_closed_has_outcome",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "deadline"], name="ballot_status_deadline"),
        ]

    def __str__(self) -> str:
        return f"Ballot on {self.proposal}"

    @property
    def votes_cast(self) -> int:
        return self.approve_count + self.reject_count + self.abstain_count


class VoteQuerySet(GovernedQuerySet):
    def scope_q(self, user: Any, action: str) -> Q:
        return Q(voter_id=user.pk) if action == "view" else Q(pk__in=[])


class Vote(models.Model):
    """One board member's vote on a ballot, with their rationale.

    Invariants: one vote per member and ballot (changed in place until the
    deadline, every change kept in history); never written after the ballot's
    deadline (``ballot_deadline`` is copied from the ballot so the database
    refuses it too).
    """

    class Choice(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        ABSTAIN = "abstain", "Abstain"

    ballot = models.ForeignKey(Ballot, on_delete=models.PROTECT, related_name="votes")
    voter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="board_votes"
    )
    choice = models.CharField(max_length=8, choices=Choice.choices)
    rationale = models.TextField()
    cast_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    ballot_deadline = models.DateTimeField(editable=False)
    history = GovernedHistoricalRecords()

    objects = VoteQuerySet.as_manager()

    class Meta:
        ordering = ["ballot", "cast_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ballot", "voter"], name="vote_one_per_member"
            ),
            models.CheckConstraint(
                condition=Q(updated_at__lt=models.F("ballot_deadline")),
                name="vote_before_deadline",
            ),
            models.CheckConstraint(
                condition=Q(updated_at__gte=models.F("cast_at")),
                name="vote_updated_after_cast",
            ),
            models.CheckConstraint(
                condition=~Q(rationale=""), name="vote_has_rationale"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_choice_display()} on ballot #{self.ballot_id}"


def _declare_roles_and_jobs() -> None:
    """The board's and consent's permissions per role, and their scheduled
    jobs, declared next to their models (the kernel's role table and
    ``AppConfig`` stay as they are; ``sync_roles``/``sync_schedules`` apply them)."""
    from governance import roles, schedules
    from governance.roles import Role

    def perms(actions: str, *models_: str) -> set[str]:
        return {
            f"governance.{action}_{model}"
            for action in actions.split()
            for model in models_
        }

    consent = ("consentpurpose", "consentrecord")
    board = ("proposal", "impactassessment", "ballot")
    roles.extend(
        Role.COMPLIANCE,
        perms("view add change", *consent, *board) | perms("view", "vote"),
    )
    roles.extend(
        Role.HR,
        perms("view add change", "proposal", "impactassessment")
        | perms("view", "ballot"),
    )
    roles.extend(
        Role.METRIC_OWNER,
        perms("view add change", "proposal", "impactassessment")
        | perms("view", "ballot"),
    )
    roles.extend(Role.BOARD, perms("view", *board) | perms("view add change", "vote"))
    roles.extend(Role.AUDITOR, perms("view", *consent, *board, "vote"))
    roles.extend(Role.EMPLOYEE, perms("view", *consent))
    # Purposes are reference data: whoever defines metrics picks one.
    for role in (Role.STEWARD, Role.MANAGER, Role.BOARD, Role.HR, Role.METRIC_OWNER):
        roles.extend(role, perms("view", "consentpurpose"))
    schedules.register(
        "governance.board.close_due_ballots",
        "governance.board.close_due_ballots",
        "I",
        minutes=5,
    )
    schedules.register(
        "governance.board.send_deadline_reminders",
        "governance.board.send_deadline_reminders",
        "H",
    )


_declare_roles_and_jobs()
