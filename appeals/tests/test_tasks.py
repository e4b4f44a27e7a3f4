"""The SLA job at the deadline boundaries: a reminder from REMIND_DAYS_BEFORE
days before a stage's deadline (once), escalation to the review board or an
overdue flag at the deadline itself (once)."""

from __future__ import annotations

import datetime

import pytest

from appeals import tasks
from appeals.models import Appeal
from appeals.testing import file_and_assign
from appeals.workflow import REMIND_DAYS_BEFORE, SLA_DAYS, State
from governance import schedules
from governance.models import AuditEvent

pytestmark = pytest.mark.django_db

SECOND = datetime.timedelta(seconds=1)
REMIND = datetime.timedelta(days=REMIND_DAYS_BEFORE)


def _events(appeal, action):
    return AuditEvent.objects.filter(
        action=f"appeal.{action}", object_id=str(appeal.pk)
    ).count()


def test_job_is_registered():
    assert schedules.registered()["appeals.sla_sweep"].func == "appeals.tasks.sla_sweep"


def test_under_review_reminder_then_escalation_at_the_boundaries(world):
    appeal = file_and_assign(world)
    deadline = appeal.stage_deadline
    assert deadline - appeal.stage_started_at == datetime.timedelta(
        days=SLA_DAYS[State.UNDER_REVIEW]
    )

    assert tasks.sla_sweep(deadline - REMIND - SECOND) == {
        "reminded": 0,
        "escalated": 0,
        "flagged": 0,
    }
    assert tasks.sla_sweep(deadline - REMIND) == {
        "reminded": 1,
        "escalated": 0,
        "flagged": 0,
    }
    assert tasks.sla_sweep(deadline - SECOND) == {
        "reminded": 0,
        "escalated": 0,
        "flagged": 0,
    }
    assert _events(appeal, "sla_reminder") == 1
    appeal.refresh_from_db()
    assert appeal.status == State.UNDER_REVIEW

    assert tasks.sla_sweep(deadline) == {"reminded": 0, "escalated": 1, "flagged": 0}
    appeal.refresh_from_db()
    assert appeal.status == State.ESCALATED
    assert (
        appeal.stages.get(stage="under_review").met is True
    )  # left exactly at the deadline
    assert _events(appeal, "escalate") == 1
    # A new stage, a new deadline; running again changes nothing.
    assert tasks.sla_sweep(deadline) == {"reminded": 0, "escalated": 0, "flagged": 0}


def test_missed_triage_is_flagged_once_not_escalated(world):
    appeal = file_and_assign(world, start=False)
    Appeal.objects.filter(pk=appeal.pk).update(status=State.SUBMITTED)
    deadline = appeal.stage_deadline
    assert tasks.sla_sweep(deadline - SECOND)["flagged"] == 0
    assert tasks.sla_sweep(deadline + SECOND)["flagged"] == 1
    assert tasks.sla_sweep(deadline + 2 * SECOND)["flagged"] == 0
    appeal.refresh_from_db()
    assert appeal.status == State.SUBMITTED and appeal.overdue_at is not None
    assert _events(appeal, "sla_missed") == 1


def test_escalated_past_its_deadline_is_flagged(world):
    appeal = file_and_assign(world)
    tasks.sla_sweep(appeal.stage_deadline)  # escalates
    appeal.refresh_from_db()
    assert appeal.status == State.ESCALATED
    assert appeal.stage_deadline - appeal.stage_started_at == datetime.timedelta(
        days=SLA_DAYS[State.ESCALATED]
    )
    assert tasks.sla_sweep(appeal.stage_deadline)["flagged"] == 1


@pytest.mark.parametrize("state", [State.WITHDRAWN, State.CLOSED])
def test_final_states_are_left_alone(world, state):
    appeal = file_and_assign(world)
    Appeal.objects.filter(pk=appeal.pk).update(status=state)
    far = appeal.stage_deadline + datetime.timedelta(days=365)
    assert tasks.sla_sweep(far) == {"reminded": 0, "escalated": 0, "flagged": 0}


def test_reminder_mails_the_reviewer_and_escalation_mails_hr_without_personal_data(
    world, django_capture_on_commit_callbacks, mailoutbox
):
    appeal = file_and_assign(world)
    deadline = appeal.stage_deadline
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sla_sweep(deadline - REMIND)
    assert [m.to for m in mailoutbox] == [[world.user("board").email]]
    assert (
        appeal.reference in mailoutbox[0].subject and "due by" in mailoutbox[0].subject
    )
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sla_sweep(deadline)
    recipients = sorted(m.to[0] for m in mailoutbox)
    assert recipients == sorted(
        world.user(k).email for k in ("hr", "compliance", "admin")
    )
    for message in mailoutbox:
        assert "review board" in message.subject
        assert "leave" not in message.body and "Ann Member" not in message.body


def test_decision_mails_the_appellant(
    world, django_capture_on_commit_callbacks, mailoutbox
):
    from appeals import services
    from appeals.testing import fresh

    appeal = file_and_assign(world)
    with django_capture_on_commit_callbacks(execute=True):
        services.decide(
            actor=fresh(world.user("board")),
            appeal=appeal,
            outcome="rejected",
            rationale="SECRET",
        )
    assert [m.to for m in mailoutbox] == [[world.user("employee").email]]
    assert "SECRET" not in mailoutbox[0].body
    assert f"/me/appeals/{appeal.pk}/" in mailoutbox[0].body
