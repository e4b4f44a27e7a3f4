"""Appeal services: filing, independence of the reviewer, decisions and
corrections through change control, the hold on the disputed evaluation."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from appeals import selectors, services
from appeals.models import Appeal, ConflictDeclaration, Evidence
from appeals.permissions import eligible_reviewers, reviewer_conflicts
from appeals.testing import PDF, file_and_assign, fresh
from governance.audit import events
from governance.models import AuditEvent
from governance.roles import Role
from metrics.models import Evaluation, Observation

pytestmark = pytest.mark.django_db


def _with_role(user, role: Role):
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name=role.value))
    return fresh(user)


def test_filing_seals_grounds_and_puts_the_evaluation_on_hold(world):
    appeal = file_and_assign(world, start=False)
    raw = Appeal.objects.filter(pk=appeal.pk).values_list("grounds", flat=True).get()
    assert raw.startswith("pgp1:") and "leave" not in raw
    world.evaluation.refresh_from_db()
    assert world.evaluation.status == Evaluation.Status.ON_HOLD
    assert list(selectors.evaluations_on_hold()) == [world.evaluation]
    assert appeal.held_status == Evaluation.Status.RELEASED
    assert AuditEvent.objects.filter(
        action="appeal.filed", object_id=str(appeal.pk)
    ).exists()


def test_an_employee_can_appeal_only_their_own_values(world):
    other = fresh(world.user("manager"))
    with pytest.raises(PermissionDenied):
        services.file_appeal(
            actor=other, evaluation=world.evaluation, grounds="x", requested_remedy="y"
        )
    assert not Appeal.objects.exists()


def test_one_open_appeal_per_evaluation(world):
    file_and_assign(world, start=False)
    with pytest.raises(ValidationError, match="already open"):
        services.file_appeal(
            actor=fresh(world.user("employee")),
            evaluation=world.evaluation,
            grounds="again",
            requested_remedy="again",
        )


def test_grounds_and_remedy_are_required(world):
    with pytest.raises(ValidationError):
        services.file_appeal(
            actor=fresh(world.user("employee")),
            evaluation=world.evaluation,
            grounds="  ",
            requested_remedy="y",
        )
    assert not Appeal.objects.exists()


# -- reviewer independence ----------------------------------------------------------


@pytest.mark.parametrize(
    ("user_key", "expected"),
    [
        ("steward", "evaluator"),  # steward_sales evaluated member_a
        ("manager", "manager chain"),  # manager_a manages member_a and Team A
        ("employee", "own appeal"),
    ],
)
def test_conflicted_reviewers_can_not_be_assigned(world, user_key, expected):
    appeal = file_and_assign(world, start=False, reviewer="board")
    candidate = _with_role(world.user(user_key), Role.BOARD)
    assert any(expected in r for r in reviewer_conflicts(candidate, appeal))
    assert candidate not in eligible_reviewers(appeal)
    with pytest.raises(ValidationError):
        services.assign_reviewer(
            actor=fresh(world.user("hr")), appeal=appeal, reviewer=candidate
        )
    appeal.refresh_from_db()
    assert appeal.reviewer_id == world.user("board").pk


def test_a_declared_conflict_excludes_the_reviewer(world):
    appeal = services.file_appeal(
        actor=fresh(world.user("employee")),
        evaluation=world.evaluation,
        grounds="g",
        requested_remedy="r",
    )
    board = fresh(world.user("board"))
    assert board in eligible_reviewers(appeal)
    services.declare_conflict(
        actor=board, user=board, person=world.org.people["member_a"], reason="relative"
    )
    assert board not in eligible_reviewers(appeal)
    with pytest.raises(ValidationError, match="conflict"):
        services.assign_reviewer(
            actor=fresh(world.user("hr")), appeal=appeal, reviewer=board
        )
    assert ConflictDeclaration.objects.count() == 1


def test_someone_without_a_reviewer_role_can_not_be_assigned(world):
    appeal = services.file_appeal(
        actor=fresh(world.user("employee")),
        evaluation=world.evaluation,
        grounds="g",
        requested_remedy="r",
    )
    with pytest.raises(ValidationError, match="review board members or HR"):
        services.assign_reviewer(
            actor=fresh(world.user("hr")),
            appeal=appeal,
            reviewer=fresh(world.user("auditor")),
        )


def test_the_reviewer_gets_an_object_grant_for_that_appeal_only(world):
    first = file_and_assign(world, target="evaluation")
    second = services.file_appeal(
        actor=fresh(world.user("employee")),
        observation=world.observation,
        grounds="g",
        requested_remedy="r",
    )
    board = fresh(world.user("board"))
    assert list(Appeal.objects.visible_to(board)) == [first]
    assert board.has_perm("appeals.change_appeal", first)
    assert not board.has_perm("appeals.change_appeal", second)
    # Reassigning moves the grant.
    hr = fresh(world.user("hr"))
    other = _with_role(world.user("metric_owner"), Role.BOARD)
    services.assign_reviewer(actor=hr, appeal=first, reviewer=other)
    assert list(Appeal.objects.visible_to(fresh(board))) == []
    assert list(Appeal.objects.visible_to(fresh(other))) == [first]


# -- decisions -----------------------------------------------------------------------------


def test_only_the_assigned_reviewer_decides(world):
    appeal = file_and_assign(world)
    for key in ("hr", "compliance", "employee", "auditor"):
        with pytest.raises(PermissionDenied):
            services.decide(
                actor=fresh(world.user(key)),
                appeal=appeal,
                outcome="rejected",
                rationale="no",
            )
    appeal.refresh_from_db()
    assert appeal.status == "under_review" and appeal.outcome == ""


def test_a_decision_needs_a_rationale(world):
    appeal = file_and_assign(world)
    with pytest.raises(ValidationError, match="rationale"):
        services.decide(
            actor=fresh(world.user("board")),
            appeal=appeal,
            outcome="rejected",
            rationale=" ",
        )
    appeal.refresh_from_db()
    assert appeal.status == "under_review"


def test_upheld_needs_the_corrected_value(world):
    appeal = file_and_assign(world)
    with pytest.raises(ValidationError, match="corrected value"):
        services.decide(
            actor=fresh(world.user("board")),
            appeal=appeal,
            outcome="upheld",
            rationale="yes",
        )


def test_upheld_observation_appeal_supersedes_the_value_and_keeps_the_original(world):
    appeal = file_and_assign(world, target="observation")
    original = world.observation
    services.decide(
        actor=fresh(world.user("board")),
        appeal=appeal,
        outcome="upheld",
        rationale="Duplicates confirmed in the CRM.",
        corrected_value="110",
    )
    appeal.refresh_from_db()
    original.refresh_from_db()
    assert appeal.status == "decided" and appeal.outcome == "upheld"
    assert original.status == Observation.Status.SUPERSEDED
    assert original.value == Decimal("120")  # the original is still readable
    new = appeal.correction_observation
    assert new.supersedes_id == original.pk
    assert new.value == Decimal("110")
    assert "appeal" in new.correction_reason
    assert new.history.first().history_user_id == world.user("board").pk


def test_upheld_evaluation_appeal_corrects_the_score_with_the_original_in_history(
    world,
):
    appeal = file_and_assign(world, target="evaluation")
    services.decide(
        actor=fresh(world.user("board")),
        appeal=appeal,
        outcome="upheld",
        rationale="Leave months excluded.",
        corrected_value="3.4",
    )
    evaluation = Evaluation.objects.get(pk=world.evaluation.pk)
    assert evaluation.score == Decimal("3.4")
    assert evaluation.status == Evaluation.Status.RELEASED  # hold released
    scores = [h.score for h in evaluation.history.order_by("history_date")]
    assert Decimal("2.5") in scores and scores[-1] == Decimal("3.4")
    reasons = list(evaluation.history.values_list("history_change_reason", flat=True))
    assert any("correction: appeal" in (r or "") for r in reasons)
    assert list(selectors.evaluations_on_hold()) == []


def test_rejected_appeal_changes_nothing_and_releases_the_hold(world):
    appeal = file_and_assign(world)
    services.decide(
        actor=fresh(world.user("board")),
        appeal=appeal,
        outcome="rejected",
        rationale="Correct as is.",
    )
    evaluation = Evaluation.objects.get(pk=world.evaluation.pk)
    assert evaluation.score == Decimal("2.5")
    assert evaluation.status == Evaluation.Status.RELEASED


def test_withdrawal_releases_the_hold(world):
    appeal = file_and_assign(world, start=False)
    services.withdraw(
        actor=fresh(world.user("employee")), appeal=appeal, reason="resolved"
    )
    world.evaluation.refresh_from_db()
    assert world.evaluation.status == Evaluation.Status.RELEASED
    assert list(selectors.evaluations_on_hold()) == []


def test_reopen_needs_valid_new_evidence_and_puts_the_hold_back(world):
    appeal = file_and_assign(world)
    services.decide(
        actor=fresh(world.user("board")),
        appeal=appeal,
        outcome="rejected",
        rationale="No.",
    )
    employee = fresh(world.user("employee"))
    with pytest.raises(ValidationError):
        services.reopen(actor=employee, appeal=appeal, name="new.pdf", data=b"<html>")
    assert Evidence.objects.filter(appeal=appeal).count() == 1
    services.reopen(
        actor=employee, appeal=appeal, name="new.pdf", data=PDF, note="payslip"
    )
    appeal.refresh_from_db()
    assert appeal.status == "under_review" and appeal.outcome == ""
    assert Evidence.objects.filter(appeal=appeal).count() == 2
    world.evaluation.refresh_from_db()
    assert world.evaluation.status == Evaluation.Status.ON_HOLD


def test_observation_appeal_holds_evaluations_covering_its_period(world):
    file_and_assign(world, target="observation", start=False)
    assert list(selectors.evaluations_on_hold()) == [world.evaluation]


def test_events_carry_no_grounds_or_rationale(world):
    appeal = file_and_assign(world)
    services.decide(
        actor=fresh(world.user("board")),
        appeal=appeal,
        outcome="rejected",
        rationale="SECRET-RATIONALE",
    )
    payloads = " ".join(
        str(e.data) + e.reason
        for e in AuditEvent.objects.filter(object_id=str(appeal.pk))
    )
    assert "SECRET-RATIONALE" not in payloads and "leave" not in payloads


# -- outcomes for the audit pack -----------------------------------------------------------


def test_appeal_outcomes_counts_sla_and_median_scoped_to_the_viewer(world):
    decided = file_and_assign(world, target="observation")
    services.decide(
        actor=fresh(world.user("board")),
        appeal=decided,
        outcome="partly_upheld",
        rationale="part",
    )
    file_and_assign(world, target="evaluation", start=False)
    today = timezone.now().date()
    span = {"date_from": today - datetime.timedelta(days=1), "date_to": today}
    data = selectors.appeal_outcomes(viewer=fresh(world.user("auditor")), **span)
    assert data["total"] == 2
    assert data["by_outcome"] == {
        "upheld": 0,
        "partly_upheld": 1,
        "rejected": 0,
        "pending": 1,
    }
    assert data["sla_by_stage"]["submitted"]["met"] == 2
    assert data["sla_by_stage"]["under_review"] == {"met": 1, "missed": 0, "open": 0}
    assert data["median_days_to_decision"] is not None and data["decided"] == 1
    import json

    json.dumps(data)  # plain JSON-able
    assert (
        selectors.appeal_outcomes(viewer=fresh(world.user("steward")), **span)["total"]
        == 0
    )
    mine = selectors.appeal_outcomes(viewer=fresh(world.user("employee")), **span)
    assert mine["total"] == 2
    assert (
        selectors.appeal_outcomes(viewer=fresh(world.user("board")), **span)["total"]
        == 2
    )
    events  # noqa: B018 - imported for the audit helpers' side effects


# -- the metrics services appeals rely on ---------------------------------------------


@pytest.mark.parametrize(
    ("score", "reason"),
    [("abc", "r"), ("7", "r"), ("-1", "r"), ("NaN", "r"), ("3", " ")],
)
def test_correct_evaluation_refuses_bad_input_and_changes_nothing(world, score, reason):
    from metrics import services as metric_services

    with pytest.raises(ValidationError):
        metric_services.correct_evaluation(
            actor=None, evaluation=world.evaluation, score=score, reason=reason
        )
    assert Evaluation.objects.get(pk=world.evaluation.pk).score == Decimal("2.5")


def test_correct_observation_still_needs_permission_without_an_authorising_decision(
    world,
):
    from metrics import services as metric_services

    with pytest.raises(PermissionDenied):
        metric_services.correct_observation(
            actor=fresh(world.user("board")),
            observation=world.observation,
            value="1",
            reason="no decision",
        )
    world.observation.refresh_from_db()
    assert world.observation.status == Observation.Status.VALID
