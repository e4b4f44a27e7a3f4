"""Rotating peer review (M5.5): constraints, balance, determinism, infeasibility.

Property tests run seeded random loops over random organisations; tiny
organisations are also solved by brute force here to check that the
assignment exists exactly when one exists and that its load spread is optimal.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from metrics.analytics.peer_review import (
    AssignmentInfeasible,
    assign_peer_reviewers,
)

ROOT = Path(__file__).resolve().parents[2]


def random_org(
    rng: random.Random, size: int
) -> tuple[list[str], dict[str, str | None]]:
    """People p0..pN with a random management tree (p0 at the top)."""
    people = [f"p{i}" for i in range(size)]
    managers: dict[str, str | None] = {"p0": None}
    for i in range(1, size):
        managers[people[i]] = people[rng.randrange(i)]
    return people, managers


def check_constraints(
    assignment, people, managers, k, history, window, *, upward=False
):
    recent = (
        {pair for cycle in history[-window:] for pair in cycle} if window else set()
    )
    assert len(set(assignment.pairs)) == len(assignment.pairs)
    for reviewer, reviewee in assignment.pairs:
        assert reviewer != reviewee
        assert managers.get(reviewee) != reviewer
        if not upward:
            assert managers.get(reviewer) != reviewee
        assert (reviewer, reviewee) not in recent
    for person in people:
        assert len(set(assignment.reviewers_of(person))) == k
    loads = dict.fromkeys(people, 0)
    for reviewer, _ in assignment.pairs:
        loads[reviewer] += 1
    assert loads == dict(assignment.reviews_given)
    assert assignment.spread == max(loads.values()) - min(loads.values())


def brute_force_min_spread(people, managers, k, blocked):
    """Smallest load spread over all valid assignments, or None if none exists."""
    options = []
    for reviewee in people:
        eligible = [
            r
            for r in people
            if r != reviewee
            and managers.get(reviewee) != r
            and managers.get(r) != reviewee
            and (r, reviewee) not in blocked
        ]
        options.append(list(itertools.combinations(eligible, k)))
    best = None
    for choice in itertools.product(*options):
        loads = dict.fromkeys(people, 0)
        for reviewers in choice:
            for reviewer in reviewers:
                loads[reviewer] += 1
        spread = max(loads.values()) - min(loads.values())
        best = spread if best is None else min(best, spread)
        if best == 0:
            break
    return best


def test_matches_brute_force_on_tiny_orgs():
    rng = random.Random(2024)
    outcomes = {"balanced": 0, "unbalanced": 0, "infeasible": 0}
    for _ in range(160):
        people, managers = random_org(rng, rng.randint(3, 5))
        k = rng.randint(1, 2)
        blocked = {
            (a, b) for a in people for b in people if a != b and rng.random() < 0.3
        }
        expected = brute_force_min_spread(people, managers, k, blocked)
        history = [sorted(blocked)]
        if expected is None:
            with pytest.raises(AssignmentInfeasible):
                assign_peer_reviewers(
                    people,
                    managers,
                    reviewers_per_person=k,
                    previous_cycles=history,
                    no_repeat_cycles=1,
                    seed=rng.random(),
                )
            outcomes["infeasible"] += 1
            continue
        assignment = assign_peer_reviewers(
            people,
            managers,
            reviewers_per_person=k,
            previous_cycles=history,
            no_repeat_cycles=1,
            seed=rng.random(),
        )
        check_constraints(assignment, people, managers, k, history, 1)
        assert assignment.spread == expected
        outcomes["balanced" if expected <= 1 else "unbalanced"] += 1
    # The loop really exercised every branch, including "balance not feasible".
    assert all(outcomes.values()), outcomes


def eligible_counts(people, managers, blocked):
    return {
        e: sum(
            r != e
            and managers.get(e) != r
            and managers.get(r) != e
            and (r, e) not in blocked
            for r in people
        )
        for e in people
    }


def test_rotation_over_cycles_on_random_orgs():
    rng = random.Random(77)
    completed = refused = 0
    for _ in range(30):
        people, managers = random_org(rng, rng.randint(8, 40))
        k = rng.randint(1, 3)
        window = rng.randint(0, 2)
        history: list[tuple[tuple[str, str], ...]] = []
        for cycle in range(4):
            try:
                assignment = assign_peer_reviewers(
                    people,
                    managers,
                    reviewers_per_person=k,
                    previous_cycles=history,
                    no_repeat_cycles=window,
                    seed=f"cycle-{cycle}",
                )
            except AssignmentInfeasible:
                # Only acceptable when someone truly lacks k eligible reviewers.
                recent = {p for c in history[-window:] for p in c} if window else set()
                counts = eligible_counts(people, managers, recent)
                assert min(counts.values()) < k
                refused += 1
                break
            check_constraints(assignment, people, managers, k, history, window)
            assert assignment.spread <= 1
            history.append(assignment.pairs)
            completed += 1
    assert completed > 60 and refused > 0, (completed, refused)


def test_large_org_is_balanced_and_quick():
    rng = random.Random(5)
    people, managers = random_org(rng, 600)
    history: list[tuple[tuple[str, str], ...]] = []
    for cycle in range(3):
        assignment = assign_peer_reviewers(
            people,
            managers,
            reviewers_per_person=3,
            previous_cycles=history,
            no_repeat_cycles=3,
            seed=cycle,
        )
        check_constraints(assignment, people, managers, 3, history, 3)
        assert assignment.spread == 0
        history.append(assignment.pairs)


def test_same_seed_same_assignment_other_seeds_rotate():
    people, managers = random_org(random.Random(1), 15)
    runs = [
        assign_peer_reviewers(people, managers, reviewers_per_person=2, seed=s).pairs
        for s in (1, 1, 2, 3, 4)
    ]
    assert runs[0] == runs[1]
    assert len(set(runs[1:])) > 1
    shuffled = list(reversed(people))
    assert (
        assign_peer_reviewers(shuffled, managers, reviewers_per_person=2, seed=1).pairs
        == runs[0]
    )


def test_deterministic_across_processes_with_different_hash_seeds():
    code = (
        "from metrics.analytics.peer_review import assign_peer_reviewers as a;"
        "p=[f'p{i}' for i in range(12)];"
        "m={x: 'p0' for x in p[1:6]};"
        "print(a(p, m, reviewers_per_person=2, seed='s').pairs)"
    )
    outputs = set()
    for hash_seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_manager_and_self_are_never_reviewers():
    # A manager with two reports: neither report may review the manager and
    # the manager may not review them, so with k=1 the reports review each other.
    people = ["boss", "a", "b"]
    managers = {"a": "boss", "b": "boss"}
    with pytest.raises(AssignmentInfeasible, match="boss"):
        assign_peer_reviewers(people, managers, reviewers_per_person=1)
    allowed = assign_peer_reviewers(
        people, managers, reviewers_per_person=1, allow_reviewing_own_manager=True
    )
    assert set(allowed.reviewers_of("boss")) <= {"a", "b"}
    assert allowed.reviewers_of("a") == ("b",)
    assert allowed.reviewers_of("b") == ("a",)


def test_no_repeat_window_is_enforced_and_expires():
    people = ["a", "b", "c", "d"]
    first = assign_peer_reviewers(people, {}, reviewers_per_person=1, seed=0)
    history = [first.pairs]
    for cycle in range(1, 3):
        nxt = assign_peer_reviewers(
            people,
            {},
            reviewers_per_person=1,
            previous_cycles=history,
            no_repeat_cycles=3,
            seed=cycle,
        )
        assert not set(nxt.pairs) & {p for c in history for p in c}
        history.append(nxt.pairs)
    # Three cycles used all 12 ordered pairs: a fourth within the window fails.
    with pytest.raises(AssignmentInfeasible):
        assign_peer_reviewers(
            people,
            {},
            reviewers_per_person=1,
            previous_cycles=history,
            no_repeat_cycles=3,
        )
    # Once the oldest cycle leaves the window its pairs are usable again.
    again = assign_peer_reviewers(
        people,
        {},
        reviewers_per_person=1,
        previous_cycles=history,
        no_repeat_cycles=2,
    )
    assert set(again.pairs) <= set(history[0])


def test_symmetric_pairs_block_the_reverse_direction():
    people = ["a", "b", "c"]
    history = [[("a", "b"), ("b", "c"), ("c", "a")]]
    plain = assign_peer_reviewers(
        people, {}, reviewers_per_person=1, previous_cycles=history, no_repeat_cycles=1
    )
    assert set(plain.pairs) == {("b", "a"), ("c", "b"), ("a", "c")}
    with pytest.raises(AssignmentInfeasible):
        assign_peer_reviewers(
            people,
            {},
            reviewers_per_person=1,
            previous_cycles=history,
            no_repeat_cycles=1,
            symmetric_pairs=True,
        )


def test_reviewer_pool_balances_uneven_loads_within_one():
    people = [f"p{i}" for i in range(7)]
    pool = people[:3]
    assignment = assign_peer_reviewers(
        people, {}, reviewers_per_person=1, reviewer_pool=pool, seed=3
    )
    assert sorted(assignment.reviews_given.values()) == [2, 2, 3]
    for person in people:
        assert len(assignment.reviewers_of(person)) == 1
        assert person not in assignment.reviewers_of(person)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reviewers_per_person": 3}, "fewer eligible"),
        ({"reviewers_per_person": -1}, "non-negative"),
        ({"reviewers_per_person": 1, "no_repeat_cycles": -1}, "non-negative"),
        ({"reviewers_per_person": 1, "reviewer_pool": []}, "fewer eligible"),
    ],
)
def test_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        assign_peer_reviewers(["a", "b", "c"], {}, **kwargs)


def test_duplicate_people_rejected_and_empty_cycle_allowed():
    with pytest.raises(ValueError, match="repeat"):
        assign_peer_reviewers(["a", "a"], {}, reviewers_per_person=1)
    empty = assign_peer_reviewers([], {}, reviewers_per_person=2)
    assert empty.pairs == ()
    assert assign_peer_reviewers(["a", "b"], {}, reviewers_per_person=0).pairs == ()
