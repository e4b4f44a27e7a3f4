"""The appeal workflow as an explicit transition table (no Django imports).

Every state change of an appeal is one *action* in :data:`TRANSITIONS`:
the states it may start from and the state it leads to. Services look the
action up with :func:`target`; anything not in the table is refused. Tests
walk the whole table (every action from every state).
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    SUBMITTED = "submitted"
    TRIAGED = "triaged"
    UNDER_REVIEW = "under_review"
    ESCALATED = "escalated"  # with the review board
    DECIDED = "decided"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    TRIAGE = "triage"
    START_REVIEW = "start_review"
    ESCALATE = "escalate"
    DECIDE = "decide"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    REOPEN = "reopen"


S = State
#: action -> (states it may start from, state it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[State], State]] = {
    Action.TRIAGE: (frozenset({S.SUBMITTED}), S.TRIAGED),
    Action.START_REVIEW: (frozenset({S.TRIAGED}), S.UNDER_REVIEW),
    Action.ESCALATE: (frozenset({S.TRIAGED, S.UNDER_REVIEW}), S.ESCALATED),
    Action.DECIDE: (frozenset({S.UNDER_REVIEW, S.ESCALATED}), S.DECIDED),
    Action.CLOSE: (frozenset({S.DECIDED}), S.CLOSED),
    Action.WITHDRAW: (
        frozenset({S.SUBMITTED, S.TRIAGED, S.UNDER_REVIEW, S.ESCALATED}),
        S.WITHDRAWN,
    ),
    # New evidence after a decision: back under review by the same reviewer.
    Action.REOPEN: (frozenset({S.DECIDED, S.CLOSED}), S.UNDER_REVIEW),
}

#: States in which the disputed evaluation is on hold.
OPEN_STATES = frozenset({S.SUBMITTED, S.TRIAGED, S.UNDER_REVIEW, S.ESCALATED})
FINAL_STATES = frozenset({S.CLOSED, S.WITHDRAWN})

#: Working days are not modelled: SLA per stage in calendar days.
SLA_DAYS: dict[State, int] = {
    S.SUBMITTED: 5,  # triage
    S.TRIAGED: 5,  # reviewer starts
    S.UNDER_REVIEW: 20,  # decision
    S.ESCALATED: 15,  # board decision
    S.DECIDED: 10,  # close (letter acknowledged / correction applied)
}
#: A reminder goes out this many days before a stage's deadline.
REMIND_DAYS_BEFORE = 2


class IllegalTransition(Exception):
    """The action is not allowed from the appeal's current state."""

    def __init__(self, action: str, state: str) -> None:
        self.action, self.state = action, state
        super().__init__(f"An appeal that is {state} can't be {action}: not allowed.")


def target(action: Action | str, state: State | str) -> State:
    """The state ``action`` leads to from ``state``, or IllegalTransition."""
    try:
        sources, to = TRANSITIONS[Action(action)]
    except ValueError as exc:
        raise IllegalTransition(str(action), str(state)) from exc
    if State(state) not in sources:
        raise IllegalTransition(str(action), str(state))
    return to
