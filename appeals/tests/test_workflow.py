"""The transition table, walked whole: every action from every state, first
as pure data, then through the services (refused = nothing changes)."""

from __future__ import annotations

import pytest

from appeals import services, workflow
from appeals.models import Appeal, StageRecord
from appeals.testing import PDF, file_and_assign, fresh
from appeals.workflow import Action, State

ALLOWED = {
    (Action.TRIAGE, State.SUBMITTED): State.TRIAGED,
    (Action.START_REVIEW, State.TRIAGED): State.UNDER_REVIEW,
    (Action.ESCALATE, State.TRIAGED): State.ESCALATED,
    (Action.ESCALATE, State.UNDER_REVIEW): State.ESCALATED,
    (Action.DECIDE, State.UNDER_REVIEW): State.DECIDED,
    (Action.DECIDE, State.ESCALATED): State.DECIDED,
    (Action.CLOSE, State.DECIDED): State.CLOSED,
    (Action.WITHDRAW, State.SUBMITTED): State.WITHDRAWN,
    (Action.WITHDRAW, State.TRIAGED): State.WITHDRAWN,
    (Action.WITHDRAW, State.UNDER_REVIEW): State.WITHDRAWN,
    (Action.WITHDRAW, State.ESCALATED): State.WITHDRAWN,
    (Action.REOPEN, State.DECIDED): State.UNDER_REVIEW,
    (Action.REOPEN, State.CLOSED): State.UNDER_REVIEW,
}
PAIRS = [(a, s) for a in Action for s in State]


@pytest.mark.parametrize(
    ("action", "state"), PAIRS, ids=[f"{a}-from-{s}" for a, s in PAIRS]
)
def test_table(action, state):
    if (action, state) in ALLOWED:
        assert workflow.target(action, state) == ALLOWED[(action, state)]
    else:
        with pytest.raises(workflow.IllegalTransition):
            workflow.target(action, state)


def test_final_states_lead_nowhere_but_reopen():
    for state in (State.WITHDRAWN,):
        assert not [a for a in Action if (a, state) in ALLOWED]


def _call(action: Action, appeal: Appeal, world) -> None:
    hr, board, employee = (fresh(world.user(k)) for k in ("hr", "board", "employee"))
    match action:
        case Action.TRIAGE:
            services.triage(actor=hr, appeal=appeal)
        case Action.START_REVIEW:
            services.start_review(actor=hr, appeal=appeal)
        case Action.ESCALATE:
            services.escalate(actor=hr, appeal=appeal, reason="complex case")
        case Action.DECIDE:
            services.decide(
                actor=board, appeal=appeal, outcome="rejected", rationale="ok"
            )
        case Action.CLOSE:
            services.close(actor=hr, appeal=appeal)
        case Action.WITHDRAW:
            services.withdraw(actor=employee, appeal=appeal)
        case Action.REOPEN:
            services.reopen(actor=employee, appeal=appeal, name="new.pdf", data=PDF)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "state"), PAIRS, ids=[f"{a}-from-{s}" for a, s in PAIRS]
)
def test_services_follow_the_table(world, action, state):
    appeal = file_and_assign(world, start=False)
    decided = (
        {"outcome": "rejected", "decided_at": appeal.filed_at}
        if state in (State.DECIDED, State.CLOSED)
        else {}
    )
    Appeal.objects.filter(pk=appeal.pk).update(status=state, **decided)
    appeal.refresh_from_db()
    stages = StageRecord.objects.filter(appeal=appeal).count()
    if (action, state) in ALLOWED:
        _call(action, appeal, world)
        appeal.refresh_from_db()
        assert appeal.status == ALLOWED[(action, state)]
        assert StageRecord.objects.filter(appeal=appeal).count() == stages + 1
    else:
        with pytest.raises(services.TransitionRefused, match="not allowed"):
            _call(action, appeal, world)
        appeal.refresh_from_db()
        assert appeal.status == state
        assert StageRecord.objects.filter(appeal=appeal).count() == stages
