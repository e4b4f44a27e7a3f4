"""Demo appeals (``manage.py seed_demo`` step ``appeals``, order 300).

Two appeals by the demo ``employee_us`` (or ``employee``) account:

* one against their latest evaluation, under review by the ``board`` account
  (the evaluation is on hold), with a small PDF as evidence;
* one against one of their values, decided (partly upheld, no correction
  here: it is made at the source) and closed, so the decision page and letter can be opened.
"""

from __future__ import annotations

from typing import Any

from appeals import services
from governance.demo import DemoContext
from metrics.models import Evaluation, Observation

SAMPLE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def seed_appeals(ctx: DemoContext) -> None:
    users = ctx.users
    hr, board = users.get("hr"), users.get("board")
    appellant_user = next(
        (users[name] for name in ("employee_us", "employee") if name in users), None
    )
    if appellant_user is None or hr is None or board is None:
        return
    person: Any = getattr(appellant_user, "person", None)
    if person is None:
        return
    evaluation = (
        Evaluation.objects.filter(person=person).order_by("-period_start").first()
    )
    if evaluation is not None:
        appeal = services.file_appeal(
            actor=appellant_user,
            evaluation=evaluation,
            grounds="The evaluation counts two months of parental leave as zero output.",
            requested_remedy="Recompute the score over the months I worked.",
            files=[("leave-confirmation.pdf", SAMPLE_PDF)],
        )
        services.triage(actor=hr, appeal=appeal, note="complete")
        services.assign_reviewer(actor=hr, appeal=appeal, reviewer=board)
        services.start_review(actor=hr, appeal=appeal)
        ctx.counts["appeals"] += 1
    observation = (
        Observation.objects.filter(person=person, status=Observation.Status.VALID)
        .order_by("-period_start", "-id")
        .first()
    )
    if observation is not None and observation.value is not None:
        appeal = services.file_appeal(
            actor=appellant_user,
            observation=observation,
            grounds="Two tickets were logged twice by the integration.",
            requested_remedy="Remove the duplicates from the count.",
            files=[
                (
                    "duplicates.txt",
                    b"TICKET-101 logged twice\nTICKET-117 logged twice\n",
                )
            ],
        )
        services.triage(actor=hr, appeal=appeal)
        services.assign_reviewer(actor=hr, appeal=appeal, reviewer=board)
        services.start_review(actor=hr, appeal=appeal)
        services.decide(
            actor=board,
            appeal=appeal,
            outcome="partly_upheld",
            rationale=(
                "One duplicate is confirmed in the source system and is removed "
                "there (the next import supersedes the value); the other ticket "
                "was reopened and counts."
            ),
        )
        services.close(actor=hr, appeal=appeal)
        ctx.counts["appeals"] += 1


def register() -> None:
    from governance import demo

    demo.register(
        "appeals",
        seed_appeals,
        order=300,
        description="two appeals: one under review (evaluation on hold), one decided (partly upheld) and closed",
    )
