"""Review board (M8.4) with impact assessments (M5.4)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from governance import board
from governance.classification import Sensitivity
from governance.models import AuditEvent, Ballot, ImpactAssessment, Proposal, Vote
from governance.roles import Role
from governance.testing import completed_bias_assessment, make_user
from metrics import governance_links
from metrics import services as metric_services
from metrics.models import ChangeRequest, Metric, Observation
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

COMPLETE = {
    "who_is_measured": "Every account executive in Sales (about 40 people).",
    "behaviours_encouraged": "Closing larger deals.",
    "gaming_vectors": "Pulling deals forward across quarter ends; discount stuffing.",
    "counter_metrics": "Deal slippage rate; average discount.",
    "unintended_consequences": "Neglect of small customers.",
    "fairness_groups": "Gender, age band, part-time status.",
    "consent_basis": "Consent, purpose performance_tracking.",
    "permitted_uses": "Bonus calculation only; never termination on its own.",
}


class Clock:
    """Moves ``timezone.now`` (every caller sees it) for deadline tests."""

    def __init__(self, monkeypatch: Any) -> None:
        self.offset = datetime.timedelta()
        real = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real() + self.offset)

    def advance(self, **kwargs: Any) -> None:
        self.offset += datetime.timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@dataclass
class Board:
    metric: Metric
    author: Any  # compliance officer who is also on the board
    members: dict[str, Any]  # eligible voters
    owner: Any  # board member who owns the metric (recused)
    measured: Any  # board member measured by the metric (recused)


@pytest.fixture
def bd(org):
    cat = build_catalogue(org)
    metric = metric_services.metric_create(
        actor=None,
        key="sales.revenue_per_rep",
        name="Revenue per rep",
        indicator="lagging",
        level="individual",
        unit="EUR",
        sensitivity=Sensitivity.CONFIDENTIAL,
        impact=Metric.Impact.HIGH,
        calculation="sum of closed-won deal value",
        source=cat.manual,
        owner=org.people["manager_a"],
        steward=org.people["steward_sales"],
        department=org.sales,
        team=org.team_a,
        update_frequency="monthly",
    )
    board_group = Group.objects.get(name=Role.BOARD.value)
    owner = org.users["manager"]  # person manager_a: owns the metric
    owner.groups.add(board_group)
    return Board(
        metric=metric,
        author=make_user("comp_board", Role.COMPLIANCE, Role.BOARD),
        members={
            "board": org.users["board"],
            "board_b": make_user("board_b", Role.BOARD, person=org.people["member_b"]),
        },
        owner=owner,
        measured=make_user("board_a1", Role.BOARD, person=org.people["member_a1"]),
    )


def _propose(bd: Board, *, assessment=COMPLETE, **over) -> Proposal:
    return board.proposal_create(
        actor=bd.author,
        title=over.pop("title", "Revenue per rep for bonuses"),
        summary="Use revenue per rep in the annual bonus.",
        subject_type=governance_links.SUBJECT_TYPE,
        subject_id=bd.metric.pk,
        assessment=assessment,
        **over,
    )


def _open(bd: Board, proposal: Proposal, *, hours: int = 48, **kw) -> Ballot:
    return board.ballot_open(
        actor=bd.author,
        proposal=proposal,
        deadline=timezone.now() + datetime.timedelta(hours=hours),
        **kw,
    )


def _approve(bd: Board, clock: Clock) -> Proposal:
    ballot = _open(bd, _propose(bd))
    for user in bd.members.values():
        board.vote_cast(actor=user, ballot=ballot, choice="approve", rationale="sound")
    clock.advance(hours=49)
    board.ballot_close(ballot=ballot)
    proposal = Proposal.objects.get(pk=ballot.proposal_id)
    assert proposal.status == Proposal.Status.APPROVED
    # Going live also needs a completed bias assessment (M8.5, test_bias.py).
    completed_bias_assessment(
        target_type="metrics.metric",
        target_id=bd.metric.pk,
        version=bd.metric.methodology_version,
    )
    return proposal


# -- counting (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approve", "reject", "abstain", "quorum", "majority", "outcome"),
    [
        (2, 0, 0, 3, "simple", "no_quorum"),
        (2, 0, 1, 3, "simple", "approved"),  # abstentions count to the quorum
        (2, 2, 0, 3, "simple", "rejected"),  # a tie is not a majority
        (3, 2, 0, 3, "simple", "approved"),
        (2, 1, 0, 3, "two_thirds", "approved"),  # exactly two thirds
        (3, 2, 0, 3, "two_thirds", "rejected"),
        (3, 1, 0, 3, "three_quarters", "approved"),
        (5, 2, 0, 3, "three_quarters", "rejected"),
        (4, 0, 3, 3, "unanimous", "approved"),
        (4, 1, 0, 3, "unanimous", "rejected"),
        (0, 0, 5, 3, "simple", "rejected"),  # nobody approved
        (0, 0, 5, 3, "unanimous", "rejected"),
    ],
)
def test_decide(approve, reject, abstain, quorum, majority, outcome):
    assert (
        board.decide(
            approve=approve,
            reject=reject,
            abstain=abstain,
            quorum=quorum,
            majority=majority,
        )
        == outcome
    )


# -- proposals and the impact assessment ---------------------------------------------------


def test_a_proposal_cannot_go_to_a_vote_until_its_assessment_is_complete(bd):
    proposal = _propose(bd, assessment={"who_is_measured": "Sales AEs"})
    with pytest.raises(ValidationError) as caught:
        _open(bd, proposal)
    message = " ".join(caught.value.messages)
    assert "incomplete" in message
    assert "gaming vectors" in message and "who is measured" not in message
    assert not Ballot.objects.exists()
    board.assessment_update(
        actor=bd.author,
        proposal=proposal,
        changes={k: v for k, v in COMPLETE.items() if k != "who_is_measured"},
        reason="completed",
    )
    # Whitespace is not an answer.
    board.assessment_update(
        actor=bd.author, proposal=proposal, changes={"permitted_uses": "  "}, reason="x"
    )
    with pytest.raises(ValidationError, match="permitted uses"):
        _open(bd, proposal)
    board.assessment_update(
        actor=bd.author,
        proposal=proposal,
        changes={"permitted_uses": "Bonus only."},
        reason="x",
    )
    ballot = _open(bd, proposal)
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.VOTING
    assert proposal.bound_version == bd.metric.methodology_version
    assert proposal.bound_digest == governance_links.governed_digest(bd.metric)
    # Frozen once voting started.
    with pytest.raises(ValidationError, match="went to a vote"):
        board.assessment_update(
            actor=bd.author,
            proposal=proposal,
            changes={"permitted_uses": "Anything."},
            reason="x",
        )
    event = AuditEvent.objects.get(action="board.ballot_opened")
    assert event.object_id == str(ballot.pk)
    assert event.data["eligible"] == 2 and event.data["quorum"] == 2


def test_who_may_propose(bd, org):
    with pytest.raises(PermissionDenied):
        board.proposal_create(
            actor=org.users["board"],
            title="x",
            summary="x",
            subject_type=governance_links.SUBJECT_TYPE,
            subject_id=bd.metric.pk,
        )
    # A metric owner may propose about the metrics they own, not others.
    owner = make_user("owner_a", Role.METRIC_OWNER, person=org.people["steward_sales"])
    with pytest.raises(PermissionDenied, match="this subject"):
        board.proposal_create(
            actor=owner,
            title="x",
            summary="x",
            subject_type=governance_links.SUBJECT_TYPE,
            subject_id=bd.metric.pk,
        )
    with pytest.raises(ValidationError, match="knows no subjects"):
        board.proposal_create(
            actor=bd.author,
            title="x",
            summary="x",
            subject_type="metrics.nothing",
            subject_id=1,
        )


def test_ballot_needs_eligible_members_and_a_reachable_quorum(bd):
    with pytest.raises(ValidationError, match="quorum must be between 1 and the 2"):
        _open(bd, _propose(bd), quorum=3)
    with pytest.raises(ValidationError, match="future"):
        board.ballot_open(
            actor=bd.author, proposal=_propose(bd, title="t2"), deadline=timezone.now()
        )


# -- voting ---------------------------------------------------------------------------------


def test_members_are_notified_when_a_ballot_opens(
    bd, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _open(bd, _propose(bd))
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == sorted(u.email for u in bd.members.values())
    assert "/admin/governance/ballot/" in mail.outbox[0].body


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("author", "You wrote this proposal"),
        ("owner", "You own the metric"),
        ("measured", "The metric measures you"),
    ],
)
def test_recused_members_may_not_vote(bd, who, message):
    ballot = _open(bd, _propose(bd))
    with pytest.raises(PermissionDenied, match=message):
        board.vote_cast(
            actor=getattr(bd, who), ballot=ballot, choice="approve", rationale="mine"
        )
    assert not Vote.objects.exists()


def test_people_with_a_value_of_the_metric_are_recused(bd, org):
    """Measured = current team members *and* anyone with an observation."""
    assert str(org.people["member_b"].pk) not in governance_links.measured_people(
        str(bd.metric.pk)
    )
    member_b = org.people["member_b"]
    Observation.objects.create(
        metric=bd.metric,
        person=member_b,
        period_start=datetime.date(2026, 1, 1),
        period_end=datetime.date(2026, 1, 31),
        value_plain=1,
        methodology_version=1,
        source=bd.metric.source,
        entered_at=timezone.now(),
    )
    assert str(member_b.pk) in governance_links.measured_people(str(bd.metric.pk))
    ballot = _open(bd, _propose(bd))
    assert ballot.eligible_count == 1
    with pytest.raises(PermissionDenied, match="measures you"):
        board.vote_cast(
            actor=bd.members["board_b"], ballot=ballot, choice="reject", rationale="x"
        )


@pytest.mark.parametrize(
    "user_key", ["hr", "compliance", "auditor", "employee", "admin"]
)
def test_only_board_members_vote(bd, org, user_key):
    ballot = _open(bd, _propose(bd))
    with pytest.raises(PermissionDenied, match="Only review board members"):
        board.vote_cast(
            actor=org.users[user_key], ballot=ballot, choice="approve", rationale="x"
        )


def test_one_vote_per_member_changeable_until_the_deadline_never_after(bd, clock):
    ballot = _open(bd, _propose(bd), hours=1)
    member = bd.members["board"]
    first = board.vote_cast(
        actor=member, ballot=ballot, choice="approve", rationale="a"
    )
    clock.advance(minutes=30)
    second = board.vote_cast(
        actor=member, ballot=ballot, choice="reject", rationale="b"
    )
    assert second.pk == first.pk
    assert Vote.objects.filter(ballot=ballot, voter=member).count() == 1
    assert [h.choice for h in second.history.order_by("history_id")] == [
        "approve",
        "reject",
    ]
    with pytest.raises(ValidationError, match="rationale"):
        board.vote_cast(actor=member, ballot=ballot, choice="abstain", rationale=" ")
    clock.advance(minutes=31)
    with pytest.raises(board.BallotClosed):
        board.vote_cast(actor=member, ballot=ballot, choice="abstain", rationale="late")
    with pytest.raises(board.BallotClosed):
        board.vote_cast(
            actor=bd.members["board_b"],
            ballot=ballot,
            choice="approve",
            rationale="late",
        )
    assert Vote.objects.get(ballot=ballot, voter=member).choice == "reject"
    assert Vote.objects.filter(ballot=ballot).count() == 1


def test_the_database_refuses_a_second_vote_and_a_late_one(bd):
    ballot = _open(bd, _propose(bd))
    member = bd.members["board"]
    board.vote_cast(actor=member, ballot=ballot, choice="approve", rationale="a")
    now = timezone.now()
    duplicate = Vote(
        ballot=ballot,
        voter=member,
        choice="reject",
        rationale="b",
        cast_at=now,
        updated_at=now,
        ballot_deadline=ballot.deadline,
    )
    duplicate._change_reason = "bypass"
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    late = ballot.deadline + datetime.timedelta(seconds=1)
    after = Vote(
        ballot=ballot,
        voter=bd.members["board_b"],
        choice="reject",
        rationale="b",
        cast_at=late,
        updated_at=late,
        ballot_deadline=ballot.deadline,
    )
    after._change_reason = "bypass"
    with pytest.raises(IntegrityError), transaction.atomic():
        after.save()


# -- closing ---------------------------------------------------------------------------------


def test_close_records_tallies_in_the_audit_trail_once(
    bd, clock, django_capture_on_commit_callbacks
):
    ballot = _open(bd, _propose(bd), majority="two_thirds")
    board.vote_cast(
        actor=bd.members["board"], ballot=ballot, choice="approve", rationale="ok"
    )
    board.vote_cast(
        actor=bd.members["board_b"], ballot=ballot, choice="abstain", rationale="unsure"
    )
    with pytest.raises(ValidationError, match="open until"):
        board.ballot_close(ballot=ballot)
    clock.advance(hours=49)
    with django_capture_on_commit_callbacks(execute=True):
        assert board.close_due_ballots() == 1
    ballot.refresh_from_db()
    assert ballot.status == "closed" and ballot.outcome == "approved"
    assert (ballot.approve_count, ballot.reject_count, ballot.abstain_count) == (
        1,
        0,
        1,
    )
    (event,) = AuditEvent.objects.filter(action="board.ballot_closed")
    assert event.data["outcome"] == "approved"
    assert (event.data["approve"], event.data["reject"], event.data["abstain"]) == (
        1,
        0,
        1,
    )
    assert event.data["digest"] == governance_links.governed_digest(bd.metric)
    assert Proposal.objects.get(pk=ballot.proposal_id).status == "approved"
    assert any("approved" in m.subject for m in mail.outbox)
    # Idempotent: running the job again (or closing by hand) changes nothing.
    assert board.close_due_ballots() == 0
    again = board.ballot_close(ballot=ballot)
    assert again.closed_at == ballot.closed_at
    assert AuditEvent.objects.filter(action="board.ballot_closed").count() == 1


def test_without_quorum_nothing_is_approved(bd, clock):
    ballot = _open(bd, _propose(bd))
    board.vote_cast(
        actor=bd.members["board"], ballot=ballot, choice="approve", rationale="ok"
    )
    clock.advance(hours=49)
    closed = board.ballot_close(ballot=ballot)
    assert closed.outcome == "no_quorum"
    assert Proposal.objects.get(pk=ballot.proposal_id).status == "no_quorum"
    with pytest.raises(ValidationError, match="high-impact"):
        metric_services.metric_transition(
            actor=None, metric=bd.metric, status="active", reason="go"
        )


def test_deadline_reminders_go_once_to_members_who_have_not_voted(
    bd, clock, django_capture_on_commit_callbacks
):
    ballot = _open(bd, _propose(bd), hours=72)
    board.vote_cast(
        actor=bd.members["board"], ballot=ballot, choice="approve", rationale="ok"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert board.send_deadline_reminders() == 0  # not yet within 24 h
    clock.advance(hours=50)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert board.send_deadline_reminders() == 1
        assert board.send_deadline_reminders() == 0
    assert [m.to for m in mail.outbox] == [[bd.members["board_b"].email]]
    assert "closes soon" in mail.outbox[0].body


# -- approval binds to the version; activation and capture need it ----------------------------


def test_high_impact_metric_cannot_go_live_without_approval(bd, clock):
    with pytest.raises(ValidationError, match="review board"):
        metric_services.metric_transition(
            actor=None, metric=bd.metric, status="active", reason="go"
        )
    _approve(bd, clock)
    metric_services.metric_transition(
        actor=None, metric=bd.metric, status="active", reason="approved by the board"
    )
    bd.metric.refresh_from_db()
    assert bd.metric.status == "active"


def test_rejected_proposal_does_not_unlock_activation(bd, clock):
    ballot = _open(bd, _propose(bd))
    for user in bd.members.values():
        board.vote_cast(actor=user, ballot=ballot, choice="reject", rationale="unfair")
    clock.advance(hours=49)
    assert board.ballot_close(ballot=ballot).outcome == "rejected"
    with pytest.raises(ValidationError, match="high-impact"):
        metric_services.metric_transition(
            actor=None, metric=bd.metric, status="active", reason="go"
        )


def test_a_governed_edit_after_approval_revokes_it(bd, clock):
    proposal = _approve(bd, clock)
    # A cosmetic edit is not material: the approval stands.
    metric_services.metric_update(
        actor=None, metric=bd.metric, changes={"name": "Revenue / rep"}, reason="name"
    )
    proposal.refresh_from_db()
    assert proposal.revoked_at is None
    metric_services.metric_update(
        actor=None,
        metric=bd.metric,
        changes={"calculation": "sum of booked revenue"},
        reason="new formula",
    )
    proposal.refresh_from_db()
    assert proposal.status == Proposal.Status.REVOKED
    assert "calculation" in proposal.revoked_reason
    event = AuditEvent.objects.get(action="board.approval_revoked")
    assert event.data["fields"] == ["calculation"]
    with pytest.raises(ValidationError, match="was revoked"):
        metric_services.metric_transition(
            actor=None, metric=bd.metric, status="active", reason="go"
        )


def test_change_request_on_a_live_metric_revokes_and_stops_capture(bd, org, clock):
    _approve(bd, clock)
    metric_services.metric_transition(
        actor=None, metric=bd.metric, status="active", reason="approved"
    )
    row = {
        "metric": bd.metric.key,
        "employee_id": org.people["member_a"].employee_id,
        "period_start": "2026-03-01",
        "value": "1000",
    }
    assert metric_services.record_observations(actor=org.users["hr"], rows=[row])
    request = metric_services.change_request_create(
        actor=org.users["hr"],
        metric=bd.metric,
        changes={"calculation": "booked revenue"},
        reason="finance asked",
    )
    metric_services.change_request_decide(
        actor=org.users["steward"], change_request=request, approve=True
    )
    assert ChangeRequest.objects.get(pk=request.pk).status == "applied"
    assert Proposal.objects.get().status == Proposal.Status.REVOKED
    with pytest.raises(metric_services.BatchRejected) as caught:
        metric_services.record_observations(
            actor=org.users["hr"], rows=[{**row, "period_start": "2026-04-01"}]
        )
    assert "receive individual-level data" in caught.value.errors[0].message
    assert Observation.objects.filter(metric=bd.metric).count() == 1


def test_a_change_during_the_vote_voids_it(bd):
    ballot = _open(bd, _propose(bd))
    board.vote_cast(
        actor=bd.members["board"], ballot=ballot, choice="approve", rationale="ok"
    )
    metric_services.metric_update(
        actor=None, metric=bd.metric, changes={"unit": "USD"}, reason="currency"
    )
    ballot.refresh_from_db()
    assert ballot.status == "closed" and ballot.outcome == "void"
    assert Proposal.objects.get(pk=ballot.proposal_id).status == Proposal.Status.VOID
    with pytest.raises(board.BallotClosed):
        board.vote_cast(
            actor=bd.members["board_b"], ballot=ballot, choice="approve", rationale="x"
        )


def test_closing_checks_the_version_even_if_no_hook_ran(bd, clock):
    """Defence in depth: an edit behind the service layer's back voids the vote."""
    ballot = _open(bd, _propose(bd))
    for user in bd.members.values():
        board.vote_cast(actor=user, ballot=ballot, choice="approve", rationale="ok")
    Metric.objects.filter(pk=bd.metric.pk).update(calculation="something else")
    clock.advance(hours=49)
    assert board.ballot_close(ballot=ballot).outcome == "void"


# -- admin: proposals, ballots and the vote page -----------------------------------------------


def test_author_writes_proposal_and_assessment_in_the_admin(client, bd):
    client.force_login(bd.author)
    add = reverse("admin:governance_proposal_add")
    page = client.get(add)
    assert f"metrics.metric:{bd.metric.pk}" in page.content.decode()
    response = client.post(
        add,
        {
            "title": "Revenue per rep for bonuses",
            "kind": "new",
            "summary": "Bonus input.",
            "subject": f"metrics.metric:{bd.metric.pk}",
        },
    )
    assert response.status_code == 302
    proposal = Proposal.objects.get()
    assert proposal.author == bd.author
    change = reverse("admin:governance_proposal_change", args=[proposal.pk])
    page = client.get(change)
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    prefix = "assessment"
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "1",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1",
            f"{prefix}-0-id": str(proposal.assessment.pk),
            f"{prefix}-0-proposal": str(proposal.pk),
            **{f"{prefix}-0-{k}": v for k, v in COMPLETE.items()},
        }
    )
    response = client.post(change, data)
    assert response.status_code == 302, response.context and [
        f.errors for f in response.context["inline_admin_formsets"][0].formset.forms
    ]
    assert ImpactAssessment.objects.get(proposal=proposal).is_complete


def test_ballot_form_shows_why_a_proposal_cannot_go_to_a_vote(client, bd):
    proposal = _propose(bd, assessment={})
    client.force_login(bd.author)
    deadline = timezone.localtime() + datetime.timedelta(days=3)
    data = {
        "proposal": str(proposal.pk),
        "deadline_0": deadline.strftime("%Y-%m-%d"),
        "deadline_1": deadline.strftime("%H:%M:%S"),
        "quorum": "",
        "majority": "simple",
    }
    url = reverse("admin:governance_ballot_add")
    response = client.post(url, data)
    assert response.status_code == 200
    assert "impact assessment is incomplete" in response.content.decode()
    assert not Ballot.objects.exists()
    board.assessment_update(
        actor=bd.author, proposal=proposal, changes=COMPLETE, reason="done"
    )
    response = client.post(url, data)
    assert response.status_code == 302
    assert Ballot.objects.get().quorum == 2


def test_vote_page_members_only_never_own_proposal_post_redirect_get(client, bd, org):
    ballot = _open(bd, _propose(bd))
    url = reverse("admin:governance_ballot_vote", args=[ballot.pk])
    client.force_login(bd.members["board"])
    page = client.get(url)
    assert page.status_code == 200
    assert COMPLETE["gaming_vectors"] in page.content.decode()
    response = client.post(url, {"choice": "approve", "rationale": "Sound design."})
    assert response.status_code == 302 and response["Location"] == url
    assert Vote.objects.get().choice == "approve"
    assert "You voted" in client.get(url).content.decode()

    client.force_login(bd.author)  # author (also a board member)
    assert client.get(url).status_code == 403
    client.post(url, {"choice": "approve", "rationale": "mine"})
    assert Vote.objects.count() == 1
    for key in ("hr", "compliance", "auditor", "metric_owner"):
        client.force_login(org.users[key])
        assert client.get(url).status_code == 403, key


def test_vote_page_after_the_deadline_takes_no_vote(client, bd, clock):
    ballot = _open(bd, _propose(bd))
    url = reverse("admin:governance_ballot_vote", args=[ballot.pk])
    clock.advance(hours=49)
    client.force_login(bd.members["board"])
    page = client.get(url)
    assert "Voting on this ballot is closed" in page.content.decode()
    assert 'id="vote-form"' not in page.content.decode()
    client.post(url, {"choice": "approve", "rationale": "late"})
    assert not Vote.objects.exists()


# -- who reads what ------------------------------------------------------------------------------


def test_drafts_stay_with_their_authors_votes_with_their_voters(bd, org):
    from governance.testing import make_person

    otto = make_person(org.sales, org.us, name="Otto Owner")
    owner = make_user("owner_x", Role.METRIC_OWNER, person=otto)
    mine = metric_services.metric_create(
        actor=None,
        key="sales.quota_attainment",
        name="Quota attainment",
        indicator="lagging",
        level="individual",
        unit="%",
        impact=Metric.Impact.HIGH,
        calculation="booked / quota",
        source=bd.metric.source,
        owner=otto,
        steward=org.people["steward_sales"],
        department=org.sales,
        update_frequency="monthly",
    )
    draft = board.proposal_create(
        actor=owner,
        title="Quota attainment for promotion",
        summary="s",
        subject_type=governance_links.SUBJECT_TYPE,
        subject_id=mine.pk,
        assessment=COMPLETE,
    )
    voting = _propose(bd)
    ballot = _open(bd, voting)
    board.vote_cast(
        actor=bd.members["board"], ballot=ballot, choice="approve", rationale="ok"
    )
    board.vote_cast(
        actor=bd.members["board_b"], ballot=ballot, choice="reject", rationale="no"
    )

    def ids(model, user):
        return set(model.objects.visible_to(user, "view").values_list("pk", flat=True))

    every = {draft.pk, voting.pk}
    assert ids(Proposal, owner) == {draft.pk}
    assert ids(Proposal, bd.members["board"]) == {voting.pk}  # no drafts
    assert ids(Proposal, org.users["metric_owner"]) == set()
    for key in ("hr", "compliance", "auditor", "admin"):
        assert ids(Proposal, org.users[key]) == every, key
    for key in ("steward", "employee", "nobody"):
        assert ids(Proposal, org.users[key]) == set(), key
    assert ids(Proposal, bd.owner) == {voting.pk}  # the manager is on the board here
    assert ids(ImpactAssessment, bd.members["board"]) == {voting.assessment.pk}
    assert ids(Ballot, owner) == set()
    assert ids(Ballot, bd.members["board"]) == {ballot.pk}
    member_vote = Vote.objects.get(voter=bd.members["board"])
    assert ids(Vote, bd.members["board"]) == {member_vote.pk}
    assert len(ids(Vote, org.users["compliance"])) == 2
    assert ids(Vote, org.users["hr"]) == set()
    # Only the author (or an organisation-wide role) edits a draft.
    with pytest.raises(PermissionDenied):
        board.assessment_update(
            actor=org.users["board"],
            proposal=draft,
            changes={"gaming_vectors": "x"},
            reason="x",
        )
