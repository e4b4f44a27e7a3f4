"""Rotating peer-review assignment on org data (metrics.peer_reviews, M5.5)."""

from __future__ import annotations

import datetime
from collections import Counter

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from governance.models import AuditEvent, Person
from governance.services import save_governed
from governance.testing import make_person
from metrics import peer_reviews
from metrics.models import PeerReviewAssignment, PeerReviewCycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales(org):
    """Sales: manager_a with three reports (member_a, member_a1 and one more),
    the steward and three colleagues without a manager in the portal."""
    make_person(org.sales, org.us, teams=[org.team_a], manager=org.people["manager_a"])
    for _ in range(3):
        make_person(org.sales, org.us)
    return org


def _cycle(org, name, month, k=1):
    return save_governed(
        PeerReviewCycle(
            name=name,
            department=org.sales,
            reviewers_per_person=k,
            starts_on=datetime.date(2026, month, 1),
        ),
        actor=None,
        reason="test",
    )


def _pairs(cycle):
    return set(
        PeerReviewAssignment.objects.filter(cycle=cycle).values_list(
            "reviewer_id", "reviewee_id"
        )
    )


def test_every_active_person_gets_k_reviewers_none_self_none_manager(sales):
    org = sales
    cycle = _cycle(org, "2026-H1", 1, k=2)
    peer_reviews.generate_assignments(actor=org.users["hr"], cycle=cycle)
    people = dict(
        Person.objects.filter(department=org.sales).values_list("pk", "manager_id")
    )
    pairs = _pairs(cycle)
    received = Counter(e for _, e in pairs)
    assert set(received) == set(people) and set(received.values()) == {2}
    for reviewer, reviewee in pairs:
        assert reviewer != reviewee
        assert people[reviewee] != reviewer, "reviewed by their direct manager"
        assert people[reviewer] != reviewee, "reviews their own manager"
    manager = org.people["manager_a"].pk
    assert not {e for r, e in pairs if r == manager} & {
        pk for pk, m in people.items() if m == manager
    }
    cycle.refresh_from_db()
    assert cycle.status == "assigned" and cycle.no_repeat_cycles == 2


def test_load_is_balanced(sales):
    cycle = _cycle(sales, "2026-H1", 1, k=2)
    peer_reviews.generate_assignments(actor=sales.users["hr"], cycle=cycle)
    given = Counter(r for r, _ in _pairs(cycle))
    people = Person.objects.filter(department=sales.sales).count()
    loads = [
        given.get(pk, 0)
        for pk in Person.objects.filter(department=sales.sales).values_list(
            "pk", flat=True
        )
    ]
    assert sum(loads) == 2 * people
    assert max(loads) - min(loads) <= 1


def test_no_repeat_pair_within_n_cycles(sales, settings):
    settings.PEER_REVIEW_NO_REPEAT_CYCLES = 2
    cycles = [_cycle(sales, f"2026-Q{i}", 3 * i - 2) for i in (1, 2, 3)]
    for cycle in cycles:
        peer_reviews.generate_assignments(actor=sales.users["hr"], cycle=cycle)
    first, second, third = (_pairs(c) for c in cycles)
    assert not third & first and not third & second and not second & first
    # With N = 1 only the last cycle is off limits: the fourth cycle may reuse
    # the first cycle's pairs but never the third's.
    settings.PEER_REVIEW_NO_REPEAT_CYCLES = 1
    fourth = _cycle(sales, "2026-Q4", 10)
    peer_reviews.generate_assignments(actor=sales.users["hr"], cycle=fourth)
    assert not _pairs(fourth) & third
    assert PeerReviewCycle.objects.get(pk=fourth.pk).no_repeat_cycles == 1


def test_infeasible_cycle_is_refused_and_nothing_stored(sales):
    cycle = _cycle(sales, "2026-H1", 1, k=7)
    with pytest.raises(ValidationError, match="No valid assignment"):
        peer_reviews.generate_assignments(actor=sales.users["hr"], cycle=cycle)
    assert not PeerReviewAssignment.objects.exists()
    assert PeerReviewCycle.objects.get(pk=cycle.pk).status == "draft"


def test_only_hr_generates_and_only_once(sales):
    cycle = _cycle(sales, "2026-H1", 1)
    for key in ("manager", "compliance", "auditor", "employee", "steward"):
        with pytest.raises(PermissionDenied):
            peer_reviews.generate_assignments(actor=sales.users[key], cycle=cycle)
    peer_reviews.generate_assignments(actor=sales.users["hr"], cycle=cycle)
    with pytest.raises(ValidationError, match="already generated"):
        peer_reviews.generate_assignments(actor=sales.users["hr"], cycle=cycle)
    event = AuditEvent.objects.get(action="peer_review.assigned")
    assert (
        event.data["assignments"]
        == Person.objects.filter(department=sales.sales).count()
    )


def test_people_who_left_are_not_assigned(sales):
    leaver = (
        Person.objects.filter(department=sales.sales, manager__isnull=True)
        .exclude(
            pk__in=[sales.people["manager_a"].pk, sales.people["steward_sales"].pk]
        )
        .first()
    )
    leaver.status = Person.Status.LEFT
    save_governed(leaver, actor=None, reason="left")
    cycle = _cycle(sales, "2026-H1", 1)
    peer_reviews.generate_assignments(actor=sales.users["hr"], cycle=cycle)
    assert leaver.pk not in {p for pair in _pairs(cycle) for p in pair}


def test_visibility_of_assignments(sales):
    cycle = _cycle(sales, "2026-H1", 1)
    peer_reviews.generate_assignments(actor=sales.users["hr"], cycle=cycle)
    everything = set(PeerReviewAssignment.objects.values_list("pk", flat=True))
    hr = set(
        PeerReviewAssignment.objects.visible_to(sales.users["hr"]).values_list(
            "pk", flat=True
        )
    )
    assert hr == everything
    member = sales.people["member_a"]
    own = set(
        PeerReviewAssignment.objects.visible_to(sales.users["employee"]).values_list(
            "reviewer_id", "reviewee_id"
        )
    )
    assert own == set()  # employees hold no permission on assignments (admin only)
    manager_b = PeerReviewCycle.objects.visible_to(sales.users["manager"])
    assert list(manager_b) == [cycle]  # manager_a's own department
    assert member.pk in {
        p
        for pair in PeerReviewAssignment.objects.visible_to(
            sales.users["manager"]
        ).values_list("reviewer_id", "reviewee_id")
        for p in pair
    }
