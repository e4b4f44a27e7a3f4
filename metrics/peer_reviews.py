"""Rotating peer-review assignment (SPEC M5.5).

:func:`generate_assignments` assigns reviewers for one draft
:class:`~metrics.models.PeerReviewCycle` with
:func:`metrics.analytics.peer_review.assign_peer_reviewers` over the active
people of the cycle's department:

* nobody reviews themselves;
* nobody is reviewed by their direct manager (nor reviews their own manager);
* no (reviewer, reviewee) pair of the department's last
  ``settings.PEER_REVIEW_NO_REPEAT_CYCLES`` (default 2) assigned cycles repeats;
* the load is balanced (reviews given differ by at most one whenever the
  constraints allow it).

The seed is the cycle's department and name, so regenerating the same cycle on
the same data gives the same pairs. An infeasible cycle is refused with the
solver's reason and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from governance import permissions
from governance.audit import events
from governance.models import Person
from governance.services import save_governed
from metrics.analytics.peer_review import AssignmentInfeasible, assign_peer_reviewers
from metrics.models import PeerReviewAssignment, PeerReviewCycle

__all__ = ["generate_assignments", "no_repeat_cycles"]


def no_repeat_cycles() -> int:
    value = int(getattr(settings, "PEER_REVIEW_NO_REPEAT_CYCLES", 2))
    if value < 0:
        raise ValueError("PEER_REVIEW_NO_REPEAT_CYCLES must be non-negative")
    return value


def _previous_pairs(cycle: PeerReviewCycle) -> list[list[tuple[Any, Any]]]:
    """Pairs of the department's earlier assigned cycles, oldest first."""
    earlier = (
        PeerReviewCycle.objects.filter(
            department_id=cycle.department_id,
            status=PeerReviewCycle.Status.ASSIGNED,
            starts_on__lte=cycle.starts_on,
        )
        .exclude(pk=cycle.pk)
        .order_by("starts_on", "pk")
    )
    pairs: dict[int, list[tuple[Any, Any]]] = {c.pk: [] for c in earlier}
    for cycle_id, reviewer, reviewee in PeerReviewAssignment.objects.filter(
        cycle_id__in=list(pairs)
    ).values_list("cycle_id", "reviewer_id", "reviewee_id"):
        pairs[cycle_id].append((reviewer, reviewee))
    return list(pairs.values())


@transaction.atomic
def generate_assignments(
    *, actor: Any, cycle: PeerReviewCycle, reason: str = "assignments generated"
) -> list[PeerReviewAssignment]:
    """Assign reviewers for a draft cycle and freeze it."""
    cycle = PeerReviewCycle.objects.select_for_update().get(pk=cycle.pk)
    if actor is not None and not permissions.can(actor, "change", cycle):
        raise PermissionDenied("You may not generate assignments for this cycle.")
    if cycle.status != PeerReviewCycle.Status.DRAFT:
        raise ValidationError("Assignments for this cycle were already generated.")
    people = list(
        Person.objects.filter(
            department_id=cycle.department_id, status=Person.Status.ACTIVE
        ).values_list("pk", "manager_id")
    )
    if len(people) < 2:
        raise ValidationError(
            "The department has fewer than two active people: nobody to pair."
        )
    managers = dict(people)
    n = no_repeat_cycles()
    try:
        result = assign_peer_reviewers(
            [pk for pk, _ in people],
            managers,
            reviewers_per_person=cycle.reviewers_per_person,
            previous_cycles=_previous_pairs(cycle),
            no_repeat_cycles=n,
            seed=f"{cycle.department_id}:{cycle.name}",
        )
    except AssignmentInfeasible as exc:
        raise ValidationError(f"No valid assignment for this cycle: {exc}") from exc
    created = [
        save_governed(
            PeerReviewAssignment(cycle=cycle, reviewer_id=r, reviewee_id=e),
            actor=actor,
            reason=reason,
        )
        for r, e in result.pairs
    ]
    cycle.status = PeerReviewCycle.Status.ASSIGNED
    cycle.no_repeat_cycles = n
    cycle.generated_at = timezone.now()
    save_governed(cycle, actor=actor, reason=reason)
    events.record(
        "peer_review.assigned",
        actor=actor,
        target=cycle,
        reason=reason,
        data={
            "people": len(people),
            "assignments": len(created),
            "load_spread": result.spread,
            "no_repeat_cycles": n,
        },
    )
    return created  # type: ignore[return-value]
