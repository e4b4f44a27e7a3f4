"""Thirty board members voting and changing their votes at once, across the
deadline, while closers race to close the ballot (PostgreSQL row locks).

Every member ends with exactly one vote (their last accepted one), no vote is
written or counted after the deadline, the tallies match, and the ballot closes
exactly once.
"""

from __future__ import annotations

import datetime
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from governance import board
from governance.models import AuditEvent, Ballot, ImpactAssessment, Proposal, Vote
from governance.roles import Role
from governance.testing import build_org, make_user
from metrics import governance_links
from metrics import services as metric_services
from metrics.models import Metric
from metrics.testing import build_catalogue

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

MEMBERS = 30
VOTING_SECONDS = 6.0
CHOICES = ("approve", "reject", "abstain")


def _setup() -> tuple[Ballot, list[Any]]:
    org = build_org()
    cat = build_catalogue(org)
    metric = metric_services.metric_create(
        actor=None,
        key="sales.revenue_per_rep",
        name="Revenue per rep",
        indicator="lagging",
        level="individual",
        unit="EUR",
        impact=Metric.Impact.HIGH,
        calculation="sum of closed-won deal value",
        source=cat.manual,
        owner=org.people["manager_a"],
        steward=org.people["steward_sales"],
        department=org.sales,
        update_frequency="monthly",
    )
    org.users["board"].groups.clear()  # only the thirty below are on the board
    members = [make_user(f"member{i:02d}", Role.BOARD) for i in range(MEMBERS)]
    author = org.users["compliance"]
    proposal = board.proposal_create(
        actor=author,
        title="Revenue per rep for bonuses",
        summary="Bonus input.",
        subject_type=governance_links.SUBJECT_TYPE,
        subject_id=metric.pk,
        assessment=dict.fromkeys(ImpactAssessment.REQUIRED, "assessed"),
    )
    ballot = board.ballot_open(
        actor=author,
        proposal=proposal,
        deadline=timezone.now() + datetime.timedelta(seconds=VOTING_SECONDS),
        quorum=MEMBERS // 2 + 1,
    )
    return ballot, members


def test_thirty_members_vote_change_and_race_the_deadline(on_postgres, monkeypatch):
    # Notification mails are not under test here; sending them inline (the test
    # settings run jobs synchronously) would eat into the voting window.
    monkeypatch.setattr(board.jobs, "enqueue_on_commit", lambda *a, **k: None)
    ballot, members = _setup()
    deadline = ballot.deadline
    start = threading.Barrier(len(members) + 3)
    last_accepted: dict[int, str] = {}
    accepted_at: dict[int, list[datetime.datetime]] = {}
    late_refused: Counter[int] = Counter()
    errors: list[str] = []
    closes: list[datetime.datetime] = []

    def voter(index: int, user: Any) -> None:
        rng = random.Random(index)
        try:
            start.wait()
            attempt = 0
            while True:
                choice = CHOICES[(index + attempt) % 3]
                attempt += 1
                try:
                    vote = board.vote_cast(
                        actor=user,
                        ballot=ballot,
                        choice=choice,
                        rationale=f"attempt {attempt} of {user.username}",
                    )
                except board.BallotClosed:
                    if timezone.now() < deadline:
                        errors.append(f"{user.username} refused before the deadline")
                    late_refused[index] += 1
                    break
                last_accepted[index] = vote.choice
                accepted_at.setdefault(index, []).append(vote.updated_at)
                time.sleep(rng.uniform(0, 0.05))
            # Once more, clearly late: still refused.
            try:
                board.vote_cast(
                    actor=user, ballot=ballot, choice="approve", rationale="late"
                )
                errors.append(f"late vote of {user.username} accepted")
            except board.BallotClosed:
                late_refused[index] += 1
        except Exception as exc:
            errors.append(f"{user.username}: {exc!r}")
        finally:
            connection.close()

    def closer() -> None:
        try:
            start.wait()
            while True:
                try:
                    closed = board.ballot_close(ballot=ballot)
                except ValidationError:
                    time.sleep(0.05)  # still open
                    continue
                closes.append(closed.closed_at)
                break
            # Closing again is harmless.
            closes.append(board.ballot_close(ballot=ballot).closed_at)
        except Exception as exc:
            errors.append(f"closer: {exc!r}")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=voter, args=(i, user)) for i, user in enumerate(members)
    ] + [threading.Thread(target=closer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert errors == []

    # Every member voted at least once before the deadline, and changed votes.
    assert len(last_accepted) == MEMBERS
    assert sum(len(times) for times in accepted_at.values()) > MEMBERS
    assert all(t < deadline for times in accepted_at.values() for t in times)
    assert all(late_refused[i] >= 2 for i in range(MEMBERS))

    # Exactly one vote per member: their last accepted one.
    votes = list(Vote.objects.filter(ballot=ballot).select_related("voter"))
    assert len(votes) == MEMBERS
    assert len({v.voter_id for v in votes}) == MEMBERS
    by_user = {user.pk: i for i, user in enumerate(members)}
    assert {by_user[v.voter_id]: v.choice for v in votes} == last_accepted
    assert all(v.updated_at < deadline for v in votes)
    # No history row of a vote was written after the deadline either.
    assert not Vote.history.filter(
        ballot_id=ballot.pk, history_date__gte=deadline
    ).exists()

    # Closed once, with the right tallies, recorded in the audit trail.
    ballot.refresh_from_db()
    expected = Counter(last_accepted.values())
    assert ballot.status == Ballot.Status.CLOSED
    assert (ballot.approve_count, ballot.reject_count, ballot.abstain_count) == (
        expected["approve"],
        expected["reject"],
        expected["abstain"],
    )
    assert len(set(closes)) == 1 and len(closes) == 6
    (event,) = AuditEvent.objects.filter(action="board.ballot_closed")
    assert event.data["votes_cast"] == MEMBERS
    assert (event.data["approve"], event.data["reject"], event.data["abstain"]) == (
        expected["approve"],
        expected["reject"],
        expected["abstain"],
    )
    assert event.data["outcome"] == board.decide(
        approve=expected["approve"],
        reject=expected["reject"],
        abstain=expected["abstain"],
        quorum=ballot.quorum,
        majority=ballot.majority,
    )
    proposal = Proposal.objects.get(pk=ballot.proposal_id)
    assert (
        proposal.status == board._PROPOSAL_STATUS[Ballot.Outcome(event.data["outcome"])]
    )
